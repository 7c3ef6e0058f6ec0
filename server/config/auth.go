package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// The values of --auth.
const (
	AuthNoAuth    = "noauth"
	AuthKeystone  = "keystone"
	AuthTokenFile = "token-file"
)

// Auth is how the server establishes its callers.
type Auth struct {
	// Mode is --auth: noauth, keystone or token-file.
	Mode     string
	Keystone Keystone
	// TokenFile is --token-file, the tokens of --auth token-file.
	TokenFile string
	// Notifications is where Keystone's notifications are consumed from (Barbican's keystone-listener); off
	// without a URL. It works with every --auth mode.
	Notifications Notifications
}

// Notifications is the Keystone notification listener: --keystone-notifications-*.
type Notifications struct {
	// URL is the AMQP URL; it holds a password, so the environment variable is the place for it.
	URL      Secret
	Exchange string
	Topic    string
	Queue    string
}

// Keystone is the Keystone token validation of --auth keystone: keystonemiddleware's [keystone_authtoken].
type Keystone struct {
	AuthURL            string
	WWWAuthenticateURI string
	Username           string
	UserDomainName     string
	ProjectName        string
	ProjectDomainName  string
	// UserDomainID and ProjectDomainID come only from [keystone_authtoken] user_domain_id / project_domain_id
	// (deployments name the default domain either way); when set they replace the domain names.
	UserDomainID    string
	ProjectDomainID string
	// PasswordFile is --keystone-password-file; Password is its content, KEYMANAGER_KEYSTONE_PASSWORD or
	// [keystone_authtoken] password, in that order. Password never prints.
	PasswordFile string
	Password     Secret
	CacheTime    time.Duration
	CacheSize    int
	Timeout      time.Duration
}

// Secret is a credential that prints redacted.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return s.String() }

// ReadSecretFile reads a credential (a PIN, a password) from a file; a trailing newline is the file's, not the
// credential's.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// EnvKeystonePassword is the environment variable holding the Keystone service user's password: a password does
// not belong on a command line, so it has no flag (--keystone-password-file names a file instead).
const EnvKeystonePassword = EnvPrefix + "KEYSTONE_PASSWORD"

// secretValue is a flag value that prints redacted (a URL with a password).
type secretValue Secret

func (s *secretValue) String() string     { return Secret(*s).String() }
func (s *secretValue) Set(v string) error { *s = secretValue(v); return nil }
func (s *secretValue) Type() string       { return "url" }

// defaultAuth is no-auth, with keystonemiddleware's defaults for Keystone.
func defaultAuth() Auth {
	return Auth{Mode: AuthNoAuth, Notifications: Notifications{Exchange: "keystone", Topic: "notifications",
		Queue: "keymanager.keystone.notifications"}, Keystone: Keystone{
		UserDomainName: "Default", ProjectDomainName: "Default",
		CacheTime: 300 * time.Second, CacheSize: 10000, Timeout: 10 * time.Second,
	}}
}

// AddAuthFlags registers the authentication flags.
func (c *Config) AddAuthFlags(fs *pflag.FlagSet) {
	a := &c.Auth
	fs.StringVar(&a.Mode, "auth", a.Mode, "how callers are authenticated: noauth (trust X-Project-Id/X-Roles headers; loopback only), "+
		"keystone (validate X-Auth-Token with Keystone) or token-file (static tokens from --token-file)")
	fs.StringVar(&a.Keystone.AuthURL, "keystone-auth-url", a.Keystone.AuthURL, "Keystone identity URL tokens are validated against, e.g. http://keystone:5000/v3 ([keystone_authtoken] auth_url)")
	fs.StringVar(&a.Keystone.WWWAuthenticateURI, "keystone-www-authenticate-uri", a.Keystone.WWWAuthenticateURI, "Keystone URL named in the WWW-Authenticate header of 401 answers (default: --keystone-auth-url)")
	fs.StringVar(&a.Keystone.Username, "keystone-username", a.Keystone.Username, "service user that validates tokens (it needs Keystone's service or admin role)")
	fs.StringVar(&a.Keystone.UserDomainName, "keystone-user-domain-name", a.Keystone.UserDomainName, "domain of --keystone-username")
	fs.StringVar(&a.Keystone.ProjectName, "keystone-project-name", a.Keystone.ProjectName, "project the service user's token is scoped to")
	fs.StringVar(&a.Keystone.ProjectDomainName, "keystone-project-domain-name", a.Keystone.ProjectDomainName, "domain of --keystone-project-name")
	fs.StringVar(&a.Keystone.PasswordFile, "keystone-password-file", a.Keystone.PasswordFile, "file holding the service user's password (or set "+EnvKeystonePassword+")")
	fs.DurationVar(&a.Keystone.CacheTime, "keystone-token-cache-time", a.Keystone.CacheTime, "how long a validated token is trusted without asking Keystone again (never past its expiry; 0 disables the cache)")
	fs.IntVar(&a.Keystone.CacheSize, "keystone-token-cache-size", a.Keystone.CacheSize, "most tokens held in the validated-token cache")
	fs.DurationVar(&a.Keystone.Timeout, "keystone-timeout", a.Keystone.Timeout, "bound on one call to Keystone; past it the request is answered 503")
	fs.Var((*secretValue)(&a.Notifications.URL), "keystone-notifications-url", "RabbitMQ URL (amqp://user:pass@host:5672/) of Keystone's notifications: "+
		"when set, a project deleted in Keystone has its secrets, containers and orders deleted (Barbican's keystone-listener); prefer KEYMANAGER_KEYSTONE_NOTIFICATIONS_URL")
	fs.StringVar(&a.Notifications.Exchange, "keystone-notifications-exchange", a.Notifications.Exchange, "Keystone's control exchange")
	fs.StringVar(&a.Notifications.Topic, "keystone-notifications-topic", a.Notifications.Topic, "Keystone's notification topic (messages arrive as <topic>.info)")
	fs.StringVar(&a.Notifications.Queue, "keystone-notifications-queue", a.Notifications.Queue, "durable queue of keymanager's servers, bound to the exchange")
	fs.StringVar(&a.TokenFile, "token-file", a.TokenFile, "with --auth token-file: the file of tokens (see docs/keystone.md), re-read when it changes")
}

// applyKeystoneAuthtoken sets, from barbican.conf's [keystone_authtoken], every authentication flag of fs not
// given on the command line. A section with an auth_url selects --auth keystone, as the reference's default
// paste pipeline puts authtoken in front of /v1.
func (c *Config) applyKeystoneAuthtoken(fs *pflag.FlagSet, sec SectionValues, path string) error {
	if len(sec) == 0 {
		return nil
	}
	var errs []error
	set := func(flag, value string) {
		if f := fs.Lookup(flag); f != nil && !f.Changed && value != "" {
			if err := f.Value.Set(value); err != nil {
				errs = append(errs, fmt.Errorf("--barbican-conf %s: [keystone_authtoken] for --%s: %w", path, flag, err))
			}
		}
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := strings.TrimSpace(sec[k]); v != "" {
				return v
			}
		}
		return ""
	}
	if url := first("auth_url"); url != "" {
		set("auth", AuthKeystone)
		set("keystone-auth-url", url)
	}
	set("keystone-www-authenticate-uri", first("www_authenticate_uri", "auth_uri"))
	set("keystone-username", first("username"))
	set("keystone-user-domain-name", first("user_domain_name"))
	set("keystone-project-name", first("project_name"))
	set("keystone-project-domain-name", first("project_domain_name"))
	if v := first("token_cache_time"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--barbican-conf %s: [keystone_authtoken] token_cache_time %q: want seconds", path, v))
		} else {
			set("keystone-token-cache-time", (time.Duration(n) * time.Second).String())
		}
	}
	if v := first("http_connect_timeout"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			set("keystone-timeout", (time.Duration(n) * time.Second).String())
		}
	}
	c.Auth.Keystone.Password = Secret(first("password"))
	c.Auth.Keystone.UserDomainID = first("user_domain_id")
	c.Auth.Keystone.ProjectDomainID = first("project_domain_id")
	return errors.Join(errs...)
}

// resolveKeystonePassword reads the service user's password: --keystone-password-file (flag, environment or
// barbican.conf), else KEYMANAGER_KEYSTONE_PASSWORD, else [keystone_authtoken] password.
func (c *Config) resolveKeystonePassword(lookup func(string) (string, bool)) error {
	k := &c.Auth.Keystone
	if k.PasswordFile != "" {
		p, err := ReadSecretFile(k.PasswordFile)
		if err != nil {
			return fmt.Errorf("--keystone-password-file: %w", err)
		}
		k.Password = Secret(p)
		return nil
	}
	if v, ok := lookup(EnvKeystonePassword); ok && v != "" {
		k.Password = Secret(v)
	}
	return nil
}

// validateAuth checks --auth and what it needs.
func (c *Config) validateAuth() []error {
	var errs []error
	switch c.Auth.Mode {
	case AuthNoAuth:
	case AuthKeystone:
		k := c.Auth.Keystone
		if k.AuthURL == "" {
			errs = append(errs, errors.New("--auth keystone needs --keystone-auth-url (or [keystone_authtoken] auth_url of --barbican-conf)"))
		} else if !strings.HasPrefix(k.AuthURL, "http://") && !strings.HasPrefix(k.AuthURL, "https://") {
			errs = append(errs, fmt.Errorf("--keystone-auth-url %q: want an http:// or https:// URL", k.AuthURL))
		}
		if k.Username == "" || k.ProjectName == "" {
			errs = append(errs, errors.New("--auth keystone needs the service user: --keystone-username and --keystone-project-name"))
		}
		if k.Password == "" {
			errs = append(errs, fmt.Errorf("--auth keystone needs the service user's password: --keystone-password-file or %s", EnvKeystonePassword))
		}
		if k.CacheTime < 0 || k.CacheSize < 0 || k.Timeout <= 0 {
			errs = append(errs, errors.New("--keystone-token-cache-time and --keystone-token-cache-size must not be negative, --keystone-timeout must be positive"))
		}
	case AuthTokenFile:
		if c.Auth.TokenFile == "" {
			errs = append(errs, errors.New("--auth token-file needs --token-file"))
		}
	default:
		errs = append(errs, fmt.Errorf("--auth %q: want noauth, keystone or token-file", c.Auth.Mode))
	}
	return errs
}
