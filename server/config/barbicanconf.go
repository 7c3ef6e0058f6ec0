package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

// BarbicanConf is what keymanager takes from an existing Barbican's barbican.conf (oslo.config INI), so that a
// deployment is taken over with the file it already has. Values that are absent stay nil/empty: the caller
// keeps its own default for them. It holds the database password, the KEKs and Keystone credentials: never
// print or log it (its String method says only what was found).
type BarbicanConf struct {
	Path string

	// DatabaseURL is [database] connection, or its deprecated names ([DEFAULT] sql_connection,
	// [database] sql_connection, [sql] connection).
	DatabaseURL string

	HostHref        *string // [DEFAULT] host_href; an empty value means: derive hrefs from each request
	MaxSecretBytes  *int    // [DEFAULT] max_allowed_secret_in_bytes
	MaxRequestBytes *int    // [DEFAULT] max_allowed_request_size_in_bytes
	DefaultLimit    *int    // [DEFAULT] default_limit_paging
	MaxLimit        *int    // [DEFAULT] max_limit_paging

	// KEKs is [simple_crypto_plugin] kek: every line, in file order (oslo MultiStrOpt), the first active.
	KEKs []simplecrypto.Key

	SecretStores SecretStores
	Quotas       Quotas
	// KeystoneAuthtoken is the [keystone_authtoken] section as is (it holds a password).
	KeystoneAuthtoken SectionValues
	// P11 is the [p11_crypto_plugin] section, values substituted (login is the PIN).
	P11 SectionValues
}

// SecretStores is Barbican's secret-store configuration ([secretstore], [secretstore:<suffix>], [crypto]).
type SecretStores struct {
	EnabledSecretStorePlugins []string // [secretstore] enabled_secretstore_plugins (multi-valued)
	EnableMultiple            bool     // [secretstore] enable_multiple_secret_stores
	LookupSuffixes            []string // [secretstore] stores_lookup_suffix (comma-separated list)
	Stores                    []SecretStore
	EnabledCryptoPlugins      []string // [crypto] enabled_crypto_plugins (multi-valued)
	// fromFlag is set once --secret-store (or its environment variable) has replaced the file's stores.
	fromFlag bool
}

// SecretStore is one [secretstore:<suffix>] section.
type SecretStore struct {
	Suffix            string
	SecretStorePlugin string // secret_store_plugin
	CryptoPlugin      string // crypto_plugin
	GlobalDefault     bool   // global_default
}

// Quotas are Barbican's default project quotas ([quotas] quota_*); nil means unset (Barbican: -1, unlimited).
type Quotas struct {
	Secrets, Orders, Containers, Consumers, CAs *int
}

// SectionValues is a configuration section kept verbatim. It may hold credentials, so it prints only its keys.
type SectionValues map[string]string

// String implements fmt.Stringer without the values.
func (s SectionValues) String() string { return fmt.Sprintf("[%d options, values hidden]", len(s)) }

// GoString implements fmt.GoStringer without the values.
func (s SectionValues) GoString() string { return s.String() }

// String implements fmt.Stringer: the path and which settings were found, no value.
func (b BarbicanConf) String() string {
	return fmt.Sprintf("barbican.conf %s (database url: %v, KEKs: %d)", b.Path, b.DatabaseURL != "", len(b.KEKs))
}

// GoString implements fmt.GoStringer like String.
func (b BarbicanConf) GoString() string { return b.String() }

// errBarbicanConf wraps every error about the file's content.
var errBarbicanConf = errors.New("barbican.conf")

// ReadBarbicanConf reads path. Errors name the file, section and option, never a value.
func ReadBarbicanConf(path string) (*BarbicanConf, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--barbican-conf: %w", err)
	}
	defer fh.Close()
	ini, err := parseINI(fh)
	if err != nil {
		return nil, fmt.Errorf("--barbican-conf %s: %w", path, err)
	}
	b, err := barbicanConfFrom(ini)
	if err != nil {
		return nil, fmt.Errorf("--barbican-conf %s: %w", path, err)
	}
	b.Path = path
	return b, nil
}

func barbicanConfFrom(ini *iniFile) (*BarbicanConf, error) {
	b := &BarbicanConf{}
	var errs []error
	str := func(section, key string) (string, bool) {
		v, ok := ini.last(section, key)
		if !ok {
			return "", false
		}
		v, err := substitute(ini, section, key, v)
		if err != nil {
			errs = append(errs, err)
			return "", false
		}
		return v, true
	}
	integer := func(section, key string) *int {
		v, ok := str(section, key)
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: [%s] %s: want an integer", errBarbicanConf, section, key))
			return nil
		}
		return &n
	}
	boolean := func(section, key string) bool {
		v, ok := str(section, key)
		if !ok {
			return false
		}
		t, err := parseOsloBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: [%s] %s: want true or false", errBarbicanConf, section, key))
		}
		return t
	}
	multi := func(section, key string) []string {
		var out []string
		for _, v := range ini.values(section, key) {
			v, err := substitute(ini, section, key, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, v)
		}
		return out
	}

	// Barbican up to 2024.x reads its own [DEFAULT] sql_connection; later ones read oslo.db's [database]
	// connection, with [DEFAULT] sql_connection, [database] sql_connection and [sql] connection as deprecated
	// names. Two different URLs would mean different databases to different Barbican versions: refuse to guess.
	var found [2]string
	for _, name := range [][2]string{{"database", "connection"}, {"DEFAULT", "sql_connection"},
		{"database", "sql_connection"}, {"sql", "connection"}} {
		v, ok := str(name[0], name[1])
		if v = strings.TrimSpace(v); !ok || v == "" {
			continue
		}
		if b.DatabaseURL == "" {
			b.DatabaseURL, found = v, name
		} else if v != b.DatabaseURL {
			errs = append(errs, fmt.Errorf("%w: [%s] %s and [%s] %s name different databases; Barbican versions "+
				"read different ones, so keep the one your Barbican used and remove the other", errBarbicanConf,
				found[0], found[1], name[0], name[1]))
			break
		}
	}
	if v, ok := str("DEFAULT", "host_href"); ok {
		v = strings.TrimSpace(v)
		b.HostHref = &v
	}
	b.MaxSecretBytes = integer("DEFAULT", "max_allowed_secret_in_bytes")
	b.MaxRequestBytes = integer("DEFAULT", "max_allowed_request_size_in_bytes")
	b.DefaultLimit = integer("DEFAULT", "default_limit_paging")
	b.MaxLimit = integer("DEFAULT", "max_limit_paging")

	for i, v := range multi("simple_crypto_plugin", "kek") {
		if strings.TrimSpace(v) == "" {
			continue
		}
		keys, err := simplecrypto.ParseKEKs(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: [simple_crypto_plugin] kek, value %d: %w", errBarbicanConf, i+1, err))
			continue
		}
		b.KEKs = append(b.KEKs, keys...)
	}

	ss := &b.SecretStores
	ss.EnabledSecretStorePlugins = multi("secretstore", "enabled_secretstore_plugins")
	ss.EnableMultiple = boolean("secretstore", "enable_multiple_secret_stores")
	if v, ok := str("secretstore", "stores_lookup_suffix"); ok {
		ss.LookupSuffixes = splitList(v)
	}
	// Barbican reads the [secretstore:<suffix>] sections named by stores_lookup_suffix; the others are unused.
	for _, suffix := range ss.LookupSuffixes {
		section := "secretstore:" + strings.ToLower(suffix)
		if _, ok := ini.sections[section]; !ok {
			errs = append(errs, fmt.Errorf("%w: [secretstore] stores_lookup_suffix names %q but there is no [%s] section",
				errBarbicanConf, suffix, section))
			continue
		}
		store := SecretStore{Suffix: suffix, GlobalDefault: boolean(section, "global_default")}
		store.SecretStorePlugin, _ = str(section, "secret_store_plugin")
		store.CryptoPlugin, _ = str(section, "crypto_plugin")
		ss.Stores = append(ss.Stores, store)
	}
	ss.EnabledCryptoPlugins = multi("crypto", "enabled_crypto_plugins")

	q := &b.Quotas
	q.Secrets = integer("quotas", "quota_secrets")
	q.Orders = integer("quotas", "quota_orders")
	q.Containers = integer("quotas", "quota_containers")
	q.Consumers = integer("quotas", "quota_consumers")
	q.CAs = integer("quotas", "quota_cas")

	if sec, ok := ini.sections["p11_crypto_plugin"]; ok {
		b.P11 = SectionValues{}
		for k := range sec {
			if v, ok := str("p11_crypto_plugin", k); ok {
				b.P11[k] = v
			}
		}
	}

	// Kept verbatim, without substitution: nothing reads it yet, and a template keymanager cannot resolve must
	// not stop a server that does not use it.
	if sec, ok := ini.sections["keystone_authtoken"]; ok {
		b.KeystoneAuthtoken = SectionValues{}
		for k := range sec {
			b.KeystoneAuthtoken[k], _ = ini.last("keystone_authtoken", k)
		}
	}
	return b, errors.Join(errs...)
}

// substitute applies oslo.config's value templates: "$$" and "\$" are a literal "$"; "$name", "${name}" and
// "${group.name}" are other options. Only options set in this file can be resolved here (oslo also knows every
// registered option's default), so any other reference is an error naming the option rather than a guess.
func substitute(ini *iniFile, section, key, v string) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var out strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) && v[i+1] == '$' {
			out.WriteByte('$')
			i++
			continue
		}
		if c != '$' {
			out.WriteByte(c)
			continue
		}
		rest := v[i+1:]
		var ref string
		switch {
		case strings.HasPrefix(rest, "$"):
			out.WriteByte('$')
			i++
			continue
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("%w: [%s] %s: unclosed ${ in the value", errBarbicanConf, section, key)
			}
			ref = rest[1:end]
			i += end + 1
		default:
			n := 0
			for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' ||
				n > 0 && rest[n] >= '0' && rest[n] <= '9') {
				n++
			}
			if n == 0 {
				// Python's Template leaves a lone "$" as it is under safe_substitute.
				out.WriteByte('$')
				continue
			}
			ref = rest[:n]
			i += n
		}
		group, name := section, ref
		if g, n, ok := strings.Cut(ref, "."); ok {
			group, name = strings.ToLower(g), n
			if g == "DEFAULT" {
				group = g
			}
		}
		val, ok := ini.last(group, name)
		if !ok && group == section {
			val, ok = ini.last("DEFAULT", name)
		}
		if !ok {
			return "", fmt.Errorf("%w: [%s] %s refers to $%s, which is not set in this file; write the value out "+
				"(a literal $ is written $$)", errBarbicanConf, section, key, ref)
		}
		out.WriteString(val)
	}
	return out.String(), nil
}

// parseOsloBool accepts what oslo.config's BoolOpt does.
func parseOsloBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "on", "yes":
		return true, nil
	case "false", "0", "off", "no":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// splitList splits an oslo ListOpt value on commas, trimming blanks.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
