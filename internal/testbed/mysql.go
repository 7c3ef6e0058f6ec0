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

// NewMySQLUser creates a user holding exactly privileges (for example "SELECT, INSERT, CREATE") on the database
// of dbURL, a URL from NewMySQLDatabase, drops the user when the test ends, and returns dbURL with that user's
// credentials. Tests use it to meet a database account with fewer rights than the test user. It needs the
// CREATE USER privilege and GRANT OPTION that hack/deps/mariadb.sh gives the test user.
func NewMySQLUser(t testing.TB, dbURL, privileges string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("%v: cannot parse the test database URL", ErrBadURL)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	suffix, err := randomName()
	if err != nil {
		t.Fatalf("naming test user: %v", err)
	}
	user := "km_" + strings.TrimPrefix(suffix, dbPrefix)
	pass := strings.TrimPrefix(suffix, dbPrefix) + "Pw"
	dsn, err := DSN(dbURL)
	if err != nil {
		t.Fatalf("test database URL: %v", err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("opening MariaDB: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	// Every host the test may connect from: a more specific host entry (an anonymous ''@'localhost') would
	// otherwise win over '%'.
	hosts := []string{"localhost", "127.0.0.1", "%"}
	t.Cleanup(func() {
		defer db.Close()
		for _, h := range hosts {
			if _, err := db.ExecContext(context.Background(), "DROP USER IF EXISTS '"+user+"'@'"+h+"'"); err != nil {
				t.Errorf("dropping test user %s@%s: %v", user, h, err)
			}
		}
	})
	for _, h := range hosts {
		if _, err := db.ExecContext(ctx, "CREATE USER '"+user+"'@'"+h+"' IDENTIFIED BY '"+pass+"'"); err != nil {
			Require(t, "MariaDB test user with CREATE USER (re-run hack/test-deps.sh as root)",
				fmt.Errorf("creating a test user: %w", err))
			return ""
		}
		if _, err := db.ExecContext(ctx, "GRANT "+privileges+" ON `"+GrantPattern(dbName)+"`.* TO '"+user+"'@'"+h+"'"); err != nil {
			Require(t, "MariaDB test user with GRANT OPTION (re-run hack/test-deps.sh as root)",
				fmt.Errorf("granting %s to a test user: %w", privileges, err))
			return ""
		}
	}
	u.User = url.UserPassword(user, pass)
	return u.String()
}

// GrantPattern escapes the wildcards of a database name for GRANT … ON `name`.*: unescaped, `_` matches any
// character, and a grantor whose own grant is a pattern (`keymanager\_%`) may not grant on a broader one.
func GrantPattern(dbName string) string {
	return strings.NewReplacer(`_`, `\_`, `%`, `\%`).Replace(dbName)
}
