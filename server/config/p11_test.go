package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// resolveServe parses serve's flags from args and resolves them with env as the environment.
func resolveServe(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Default()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	err := c.Resolve(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

func TestP11FromBarbicanConf(t *testing.T) {
	conf := writeConf(t, `[database]
connection = sqlite:////tmp/x.db
[p11_crypto_plugin]
library_path = /usr/lib/libCryptoki2_64.so
login = 1234-from-conf
token_labels = ha_group_1, partition_2
mkek_label = barbican_mkek_10
hmac_label = barbican_hmac_10
hmac_key_type = CKK_GENERIC_SECRET
hmac_keygen_mechanism = CKM_GENERIC_SECRET_KEY_GEN
hmac_keywrap_mechanism = CKM_SHA256_HMAC
encryption_mechanism = CKM_AES_GCM
generate_iv = false
key_wrap_generate_iv = false
os_locking_ok = True
pkek_cache_ttl = 60
pkek_cache_limit = 7
`)
	c, err := resolveServe(t, []string{"--barbican-conf", conf, "--p11-mkek-label", "from_flag"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.P11
	if p.LibraryPath != "/usr/lib/libCryptoki2_64.so" || strings.Join(p.TokenLabels, ",") != "ha_group_1,partition_2" ||
		p.MKEKLabel != "from_flag" || p.HMACLabel != "barbican_hmac_10" || p.HMACKeyType != "CKK_GENERIC_SECRET" ||
		p.EncryptionMechanism != "CKM_AES_GCM" || p.AESGCMGenerateIV || p.KeyWrapGenerateIV || !p.OSLockingOK ||
		p.PKEKCacheTTL != time.Minute || p.PKEKCacheLimit != 7 || string(p.PIN) != "1234-from-conf" {
		t.Errorf("resolved %+v", p)
	}
	if s := fmt.Sprintf("%v %+v", c, p); strings.Contains(s, "1234-from-conf") {
		t.Errorf("the PIN prints: %s", s)
	}
	if _, err := p.Settings(); err != nil {
		t.Error(err)
	}

	// The environment's PIN wins over the file's; a PIN file and the variable together are refused.
	c, err = resolveServe(t, []string{"--barbican-conf", conf}, map[string]string{EnvP11PIN: "from-env"})
	if err != nil || string(c.P11.PIN) != "from-env" {
		t.Errorf("PIN %v from the environment: %v", c.P11.PIN == "from-env", err)
	}
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = resolveServe(t, []string{"--p11-login-pin-file", pinFile}, nil)
	if err != nil || string(c.P11.PIN) != "from-file" {
		t.Errorf("PIN from a file: %v", err)
	}
	if _, err := resolveServe(t, []string{"--p11-login-pin-file", pinFile}, map[string]string{EnvP11PIN: "x"}); err == nil {
		t.Error("a PIN file and KEYMANAGER_P11_PIN together were accepted")
	}
	// The contract's environment names work for every flag.
	c, err = resolveServe(t, nil, map[string]string{"KEYMANAGER_HSM_MAX_SESSIONS": "10", "KEYMANAGER_HSM_SESSION_WAIT": "2s",
		"KEYMANAGER_P11_TOKEN_SERIAL_NUMBER": "123"})
	if err != nil || c.P11.MaxSessions != 10 || c.P11.SessionWait != 2*time.Second || c.P11.TokenSerial != "123" {
		t.Errorf("from the environment: %+v, %v", c.P11, err)
	}
	seed := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(seed, []byte("0123456789abcdef0123456789abcdefEXTRA"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.P11.SeedFile, c.P11.LibraryPath, c.P11.PIN = seed, "/lib.so", "x"
	if mc, err := c.P11.Module(); err != nil || string(mc.Seed) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("the seed read from --p11-seed-file: %q, %v", mc.Seed, err)
	}
	bad := c.P11
	bad.EncryptionMechanism = "CKM_DES"
	if _, err := bad.Settings(); err == nil || !strings.Contains(err.Error(), "--p11-encryption-mechanism") {
		t.Errorf("an unknown mechanism: %v", err)
	}
}
