package testbed

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrBadURL reports a database URL that is not mysql://user:pass@host[:port]/db.
var ErrBadURL = errors.New("bad database URL")

// dbPrefix is the prefix the test user may create databases under; see the
// GRANT in hack/deps/mariadb.sh.
const dbPrefix = "keymanager_test_"

// connectTimeout bounds how long a missing server can stall a test before it
// is reported; it never decides whether a test passes.
const connectTimeout = 10 * time.Second

// DSN translates a mysql:// URL into a go-sql-driver/mysql DSN. Query
// parameters are passed through as driver parameters.
func DSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse echoes the whole URL, password included, in its error.
		return "", fmt.Errorf("%w: cannot parse", ErrBadURL)
	}
	if u.Scheme != "mysql" {
		return "", fmt.Errorf("%w: scheme %q, want mysql", ErrBadURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%w: no host", ErrBadURL)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	dsn := cfg.FormatDSN()
	if u.RawQuery == "" {
		return dsn, nil
	}
	// Round-trip through ParseDSN so that invalid parameters fail here, with
	// a clear error, rather than at the first query.
	parsed, err := mysql.ParseDSN(dsn + "?" + u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("%w: parameters: %w", ErrBadURL, err)
	}
	return parsed.FormatDSN(), nil
}

// NewMySQLDatabase creates an empty database keymanager_test_<random> on the
// MariaDB named by KEYMANAGER_TEST_DB_URL, drops it when the test ends, and
// returns its mysql:// URL. Each test gets its own database so tests can run
// in parallel and leave nothing behind.
func NewMySQLDatabase(t testing.TB) string {
	t.Helper()
	base := DBURL(t)
	name, err := randomName()
	if err != nil {
		t.Fatalf("naming test database: %v", err)
	}
	dsn, err := DSN(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvDBURL, err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("opening MariaDB: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		Require(t, "MariaDB", fmt.Errorf("connecting to %s: %w", redact(base), err))
		return ""
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		_ = db.Close()
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(base) // DSN above already parsed it successfully.
	u.Path = "/" + name
	return u.String()
}

func randomName() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return dbPrefix + hex.EncodeToString(b), nil
}

// redact drops the password from a URL for messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}
