package server

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

// wrappedPKEK returns a plugin_meta value: a new project KEK wrapped by master, as Barbican's bind writes it.
func wrappedPKEK(t *testing.T, master simplecrypto.Key) string {
	t.Helper()
	p, err := simplecrypto.New([]simplecrypto.Key{master}, simplecrypto.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kek := crypto.KEK{}
	if err := p.BindKEK(context.Background(), &kek); err != nil {
		t.Fatal(err)
	}
	return kek.PluginMeta
}

func newKEK(t *testing.T) simplecrypto.Key {
	t.Helper()
	k, err := simplecrypto.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKEKSafetyAtStart takes over databases that already hold project KEKs and checks that the server starts
// only with master KEKs that unwrap them, and never generates one over them.
func TestKEKSafetyAtStart(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		keymanagerDatabase(t, dbURL)
		current, retired := newKEK(t), newKEK(t)
		raw := rawDB(t, dbURL)
		// The newest project KEK is under the current master KEK, an older one under the retired KEK.
		insertKEK(t, raw, "kek-new", simplecrypto.ClassPath, "2024-05-01 00:00:00", wrappedPKEK(t, current), false)
		insertKEK(t, raw, "kek-old", simplecrypto.ClassPath, "2023-05-01 00:00:00", wrappedPKEK(t, retired), false)
		cfg := testConfig(t)
		cfg.DBURL = dbURL

		_, _, err := newServer(t, cfg)
		want := "the database holds 2 simple_crypto project KEKs (kek_data rows of " +
			"barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin) but no KEK is configured and the KEK file " +
			cfg.KEKPath() + " does not exist. A new KEK would unwrap none of them, so none is generated. Configure " +
			"the KEK(s) that wrapped them — the [simple_crypto_plugin] kek values of the Barbican configuration, " +
			"active first: --barbican-conf /etc/barbican/barbican.conf, KEYMANAGER_KEK='<kek>[,<older kek>]', or " +
			"--kek-file FILE (one key per line)"
		if err == nil || err.Error() != want {
			t.Fatalf("without a KEK:\n got %v\nwant %s", err, want)
		}
		if _, err := os.Stat(cfg.KEKPath()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("no KEK file may be generated over existing project KEKs (stat: %v)", err)
		}

		cfg.KEKs = []simplecrypto.Key{newKEK(t)}
		_, _, err = newServer(t, cfg)
		want = "the configured Software Only Crypto KEKs do not unwrap 2 of 2 sampled project KEKs (kek_data ids " +
			"kek-new, kek-old): the secrets under them could not be decrypted. Configure every KEK of the Barbican " +
			"configuration ([simple_crypto_plugin] kek, active first, retired ones after it). Refusing to start"
		if err == nil || err.Error() != want {
			t.Fatalf("with a wrong KEK:\n got %v\nwant %s", err, want)
		}

		cfg.KEKs = []simplecrypto.Key{current}
		_, _, err = newServer(t, cfg)
		want = "the configured Software Only Crypto KEKs do not unwrap 1 of 2 sampled project KEKs (kek_data ids " +
			"kek-old): the secrets under them could not be decrypted. Configure every KEK of the Barbican " +
			"configuration ([simple_crypto_plugin] kek, active first, retired ones after it). Refusing to start"
		if err == nil || err.Error() != want {
			t.Fatalf("without the retired KEK:\n got %v\nwant %s", err, want)
		}

		cfg.KEKs = []simplecrypto.Key{current, retired}
		_, logs, err := newServer(t, cfg)
		if err != nil {
			t.Fatalf("with both KEKs the server should start: %v", err)
		}
		if !strings.Contains(logs, `"msg":"the configured KEKs unwrap the sampled project KEKs","plugin":"Software Only Crypto","sampled":2`) {
			t.Fatalf("want the check logged, got:\n%s", logs)
		}
		for _, k := range []simplecrypto.Key{current, retired} {
			if strings.Contains(logs, k.Encode()) {
				t.Fatal("a KEK reached the logs")
			}
		}
	})
}

// TestRefusesProjectKEKsOfAnotherPlugin takes over a database of an HSM-backed Barbican.
func TestRefusesProjectKEKsOfAnotherPlugin(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		keymanagerDatabase(t, dbURL)
		raw := rawDB(t, dbURL)
		meta := `{"iv": "aXY=", "hmac": "aG1hYw==", "wrapped_key": "d2s=", "mkek_label": "barbican_mkek_10", "hmac_label": "barbican_hmac_10"}`
		insertKEK(t, raw, "hsm-1", p11crypto.ClassPath, "2024-05-01 00:00:00", meta, false)
		insertKEK(t, raw, "hsm-2", p11crypto.ClassPath, "2024-05-02 00:00:00", meta, false)
		// A project deleted long ago, under a plugin nobody runs any more: no live data, no refusal.
		insertKEK(t, raw, "gone", "example.retired.CryptoPlugin", "2020-01-01 00:00:00", "x", true)
		cfg := testConfig(t)
		cfg.DBURL = dbURL
		_, _, err := newServer(t, cfg)
		want := "the database holds 2 project KEKs of barbican.plugin.crypto.p11_crypto.P11CryptoPlugin (PKCS#11, " +
			"an HSM) in 2 projects, and this server has no such crypto plugin configured: their secrets could not be " +
			"decrypted, and new secrets of those projects would go under another plugin. Configure the PKCS#11 store: " +
			"--secret-store name=hsm,plugin=p11_crypto"
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "Refusing to start") {
			t.Fatalf("got %v\nwant %s", err, want)
		}
		if _, err := os.Stat(cfg.KEKPath()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the refused start must not generate a KEK (stat: %v)", err)
		}
		execSQL(t, raw, "UPDATE kek_data SET deleted = 1 WHERE plugin_name = '"+p11crypto.ClassPath+"'")
		if _, _, err := newServer(t, cfg); err != nil {
			t.Fatalf("soft-deleted project KEKs of another plugin should not stop the server: %v", err)
		}
	})
}

// TestGeneratesAKEKOnlyForAnEmptyDatabase keeps the embedded default: a first start on an empty database
// generates the KEK file, and the next start uses it.
func TestGeneratesAKEKOnlyForAnEmptyDatabase(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		cfg := testConfig(t)
		cfg.DBURL = dbURL
		cfg.KEKFile = filepath.Join(t.TempDir(), "kek")
		if _, _, err := newServer(t, cfg); err != nil {
			t.Fatal(err)
		}
		keys, err := simplecrypto.ReadKEKFile(cfg.KEKFile)
		if err != nil {
			t.Fatalf("the first start should generate the KEK file: %v", err)
		}
		insertKEK(t, rawDB(t, dbURL), "k1", simplecrypto.ClassPath, "2024-05-01 00:00:00", wrappedPKEK(t, keys[0]), false)
		if _, _, err := newServer(t, cfg); err != nil {
			t.Fatalf("the next start should use the generated file: %v", err)
		}
	})
}
