package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// resolveServe builds serve's configuration from a command line and an environment, as `keymanager serve` does.
func resolveServe(t *testing.T, args []string, env map[string]string) config.Config {
	t.Helper()
	cfg := config.Default()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	cfg.SQLiteSync = "NORMAL"
	return cfg
}

// TestServeFromBarbicanConf takes over a Barbican database with nothing but its barbican.conf: the database
// URL and the KEK lines come from the file, the schema upgrade is named by the same file, and the server then
// starts and uses the file's host_href.
func TestServeFromBarbicanConf(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		barbicanDatabase(t, dbURL)
		active, retired := newKEK(t), newKEK(t)
		insertKEK(t, rawDB(t, dbURL), "k-old", simplecrypto.ClassPath, "2022-01-01 00:00:00", wrappedPKEK(t, retired), false)
		insertKEK(t, rawDB(t, dbURL), "k-new", simplecrypto.ClassPath, "2024-01-01 00:00:00", wrappedPKEK(t, active), false)
		conf := filepath.Join(t.TempDir(), "barbican.conf")
		text := "[DEFAULT]\nhost_href=https://barbican.example.com:13311\n\n[database]\nconnection=" + dbURL +
			"\n\n[simple_crypto_plugin]\n#kek = dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg=\nkek = " + active.Encode() +
			"\nkek = " + retired.Encode() + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := resolveServe(t, []string{"--barbican-conf", conf, "--data-dir", filepath.Join(t.TempDir(), "data")}, nil)

		if strings.HasPrefix(dbURL, "mysql://") {
			_, _, err := newServer(t, cfg)
			want := "keymanager manage db upgrade --barbican-conf '" + conf + "'\nand start again"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v\nwant the upgrade command %q", err, want)
			}
			db, err := store.Open(context.Background(), cfg.DBURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Upgrade(context.Background()); err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
		}
		s, logs, err := newServer(t, cfg)
		if err != nil {
			t.Fatalf("serve --barbican-conf: %v", err)
		}
		if !strings.Contains(logs, `"sampled":2`) {
			t.Fatalf("want both project KEKs checked, logs:\n%s", logs)
		}
		for _, secret := range []string{active.Encode(), retired.Encode()} {
			if strings.Contains(logs, secret) {
				t.Fatal("a KEK reached the logs")
			}
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if !strings.Contains(string(body), "https://barbican.example.com:13311/v1") {
			t.Fatalf("hrefs should use the conf's host_href: %s", body)
		}
	})
}

// TestBarbicanConfWithoutKEK meets a barbican.conf without kek line over a database with project KEKs: the
// refusal says which default a Barbican before 2025 used then.
func TestBarbicanConfWithoutKEK(t *testing.T) {
	dbURL := "sqlite://" + t.TempDir() + "/km.db"
	keymanagerDatabase(t, dbURL)
	def, err := simplecrypto.ParseKEKs(barbicanDefaultKEK)
	if err != nil {
		t.Fatal(err)
	}
	insertKEK(t, rawDB(t, dbURL), "k1", simplecrypto.ClassPath, "2024-01-01 00:00:00", wrappedPKEK(t, def[0]), false)
	conf := filepath.Join(t.TempDir(), "barbican.conf")
	if err := os.WriteFile(conf, []byte("[DEFAULT]\nsql_connection = "+dbURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := resolveServe(t, []string{"--barbican-conf", conf, "--data-dir", dataDir}, nil)
	_, _, err = newServer(t, cfg)
	want := "the database holds 1 simple_crypto project KEKs (kek_data rows of " +
		"barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin) but no KEK is configured and the KEK file " +
		dataDir + "/kek does not exist. A new KEK would unwrap none of them, so none is generated. Configure the " +
		"KEK(s) that wrapped them — the [simple_crypto_plugin] kek values of the Barbican configuration, active " +
		"first: --barbican-conf /etc/barbican/barbican.conf, KEYMANAGER_KEK='<kek>[,<older kek>]', or --kek-file " +
		"FILE (one key per line). " + conf + " has no [simple_crypto_plugin] kek line: a Barbican released before " +
		"2025 then used its built-in default KEK dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg= (public, so rotate " +
		"away from it afterwards); if that wrapped them, give it with KEYMANAGER_KEK"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	cfg = resolveServe(t, []string{"--barbican-conf", conf, "--data-dir", dataDir},
		map[string]string{"KEYMANAGER_KEK": barbicanDefaultKEK})
	if _, _, err := newServer(t, cfg); err != nil {
		t.Fatalf("with the default KEK given the server should start: %v", err)
	}
}
