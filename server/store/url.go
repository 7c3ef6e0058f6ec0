package store

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// target is a parsed database URL.
type target struct {
	dialect  string
	path     string        // sqlite file path or ":memory:"
	mysql    *mysql.Config // contains the password
	redacted string        // for errors and logs
}

// parseURL understands SQLAlchemy-style URLs (as found in barbican.conf) and
// bare SQLite file paths. Errors never contain the password.
func parseURL(raw string) (target, error) {
	if raw == "" {
		return target{}, fmt.Errorf("empty database url")
	}
	scheme, rest, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		return target{dialect: DialectSQLite, path: raw, redacted: raw}, nil
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		rest, _, _ = strings.Cut(rest, "?")
		// SQLAlchemy reads four slashes as an absolute path and three as a
		// relative one; keymanager documents three slashes with an absolute
		// path, so both forms mean an absolute path here.
		path := rest
		if strings.HasPrefix(path, "//") {
			path = path[1:]
		}
		if path == "/:memory:" || path == "" || path == "/" {
			path = ":memory:"
		}
		return target{dialect: DialectSQLite, path: path, redacted: "sqlite://" + rest}, nil
	case "mysql", "mysql+pymysql", "mysql+mysqldb", "mariadb", "mariadb+pymysql":
		return parseMySQLURL(raw)
	default:
		return target{}, fmt.Errorf("unsupported database url scheme %q", scheme)
	}
}

func parseMySQLURL(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return target{}, fmt.Errorf("unparsable mysql database url")
	}
	redacted := u.Redacted()
	user := u.User.Username()
	pass, _ := u.User.Password()
	dbName := strings.TrimPrefix(u.Path, "/")
	if dbName == "" {
		return target{}, fmt.Errorf("database url %s: missing database name", redacted)
	}
	q := u.Query()
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = pass
	cfg.DBName = dbName
	if sock := q.Get("unix_socket"); sock != "" {
		cfg.Net, cfg.Addr = "unix", sock
	} else {
		host := u.Hostname()
		if host == "" {
			host = "127.0.0.1"
		}
		port := u.Port()
		if port == "" {
			port = "3306"
		}
		cfg.Net, cfg.Addr = "tcp", host+":"+port
	}
	charset := q.Get("charset")
	if charset == "" || charset == "utf8" {
		// utf8 in pymysql means MySQL's 3-byte utf8; utf8mb4 reads it fine
		// and stores anything Python could send.
		charset = "utf8mb4"
	}
	// Other pymysql options (read_default_file, ssl_*, …) have no direct
	// equivalent and would be sent as session variables by the Go driver.
	if err := cfg.Apply(mysql.Charset(charset, "")); err != nil {
		return target{}, fmt.Errorf("database url %s: %w", redacted, err)
	}
	// Arguments are interpolated into the statement text by the driver (safe with these charsets, which it
	// checks), so that every statement is one round trip. Without it each statement with arguments costs a
	// prepare, an execute and a close; and prepared statements do not survive a transaction, so caching them
	// (gorm's PrepareStmt) still re-prepared every statement of every write transaction -- a third of all
	// round trips to MariaDB under the mixed load.
	switch strings.ToLower(charset) {
	case "utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary":
		cfg.InterpolateParams = true
	}
	cfg.ParseTime = true
	// Report matched rather than changed rows, so that an UPDATE writing the
	// values a row already has is not mistaken for a missing row.
	cfg.ClientFoundRows = true
	cfg.Loc = time.UTC
	cfg.Timeout = 10 * time.Second
	return target{dialect: DialectMySQL, mysql: cfg, redacted: redacted}, nil
}
