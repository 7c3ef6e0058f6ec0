package config

import (
	"fmt"
	"strconv"
	"strings"
)

// secretStoreFlag is --secret-store, repeatable: name=NAME,plugin=CRYPTO_PLUGIN[,global_default]. It appends to
// SecretStores.Stores; an environment value may hold several stores separated by ';'.
type secretStoreFlag struct{ stores *SecretStores }

func (f secretStoreFlag) Type() string { return "name=NAME,plugin=PLUGIN[,global_default]" }

func (f secretStoreFlag) String() string {
	if f.stores == nil {
		return ""
	}
	parts := make([]string, len(f.stores.Stores))
	for i, s := range f.stores.Stores {
		parts[i] = "name=" + s.Suffix + ",plugin=" + s.CryptoPlugin
		if s.GlobalDefault {
			parts[i] += ",global_default"
		}
	}
	return strings.Join(parts, ";")
}

func (f secretStoreFlag) Set(value string) error {
	if !f.stores.fromFlag {
		f.stores.Stores, f.stores.fromFlag = nil, true
	}
	for _, spec := range strings.Split(value, ";") {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		s, err := parseSecretStore(spec)
		if err != nil {
			return err
		}
		f.stores.Stores = append(f.stores.Stores, s)
	}
	return nil
}

// parseSecretStore reads one store: the name (Barbican's section suffix), its crypto plugin (store_crypto's
// simple_crypto or p11_crypto) and whether it is the global default.
func parseSecretStore(spec string) (SecretStore, error) {
	s := SecretStore{SecretStorePlugin: "store_crypto"}
	for _, field := range strings.Split(spec, ",") {
		k, v, hasValue := strings.Cut(strings.TrimSpace(field), "=")
		switch k = strings.TrimSpace(k); k {
		case "name":
			s.Suffix = strings.TrimSpace(v)
		case "plugin", "crypto_plugin":
			s.CryptoPlugin = strings.TrimSpace(v)
		case "store_plugin", "secret_store_plugin":
			s.SecretStorePlugin = strings.TrimSpace(v)
		case "global_default", "global-default":
			s.GlobalDefault = true
			if hasValue {
				b, err := strconv.ParseBool(strings.TrimSpace(v))
				if err != nil {
					return s, fmt.Errorf("secret store %q: global_default=%q is not a boolean", spec, v)
				}
				s.GlobalDefault = b
			}
		default:
			return s, fmt.Errorf("secret store %q: unknown field %q (want name=, plugin=, global_default)", spec, k)
		}
	}
	if s.Suffix == "" || s.CryptoPlugin == "" {
		return s, fmt.Errorf("secret store %q: want name=NAME,plugin=simple_crypto|p11_crypto[,global_default]", spec)
	}
	return s, nil
}
