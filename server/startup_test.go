package server

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/server/config"
)

// testConfig is a server configuration on a fresh SQLite database with a data dir of its own.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.SQLiteSync = "NORMAL"
	return cfg
}

// newServer runs New and returns the server (closed at cleanup) or the error, with everything logged.
func newServer(t *testing.T, cfg config.Config) (*Server, string, error) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s, err := New(context.Background(), cfg, log)
	if err == nil {
		t.Cleanup(func() { _ = s.db.Close() })
	}
	return s, logs.String(), err
}

func TestNoAuthOnAnyAddressWarnsAtStart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "0.0.0.0:9311"
	_, _, err := newServer(t, cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "--listen 0.0.0.0:9311 is not a loopback address") {
		t.Fatalf("want the refusal, got %v", err)
	}
	cfg.InsecureNoAuthAnyAddress = true
	_, logs, err := newServer(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, `"msg":"serving no-auth on a non-loopback address (--insecure-noauth-any-address)`) {
		t.Fatalf("want the warning in the start logs, got:\n%s", logs)
	}
	cfg.Listen = "127.0.0.1:9311"
	if _, logs, err = newServer(t, cfg); err != nil || strings.Contains(logs, "non-loopback") {
		t.Fatalf("loopback should start without the warning: %v\n%s", err, logs)
	}
}
