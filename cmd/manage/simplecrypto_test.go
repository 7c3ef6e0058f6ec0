package manage

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

// TestSimpleCryptoRewrap moves the project KEKs of a database from one simple_crypto KEK to a new one; a server
// with only the new KEK reads every secret afterwards.
func TestSimpleCryptoRewrap(t *testing.T) {
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "km.db")
	oldKEK, newKEK := fernetKey(t), fernetKey(t)
	secrets := map[string]string{}
	withSimpleServer(t, dbURL, oldKEK, func(h http.Handler) {
		for i := range 6 {
			payload := fmt.Sprintf("secret-%d", i)
			secrets[postSecret(t, h, fmt.Sprintf("project-%d", i%3), payload)] = payload
		}
	})
	args := []string{"simple-crypto", "rewrap", "--db-url", dbURL}
	out, err := run(t, map[string]string{config.EnvKEK: newKEK + "," + oldKEK}, append(args, "--dry-run")...)
	if err != nil || !strings.Contains(out, "would rewrap (checked) 3 of 3") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, err = run(t, map[string]string{config.EnvKEK: newKEK + "," + oldKEK}, args...)
	if err != nil || !strings.Contains(out, "rewrapped 3 of 3") || !strings.Contains(out, "0 project KEKs remain under other KEKs") {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	// Without the old KEK, nothing can be rewrapped, and the command says so.
	other := fernetKey(t)
	if out, err := run(t, map[string]string{config.EnvKEK: other}, args...); err == nil || !strings.Contains(out, "3 failed") {
		t.Fatalf("rewrap without the KEK that wraps the rows: %v\n%s", err, out)
	}
	withSimpleServer(t, dbURL, newKEK, func(h http.Handler) {
		for id, payload := range secrets {
			if got := getPayload(t, h, id); got != payload {
				t.Errorf("secret %s under the new KEK only: %q", id, got)
			}
		}
	})
}

func fernetKey(t *testing.T) string {
	t.Helper()
	k, err := testbed.NewFernetKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func withSimpleServer(t *testing.T, dbURL, kek string, f func(http.Handler)) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.DBURL = t.TempDir(), dbURL
	keys, err := simplecrypto.ParseKEKs(kek)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KEKs, cfg.KEKSource = keys, "test"
	serveWith(t, cfg, f)
}

// serveWith builds a server of cfg, hands its handler to f and closes it.
func serveWith(t *testing.T, cfg config.Config, f func(http.Handler)) {
	t.Helper()
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f(s.Handler())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
