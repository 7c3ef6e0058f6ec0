package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resolve is resolveServe followed by Validate, as serve runs them.
func resolve(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c, err := resolveServe(t, args, env)
	if err != nil {
		return c, err
	}
	err = c.Validate()
	return c, err
}

// TestKeystoneFromBarbicanConf takes [keystone_authtoken] of a deployed barbican.conf: it selects Keystone,
// and the environment and flags still override each of its settings.
func TestKeystoneFromBarbicanConf(t *testing.T) {
	conf := filepath.Join("testdata", "barbican-osp16.conf")
	dir := t.TempDir()
	c, err := resolve(t, []string{"--barbican-conf", conf, "--data-dir", dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Auth.Keystone
	if c.Auth.Mode != AuthKeystone || k.AuthURL != "http://172.17.1.150:5000" ||
		k.WWWAuthenticateURI != "https://overcloud.example.com:13000" || k.Username != "barbican" ||
		k.ProjectName != "service" || k.UserDomainName != "Default" || k.Password != "KeystonePassw0rd" ||
		k.CacheTime != 300*time.Second {
		t.Fatalf("unexpected keystone settings from the file: %+v", c.Auth)
	}
	if s := fmt.Sprintf("%v %#v %+v", k.Password, k.Password, c.Auth); strings.Contains(s, "KeystonePassw0rd") {
		t.Fatalf("the password must not print: %s", s)
	}

	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("FromFile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = resolve(t, []string{"--barbican-conf", conf, "--data-dir", dir, "--keystone-token-cache-time", "1m"},
		map[string]string{"KEYMANAGER_KEYSTONE_USERNAME": "km", "KEYMANAGER_KEYSTONE_PASSWORD_FILE": pw})
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Keystone.Username != "km" || c.Auth.Keystone.Password != "FromFile" || c.Auth.Keystone.CacheTime != time.Minute {
		t.Fatalf("the environment and flags should win over the file: %+v", c.Auth.Keystone)
	}
	ids := filepath.Join(dir, "barbican.conf")
	writeConf := "[database]\nconnection = sqlite:///" + filepath.Join(dir, "db") + "\n[keystone_authtoken]\n" +
		"auth_url = http://keystone:5000/v3\nusername = barbican\npassword = pw\nproject_name = service\n" +
		"user_domain_id = default\nproject_domain_id = default\n"
	if err := os.WriteFile(ids, []byte(writeConf), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = resolve(t, []string{"--barbican-conf", ids, "--data-dir", dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Keystone.UserDomainID != "default" || c.Auth.Keystone.ProjectDomainID != "default" {
		t.Fatalf("the domain ids of the file should be kept: %+v", c.Auth.Keystone)
	}
	c, err = resolve(t, []string{"--barbican-conf", conf, "--data-dir", dir, "--auth", "noauth"},
		map[string]string{"KEYMANAGER_KEYSTONE_PASSWORD": "FromEnv"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Mode != AuthNoAuth || c.Auth.Keystone.Password != "FromEnv" {
		t.Fatalf("--auth noauth should win over the file, the env password over the file's: %+v", c.Auth)
	}
}

func TestAuthValidation(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"keystone needs a URL": {
			args: []string{"--auth", "keystone", "--keystone-username", "u", "--keystone-project-name", "p"},
			env:  map[string]string{EnvKeystonePassword: "x"},
			want: "--auth keystone needs --keystone-auth-url",
		},
		"keystone needs a password": {
			args: []string{"--auth", "keystone", "--keystone-auth-url", "http://k:5000/v3", "--keystone-username", "u", "--keystone-project-name", "p"},
			want: "--auth keystone needs the service user's password",
		},
		"keystone complete": {
			args: []string{"--auth", "keystone", "--keystone-auth-url", "http://k:5000/v3", "--keystone-username", "u", "--keystone-project-name", "p"},
			env:  map[string]string{EnvKeystonePassword: "x"},
		},
		"token-file needs a file": {args: []string{"--auth", "token-file"}, want: "--auth token-file needs --token-file"},
		"unknown mode":            {args: []string{"--auth", "ldap"}, want: `--auth "ldap": want noauth, keystone or token-file`},
		"mode from the environment": {
			env:  map[string]string{"KEYMANAGER_AUTH": "token-file"},
			want: "--auth token-file needs --token-file",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := resolve(t, append(tc.args, "--data-dir", t.TempDir()), tc.env)
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}
