package server

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/store"
)

// testConfig is a server configuration on a fresh SQLite database with a data dir of its own.
func testConfig(t testing.TB) config.Config {
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
		t.Cleanup(func() { _ = s.db.Close(); _ = s.plugins.Close() })
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

func TestAutoMigrate(t *testing.T) {
	head := store.SchemaStatus{BarbicanRevision: store.HeadRevision, KeymanagerVersion: store.LatestKeymanagerVersion}
	barbicanOnly := store.SchemaStatus{BarbicanRevision: store.HeadRevision}
	startsAtHead := func(t *testing.T, cfg config.Config) {
		t.Helper()
		if _, _, err := newServer(t, cfg); err != nil {
			t.Fatal(err)
		}
		if st := schemaStatus(t, cfg.DBURL); st != head {
			t.Fatalf("schema %+v, want %+v", st, head)
		}
	}
	t.Run("auto upgrades SQLite, also a Barbican file", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.DBURL = "sqlite://" + t.TempDir() + "/barbican.db"
		barbicanDatabase(t, cfg.DBURL)
		startsAtHead(t, cfg)
	})
	t.Run("auto upgrades an empty MariaDB database", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.DBURL = testbed.NewMySQLDatabase(t)
		startsAtHead(t, cfg)
	})
	t.Run("auto refuses a Barbican MariaDB database and names the command", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.DBURL = testbed.NewMySQLDatabase(t)
		barbicanDatabase(t, cfg.DBURL)
		_, _, err := newServer(t, cfg)
		r := redacted(t, cfg.DBURL)
		want := "the database " + r + " is at Barbican schema revision 8c74e2d7f1ff and keymanager schema step 0, " +
			"not at this version's 8c74e2d7f1ff and step " + strconv.Itoa(store.LatestKeymanagerVersion) + "; keymanager does not change the schema of an existing " +
			"database on start. Back the database up, then run\n  keymanager manage db upgrade --db-url '" + r + "'" +
			"   # with the database password in place of xxxxx, or the URL in KEYMANAGER_DB_URL instead of --db-url" +
			"\nand start again (or start with --db-auto-migrate=true)"
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
		if st := schemaStatus(t, cfg.DBURL); st != barbicanOnly {
			t.Fatalf("the refused start changed the schema: %+v", st)
		}
		cfg.DBAutoMigrate = config.AutoMigrateOn
		startsAtHead(t, cfg)
	})
	t.Run("false never changes the schema", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.DBAutoMigrate = config.AutoMigrateOff
		cfg.DBURL = testbed.NewMySQLDatabase(t)
		_, _, err := newServer(t, cfg)
		r := redacted(t, cfg.DBURL)
		want := "the database " + r + " is at Barbican schema revision (none) and keymanager schema step 0, " +
			"not at this version's 8c74e2d7f1ff and step " + strconv.Itoa(store.LatestKeymanagerVersion) + ", and --db-auto-migrate=false forbids creating it; run\n" +
			"  keymanager manage db upgrade --db-url '" + r + "'" +
			"   # with the database password in place of xxxxx, or the URL in KEYMANAGER_DB_URL instead of --db-url"
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
		barbicanDatabase(t, cfg.DBURL)
		_, logs, err := newServer(t, cfg)
		if err != nil {
			t.Fatalf("false should serve a Barbican database as it is: %v", err)
		}
		if !strings.Contains(logs, "serving a database that is not at this version's schema") {
			t.Fatalf("want a warning, got:\n%s", logs)
		}
		if st := schemaStatus(t, cfg.DBURL); st != barbicanOnly {
			t.Fatalf("--db-auto-migrate=false changed the schema: %+v", st)
		}
	})
}
