package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestPrecedenceDefaultEnvFlag(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse([]string{"--listen", "0.0.0.0:9999"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"KEYMANAGER_LISTEN":           "10.0.0.1:1",
		"KEYMANAGER_HOST_HREF":        "https://kms.example.com",
		"KEYMANAGER_MAX_LIMIT_PAGING": "50",
		"KEYMANAGER_ORDER_WORKERS":    "3",
	}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9999" {
		t.Errorf("a flag should win over the environment, got %q", c.Listen)
	}
	if c.HostHref != "https://kms.example.com" || c.MaxLimit != 50 || c.OrderWorkers != 3 {
		t.Errorf("the environment should win over defaults, got %q %d", c.HostHref, c.MaxLimit)
	}
	if c.DefaultLimit != 10 {
		t.Errorf("untouched settings keep their default, got %d", c.DefaultLimit)
	}
}

func TestApplyEnvNamesTheVariable(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.AddFlags(fs)
	err := ApplyEnv(fs, func(k string) (string, bool) {
		if k == "KEYMANAGER_MAX_SECRET_BYTES" {
			return "lots", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "KEYMANAGER_MAX_SECRET_BYTES") {
		t.Fatalf("a bad environment value should be reported with its variable name, got %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"the defaults are valid":                 {mutate: func(*Config) {}},
		"a listen address without port fails":    {mutate: func(c *Config) { c.Listen = "localhost" }, want: "--listen"},
		"a host href without scheme fails":       {mutate: func(c *Config) { c.HostHref = "kms.example.com" }, want: "--host-href"},
		"an unknown SQLite sync mode fails":      {mutate: func(c *Config) { c.SQLiteSync = "OFF" }, want: "FULL or NORMAL"},
		"negative order workers fail":            {mutate: func(c *Config) { c.OrderWorkers = -1 }, want: "--order-workers"},
		"a default page above the maximum fails": {mutate: func(c *Config) { c.DefaultLimit = 500 }, want: "--default-limit-paging"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("expected an error mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

func TestNoAuthRefusesNonLoopbackListen(t *testing.T) {
	want := "--listen 0.0.0.0:9311 is not a loopback address, and in no-auth mode (--auth noauth, the default) " +
		"the server trusts the X-Project-Id and X-Roles headers and makes a request without X-Roles " +
		"admin: anyone who reaches it can read every secret. Use --auth keystone or --auth token-file, listen on " +
		"127.0.0.1 behind an authenticating proxy, or, on a trusted network only, pass --insecure-noauth-any-address (KEYMANAGER_INSECURE_NOAUTH_ANY_ADDRESS=true)"
	c := Default()
	c.Listen = "0.0.0.0:9311"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	c.InsecureNoAuthAnyAddress = true
	if err := c.Validate(); err != nil {
		t.Fatalf("the explicit flag should allow it: %v", err)
	}
	c.InsecureNoAuthAnyAddress = false
	c.Auth.Mode, c.Auth.TokenFile = AuthTokenFile, "/etc/keymanager/tokens"
	if err := c.Validate(); err != nil {
		t.Fatalf("an authenticating mode may listen anywhere: %v", err)
	}
}

func TestListenIsLoopback(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:9311": true, "127.1.2.3:9311": true, "[::1]:9311": true, "localhost:9311": true,
		"LOCALHOST:1": true, "[fe80::1%lo]:9311": false, "[::1%lo]:9311": true,
		"0.0.0.0:9311": false, ":9311": false, "[::]:9311": false, "10.0.0.5:9311": false,
		"kms.example.com:9311": false, "nonsense": false,
	} {
		c := Config{Listen: listen}
		if got := c.ListenIsLoopback(); got != want {
			t.Errorf("ListenIsLoopback(%q) = %v, want %v", listen, got, want)
		}
	}
}

func TestNoAuthAnyAddressFromEnvironment(t *testing.T) {
	c := Default()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.AddFlags(fs)
	env := map[string]string{"KEYMANAGER_LISTEN": "0.0.0.0:9311", "KEYMANAGER_INSECURE_NOAUTH_ANY_ADDRESS": "true"}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("KEYMANAGER_INSECURE_NOAUTH_ANY_ADDRESS=true should allow 0.0.0.0: %v", err)
	}
}

func TestDBAutoMigrateValues(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  string
		want AutoMigrate
		err  string
	}{
		"the default is auto":            {want: AutoMigrateAuto},
		"the bare flag means true":       {args: []string{"--db-auto-migrate"}, want: AutoMigrateOn},
		"false forces it off":            {args: []string{"--db-auto-migrate=false"}, want: AutoMigrateOff},
		"auto can be given":              {args: []string{"--db-auto-migrate=AUTO"}, want: AutoMigrateAuto},
		"the environment sets it":        {env: "0", want: AutoMigrateOff},
		"the flag wins over environment": {args: []string{"--db-auto-migrate=true"}, env: "false", want: AutoMigrateOn},
		"a wrong value is refused": {args: []string{"--db-auto-migrate=sometimes"},
			err: `invalid argument "sometimes" for "--db-auto-migrate" flag: "sometimes": want auto, true or false`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			c.AddFlags(fs)
			err := fs.Parse(tc.args)
			if err == nil {
				err = ApplyEnv(fs, func(k string) (string, bool) {
					return tc.env, k == "KEYMANAGER_DB_AUTO_MIGRATE" && tc.env != ""
				})
			}
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || c.DBAutoMigrate != tc.want {
				t.Fatalf("got %q (%v), want %q", c.DBAutoMigrate, err, tc.want)
			}
		})
	}
}

func TestResolveKEKs(t *testing.T) {
	const k1, k2 = "dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg=", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	cases := map[string]struct {
		args    []string
		env     map[string]string
		keys    int
		kekFile string
		err     string
	}{
		"KEYMANAGER_KEK gives the keys": {env: map[string]string{"KEYMANAGER_KEK": k1 + "," + k2}, keys: 2},
		"a --kek-file flag wins over KEYMANAGER_KEK": {args: []string{"--kek-file", "/etc/km/kek"},
			env: map[string]string{"KEYMANAGER_KEK": k1}, kekFile: "/etc/km/kek"},
		"KEYMANAGER_KEK_FILE alone names the file": {env: map[string]string{"KEYMANAGER_KEK_FILE": "/k"}, kekFile: "/k"},
		"both variables are refused": {env: map[string]string{"KEYMANAGER_KEK": k1, "KEYMANAGER_KEK_FILE": "/k"},
			err: "both KEYMANAGER_KEK and KEYMANAGER_KEK_FILE are set: set one"},
		"a malformed KEK is refused without its value": {env: map[string]string{"KEYMANAGER_KEK": k1 + ",c2VjcmV0"},
			err: "KEYMANAGER_KEK: malformed simple_crypto KEK: line 1, entry 2 is not the url-safe base64 of 32 bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			c.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := c.Resolve(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || len(c.KEKs) != tc.keys || c.KEKFile != tc.kekFile {
				t.Fatalf("got %d keys, file %q, err %v; want %d keys, file %q", len(c.KEKs), c.KEKFile, err, tc.keys, tc.kekFile)
			}
			if tc.keys > 0 && (c.KEKSource != "KEYMANAGER_KEK" || c.KEKs[0].Encode() != k1) {
				t.Fatalf("the keys should come from KEYMANAGER_KEK in order, source %q", c.KEKSource)
			}
		})
	}
}
