// Package config is the server's configuration: one struct filled from defaults, then KEYMANAGER_* environment
// variables, then command-line flags (the command line wins), validated once.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keymanager-io/keymanager/server/api"

	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

// Config is everything `keymanager serve` needs.
type Config struct {
	Listen        string
	DataDir       string
	DBURL         string
	DBAutoMigrate AutoMigrate
	DBMaxConns    int
	SQLiteSync    string

	// InsecureNoAuthAnyAddress allows a non-loopback --listen address in no-auth mode.
	InsecureNoAuthAnyAddress bool

	// BarbicanConf is --barbican-conf: an existing barbican.conf whose settings come between the defaults and
	// the environment. DBURLFromBarbicanConf says the database URL came from it.
	BarbicanConf          string
	DBURLFromBarbicanConf bool

	HostHref string
	KEKFile  string
	// KEKs are simple_crypto master KEKs given as values (KEYMANAGER_KEK, or [simple_crypto_plugin] kek of
	// --barbican-conf); when set they are used instead of the KEK file. KEKSource names where they came from,
	// for messages. simplecrypto.Key redacts itself.
	KEKs      []simplecrypto.Key
	KEKSource string

	// Read from --barbican-conf: the secret stores, the quotas and [keystone_authtoken] (whose settings also
	// fill Auth.Keystone). KeystoneAuthtoken holds a password and prints without values.
	SecretStores      SecretStores
	Quotas            Quotas
	KeystoneAuthtoken SectionValues

	// Auth is --auth and what it needs.
	Auth Auth

	PolicyFile         string
	EnforceNewDefaults bool
	AdminRole          string

	MaxSecretBytes  int
	MaxRequestBytes int
	DefaultLimit    int
	MaxLimit        int

	// OrderWorkers is how many orders are processed at once; 0 selects orders.DefaultWorkers.
	OrderWorkers int

	HealthcheckDisableFile string
	LogLevel               string
	LogFormat              string
	ShutdownTimeout        time.Duration
}

// AutoMigrate is --db-auto-migrate: whether serve may change the schema of the database it opens.
type AutoMigrate string

// The values of --db-auto-migrate.
const (
	// AutoMigrateAuto upgrades what cannot hold anyone else's data yet (an empty database) or is keymanager's
	// own embedded file (SQLite), and leaves every other schema change to an explicit command.
	AutoMigrateAuto AutoMigrate = "auto"
	AutoMigrateOn   AutoMigrate = "true"
	AutoMigrateOff  AutoMigrate = "false"
)

// String implements pflag.Value.
func (a *AutoMigrate) String() string { return string(*a) }

// Type implements pflag.Value; it is the value name --help shows.
func (a *AutoMigrate) Type() string { return "auto|true|false" }

// Set implements pflag.Value: auto, or anything strconv.ParseBool takes.
func (a *AutoMigrate) Set(v string) error {
	if strings.EqualFold(v, string(AutoMigrateAuto)) {
		*a = AutoMigrateAuto
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q: want auto, true or false", v)
	}
	*a = AutoMigrateOff
	if b {
		*a = AutoMigrateOn
	}
	return nil
}

// Default returns the embedded defaults: SQLite and a generated KEK under the data directory, no-auth,
// 127.0.0.1:9311. The API's limits are its own defaults (the reference's), kept in one place.
func Default() Config {
	limits := api.DefaultConfig()
	return Config{
		Listen:          "127.0.0.1:9311",
		DataDir:         defaultDataDir(),
		DBAutoMigrate:   AutoMigrateAuto,
		SQLiteSync:      "FULL",
		AdminRole:       "admin",
		Auth:            defaultAuth(),
		MaxSecretBytes:  limits.MaxSecretBytes,
		MaxRequestBytes: limits.MaxRequestBytes,
		DefaultLimit:    limits.DefaultLimit,
		MaxLimit:        limits.MaxLimit,
		LogLevel:        "info",
		LogFormat:       "json",
		ShutdownTimeout: 30 * time.Second,
	}
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "keymanager")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "keymanager")
	}
	return "keymanager-data"
}

// AddFlags registers the flags of `keymanager serve` on fs, with c's values as defaults.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to serve the Barbican API on (host:port)")
	fs.BoolVar(&c.InsecureNoAuthAnyAddress, "insecure-noauth-any-address", c.InsecureNoAuthAnyAddress, "allow a --listen address other than loopback although no-auth mode makes every client that reaches it admin (trusted networks only)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the SQLite database and the generated KEK file")
	fs.StringVar(&c.DBURL, "db-url", c.DBURL, "database URL: sqlite:///path/to/file.db or mysql://user:pass@host:3306/barbican (default: SQLite under --data-dir); prefer the environment variable for URLs with passwords")
	fs.VarPF(&c.DBAutoMigrate, "db-auto-migrate", "", "upgrade the database schema on start (what 'keymanager manage db upgrade' does): "+
		"auto upgrades SQLite and empty databases and refuses to start on any other database not at this version's schema, naming the upgrade command; "+
		"true always upgrades; false never does").NoOptDefVal = string(AutoMigrateOn)
	fs.IntVar(&c.DBMaxConns, "db-max-connections", c.DBMaxConns, "database connection pool size (0: automatic)")
	fs.StringVar(&c.SQLiteSync, "sqlite-synchronous", c.SQLiteSync, "SQLite synchronous mode: FULL survives power loss, NORMAL survives process crashes")
	fs.StringVar(&c.BarbicanConf, "barbican-conf", c.BarbicanConf, "an existing Barbican's barbican.conf to take the database URL, KEKs, host_href, size and paging limits from (the environment and flags override it)")
	fs.StringVar(&c.HostHref, "host-href", c.HostHref, "base URL of hrefs in responses, e.g. https://barbican.example.com:9311 (default: derived from each request's Host header)")
	c.AddStoreFlags(fs)
	c.AddQuotaFlags(fs)
	c.AddAuthFlags(fs)
	fs.StringVar(&c.PolicyFile, "policy-file", c.PolicyFile, "policy YAML file overriding Barbican's default rules by name")
	fs.BoolVar(&c.EnforceNewDefaults, "enforce-new-defaults", c.EnforceNewDefaults, "use the secure-RBAC rules (admin/member/reader) instead of Barbican's legacy ones (admin/creator/observer/audit)")
	fs.StringVar(&c.AdminRole, "admin-role", c.AdminRole, "role given to no-auth requests without X-Roles")
	fs.IntVar(&c.MaxSecretBytes, "max-secret-bytes", c.MaxSecretBytes, "largest accepted secret payload (413 above)")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest JSON request body read")
	fs.IntVar(&c.DefaultLimit, "default-limit-paging", c.DefaultLimit, "page size of list requests without ?limit")
	fs.IntVar(&c.MaxLimit, "max-limit-paging", c.MaxLimit, "largest page size of list requests")
	fs.IntVar(&c.OrderWorkers, "order-workers", c.OrderWorkers, "orders generated at once by this server's workers (0: automatic, twice the CPUs, at most 16)")
	fs.StringVar(&c.HealthcheckDisableFile, "healthcheck-disable-file", c.HealthcheckDisableFile, "while this file exists /healthcheck answers 503 (drain a node)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to wait for requests in flight on SIGTERM")
}

// AddStoreFlags adds the flags of the secret stores and their keys, which serve and the manage commands that
// open the stores share.
func (c *Config) AddStoreFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.KEKFile, "kek-file", c.KEKFile, "file with simple_crypto KEKs, one per line, first one active (default: <data-dir>/kek, generated 0600 on first start); KEYMANAGER_KEK may hold the keys instead")
	fs.BoolVar(&c.SecretStores.EnableMultiple, "enable-multiple-secret-stores", c.SecretStores.EnableMultiple,
		"let projects choose among several secret stores (Barbican's [secretstore] enable_multiple_secret_stores): serves /v1/secret-stores")
	fs.Var(secretStoreFlag{&c.SecretStores}, "secret-store", "a secret store, repeatable: name=NAME,plugin=simple_crypto|p11_crypto[,global_default] "+
		"(default: one simple_crypto store); with --enable-multiple-secret-stores exactly one is the global default")
}

// EnvPrefix is the prefix of the environment variable of every flag: --db-url is KEYMANAGER_DB_URL.
const EnvPrefix = "KEYMANAGER_"

// EnvName returns the environment variable of a flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyEnv sets every flag not given on the command line from its environment variable, so the precedence is
// default < environment < flag.
func ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvKEK is the environment variable that holds simple_crypto KEKs themselves (comma or newline separated,
// active first): secrets do not belong on a command line, so it has no flag.
const EnvKEK = EnvPrefix + "KEK"

// Resolve completes the configuration once the command line is parsed into fs, with the precedence
// default < --barbican-conf < environment < flag: the barbican.conf named by --barbican-conf (or
// KEYMANAGER_BARBICAN_CONF) fills what no flag gave, then each flag not given takes its environment variable.
// The KEKs come from, in decreasing precedence: a --kek-file flag, KEYMANAGER_KEK or KEYMANAGER_KEK_FILE (not
// both), [simple_crypto_plugin] kek, the default KEK file. fs may hold only some of serve's flags (the manage
// commands): settings without a flag there are left alone.
func (c *Config) Resolve(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { onCommandLine[f.Name] = true })
	inEnv := func(flag string) bool { v, ok := lookup(EnvName(flag)); return ok && v != "" }

	path := c.BarbicanConf
	if !onCommandLine["barbican-conf"] {
		if v, ok := lookup(EnvName("barbican-conf")); ok {
			path = v
		}
	}
	var conf *BarbicanConf
	if path != "" {
		var err error
		if conf, err = ReadBarbicanConf(path); err != nil {
			return err
		}
		if err := c.applyBarbicanConf(fs, conf); err != nil {
			return err
		}
		// Barbican would fall back to a SQLite file relative to its working directory; starting on an empty
		// database of our own instead of the one being taken over would only hide the mistake.
		if conf.DatabaseURL == "" && fs.Lookup("db-url") != nil && !onCommandLine["db-url"] && !inEnv("db-url") {
			return fmt.Errorf("--barbican-conf %s sets no database ([database] connection or [DEFAULT] "+
				"sql_connection): give the database with --db-url or %s", conf.Path, EnvName("db-url"))
		}
	}
	if err := ApplyEnv(fs, lookup); err != nil {
		return err
	}
	c.DBURLFromBarbicanConf = conf != nil && conf.DatabaseURL != "" && !onCommandLine["db-url"] && !inEnv("db-url")
	if fs.Lookup("keystone-password-file") != nil {
		if err := c.resolveKeystonePassword(lookup); err != nil {
			return err
		}
	}

	if fs.Lookup("kek-file") == nil || onCommandLine["kek-file"] {
		return nil
	}
	text, envKEK := lookup(EnvKEK)
	envKEK = envKEK && strings.TrimSpace(text) != ""
	switch {
	case envKEK && inEnv("kek-file"):
		return fmt.Errorf("both %s and %s are set: set one", EnvKEK, EnvName("kek-file"))
	case envKEK:
		keys, err := simplecrypto.ParseKEKs(text)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvKEK, err)
		}
		c.KEKs, c.KEKSource = keys, EnvKEK
	case inEnv("kek-file"):
	case conf != nil && len(conf.KEKs) > 0:
		c.KEKs, c.KEKSource = conf.KEKs, "[simple_crypto_plugin] kek of "+conf.Path
	}
	return nil
}

// applyBarbicanConf sets, from conf, every flag of fs not given on the command line, through the flag's value
// so that it stays "not changed" and its environment variable still overrides it; and the settings that have
// no flag.
func (c *Config) applyBarbicanConf(fs *pflag.FlagSet, conf *BarbicanConf) error {
	var errs []error
	set := func(flag, value string) {
		if f := fs.Lookup(flag); f != nil && !f.Changed {
			if err := f.Value.Set(value); err != nil {
				errs = append(errs, fmt.Errorf("--barbican-conf %s: the value for --%s: %w", conf.Path, flag, err))
			}
		}
	}
	setInt := func(flag string, v *int) {
		if v != nil {
			set(flag, strconv.Itoa(*v))
		}
	}
	if conf.DatabaseURL != "" {
		set("db-url", conf.DatabaseURL)
	}
	if conf.HostHref != nil {
		set("host-href", *conf.HostHref)
	}
	setInt("max-secret-bytes", conf.MaxSecretBytes)
	setInt("max-request-bytes", conf.MaxRequestBytes)
	setInt("default-limit-paging", conf.DefaultLimit)
	setInt("max-limit-paging", conf.MaxLimit)
	// The stores of the file count unless --secret-store was given; a KEYMANAGER_SECRET_STORE applied after this
	// replaces them (the flag's first Set drops what did not come from it).
	if f := fs.Lookup("secret-store"); f == nil || !f.Changed {
		c.SecretStores.Stores = conf.SecretStores.Stores
	}
	if conf.SecretStores.EnableMultiple {
		set("enable-multiple-secret-stores", "true")
	}
	c.SecretStores.EnabledSecretStorePlugins = conf.SecretStores.EnabledSecretStorePlugins
	c.SecretStores.LookupSuffixes = conf.SecretStores.LookupSuffixes
	c.SecretStores.EnabledCryptoPlugins = conf.SecretStores.EnabledCryptoPlugins
	setInt("quota-secrets", conf.Quotas.Secrets)
	setInt("quota-orders", conf.Quotas.Orders)
	setInt("quota-containers", conf.Quotas.Containers)
	setInt("quota-consumers", conf.Quotas.Consumers)
	setInt("quota-cas", conf.Quotas.CAs)
	c.KeystoneAuthtoken = conf.KeystoneAuthtoken
	if err := c.applyKeystoneAuthtoken(fs, conf.KeystoneAuthtoken, conf.Path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate checks the configuration once, with messages that name the fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:9311", c.Listen))
	} else if c.Auth.Mode == AuthNoAuth && !c.ListenIsLoopback() && !c.InsecureNoAuthAnyAddress {
		errs = append(errs, noAuthExposedError(c.Listen))
	}
	errs = append(errs, c.validateAuth()...)
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	switch strings.ToUpper(c.SQLiteSync) {
	case "FULL", "NORMAL":
	default:
		errs = append(errs, fmt.Errorf("--sqlite-synchronous %q: want FULL or NORMAL", c.SQLiteSync))
	}
	if c.MaxSecretBytes < 1 || c.MaxRequestBytes < 1 {
		errs = append(errs, errors.New("--max-secret-bytes and --max-request-bytes must be positive"))
	}
	if c.DefaultLimit < 1 || c.MaxLimit < c.DefaultLimit {
		errs = append(errs, errors.New("--default-limit-paging must be at least 1 and at most --max-limit-paging"))
	}
	if c.OrderWorkers < 0 {
		errs = append(errs, fmt.Errorf("--order-workers %d: want 0 (automatic) or more", c.OrderWorkers))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want json or text", c.LogFormat))
	}
	if c.HostHref != "" && !strings.HasPrefix(c.HostHref, "http://") && !strings.HasPrefix(c.HostHref, "https://") {
		errs = append(errs, fmt.Errorf("--host-href %q: want an http:// or https:// URL", c.HostHref))
	}
	return errors.Join(errs...)
}

// noAuthExposedError refuses no-auth on an address other hosts can reach.
func noAuthExposedError(listen string) error {
	return fmt.Errorf("--listen %s is not a loopback address, and in no-auth mode (--auth noauth, the default) "+
		"the server trusts the X-Project-Id and X-Roles headers and makes a request without X-Roles "+
		"admin: anyone who reaches it can read every secret. Use --auth keystone or --auth token-file, listen on 127.0.0.1 "+
		"behind an authenticating proxy, or, on a trusted network only, pass --insecure-noauth-any-address (KEYMANAGER_INSECURE_NOAUTH_ANY_ADDRESS=true)",
		listen)
}

// ListenIsLoopback reports whether --listen only accepts connections from this host. An empty host (":9311")
// listens on every interface; a host name other than localhost may resolve to anything, so it counts as
// reachable.
func (c *Config) ListenIsLoopback() bool {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // an IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DatabaseURL is --db-url, or the default SQLite file under the data directory.
func (c *Config) DatabaseURL() string {
	if c.DBURL != "" {
		return c.DBURL
	}
	return "sqlite://" + filepath.Join(absOr(c.DataDir), "keymanager.db")
}

// KEKPath is --kek-file or its default under the data directory.
func (c *Config) KEKPath() string {
	if c.KEKFile != "" {
		return c.KEKFile
	}
	return filepath.Join(c.DataDir, "kek")
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
