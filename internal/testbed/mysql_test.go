package testbed

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
)

func openURL(t *testing.T, rawURL string) *sql.DB {
	t.Helper()
	dsn, err := DSN(rawURL)
	if err != nil {
		t.Fatalf("DSN: %v", err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestNewMySQLDatabase(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("creates an empty database of its own", func(t *testing.T) {
		dbURL := NewMySQLDatabase(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatalf("returned URL does not parse: %v", err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		if !strings.HasPrefix(name, dbPrefix) {
			t.Fatalf("database %q should start with %q", name, dbPrefix)
		}
		db := openURL(t, dbURL)
		var current string
		if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&current); err != nil {
			t.Fatalf("SELECT DATABASE(): %v", err)
		}
		if current != name {
			t.Errorf("connected to %q, want %q", current, name)
		}
		var tables int
		if err := db.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", name).Scan(&tables); err != nil {
			t.Fatalf("counting tables: %v", err)
		}
		if tables != 0 {
			t.Errorf("new database has %d tables, want 0", tables)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE probe (id INT PRIMARY KEY)"); err != nil {
			t.Fatalf("the test user should be able to create tables: %v", err)
		}
	})
	if t.Skipped() || name == "" {
		return
	}
	t.Run("drops the database when the test ends", func(t *testing.T) {
		db := openURL(t, DBURL(t))
		var n int
		if err := db.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
			t.Fatalf("looking up %s: %v", name, err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test ended", name)
		}
	})
}

func TestNewMySQLDatabaseIsolatesTests(t *testing.T) {
	a, b := NewMySQLDatabase(t), NewMySQLDatabase(t)
	if a == b {
		t.Errorf("two calls returned the same database %s", a)
	}
}
