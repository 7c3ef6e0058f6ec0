package manage

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/rewrapsummary"
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
	summary := filepath.Join(t.TempDir(), "termination-log")
	args := []string{"simple-crypto", "rewrap", "--db-url", dbURL, "--summary-file", summary}
	both := map[string]string{config.EnvKEK: newKEK + "," + oldKEK}
	out, err := run(t, both, append(args, "--dry-run")...)
	if err != nil || !strings.Contains(out, "would rewrap (checked) 3 of 3") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 3, Rewrapped: 3, Remaining: 3})
	// --verify is a rotation's last check: it fails while rows remain under the old KEK, and changes nothing.
	out, err = run(t, both, append(args, "--verify")...)
	if err == nil || !strings.Contains(err.Error(), "3 project KEKs are not under the active KEK") {
		t.Fatalf("verify before the rewrap should fail naming 3 rows: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 3, Rewrapped: 3, Remaining: 3})
	out, err = run(t, both, args...)
	if err != nil || !strings.Contains(out, "rewrapped 3 of 3") || !strings.Contains(out, "0 project KEKs remain under other KEKs") {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 3, Rewrapped: 3})
	if out, err := run(t, both, append(args, "--verify")...); err != nil || !strings.Contains(out, "0 project KEKs remain") {
		t.Fatalf("verify after the rewrap: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{})
	// Without the old KEK, nothing can be rewrapped, and the command says so.
	other := fernetKey(t)
	if out, err := run(t, map[string]string{config.EnvKEK: other}, args...); err == nil || !strings.Contains(out, "3 failed") {
		t.Fatalf("rewrap without the KEK that wraps the rows: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 3, Failed: 3, Remaining: 3})
	// A summary file that cannot be written is reported, and the command still does its work.
	out, err = run(t, both, "simple-crypto", "rewrap", "--db-url", dbURL, "--verify", "--summary-file", filepath.Join(t.TempDir(), "missing", "log"))
	if err != nil || !strings.Contains(out, "warning: writing the rewrap summary") {
		t.Fatalf("verify with an unwritable summary file: %v\n%s", err, out)
	}
	withSimpleServer(t, dbURL, newKEK, func(h http.Handler) {
		for id, payload := range secrets {
			if got := getPayload(t, h, id); got != payload {
				t.Errorf("secret %s under the new KEK only: %q", id, got)
			}
		}
	})
}

// wantSummary checks the one-line JSON a rewrap left in path.
func wantSummary(t *testing.T, path string, want rewrapsummary.Summary) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rewrapsummary.Parse(string(b))
	if err != nil || got != want {
		t.Errorf("summary %q parses to %+v (%v), want %+v", b, got, err, want)
	}
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
