// Package store is keymanager's persistence layer: gorm models with the
// reference Barbican's table and column names, versioned migrations that
// produce (or take over) Barbican's schema, a durable write path with group
// commit on SQLite, and the repository functions the API codes against.
//
// Repository code works through one handle, Tx: DB.Write hands out a write
// transaction, DB.Read a read-only handle on the reader pool, and every read
// and write is a method of Tx, so a check and the write it guards share one
// transaction. gorm stays inside this package; the store holds no business
// rules.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound means the row does not exist, is soft-deleted or (secrets)
	// has expired.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule was violated.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database cannot serve the request right now
	// (connection refused, pool exhausted, lock timeouts); the API answers 503.
	ErrUnavailable = errors.New("database unavailable")
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("store closed")
	// ErrInvalid means a value can never be stored (an id longer than its
	// column); the API answers 400.
	ErrInvalid = errors.New("value cannot be stored")
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite = "sqlite"
	DialectMySQL  = "mysql"
)

// NewID returns a new random (version 4) UUID string, Barbican's id format.
func NewID() string {
	return uuid.NewString()
}

// Options tune Open. The zero value is a good default.
type Options struct {
	// MaxOpenConns is the MariaDB pool size or the SQLite reader pool size.
	// Default 2*GOMAXPROCS+2.
	MaxOpenConns int
	// SQLiteSynchronous is "FULL" (default: every acknowledged write survives
	// power loss) or "NORMAL" (survives process crashes only).
	SQLiteSynchronous string
	// MaxBatch caps the writes grouped into one SQLite commit. Default 128.
	MaxBatch int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock (UTC) for the timestamps the store stamps itself and for expiry checks; nil is the system
	// clock. The server passes the same clock to the API and the secret stores.
	Now func() time.Time
}

// SystemClock is the default clock: the system time in UTC.
func SystemClock() time.Time { return time.Now().UTC() }

func (o *Options) setDefaults() {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 2*runtime.GOMAXPROCS(0) + 2
	}
	if o.SQLiteSynchronous == "" {
		o.SQLiteSynchronous = "FULL"
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 128
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = SystemClock
	}
}

// DB is an open keymanager database.
type DB struct {
	dialect string
	url     string // redacted, for messages
	log     *slog.Logger
	clock   func() time.Time

	// reader serves reads. On MySQL it is also the writer; on SQLite it is a
	// separate pool of read-only connections.
	reader *gorm.DB
	// writer is the dedicated SQLite writer connection (nil on MySQL).
	writer *gorm.DB
	sqlDBs []*sql.DB
	// readSQL is the pool behind reader, for the hand-scanned hot queries; stmts caches their statements
	// (a closed set of texts, see prepared).
	readSQL *sql.DB
	stmts   sync.Map // query text -> *sql.Stmt
	nstmts  atomic.Int32

	gc          *groupCommitter // SQLite only
	checkpoints *checkpointer   // SQLite files only

	projects sync.Map // external id -> internal id

	// counterReady is true once keymanager_project_secret_counts exists;
	// before that (a database not yet upgraded) totals are counted by scan.
	counterReady atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// Dialect returns "sqlite" or "mysql".
func (db *DB) Dialect() string { return db.dialect }

// String returns the redacted database URL.
func (db *DB) String() string { return db.url }

// Open connects to the database named by url: "sqlite:///abs/path.db" (four
// slashes, as in barbican.conf, also work), "sqlite:///:memory:", a bare file
// path, "mysql://user:pass@host:port/db?charset=utf8" or Barbican's
// "mysql+pymysql://…" form. It does not migrate; call Upgrade.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	opts.setDefaults()
	target, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	db := &DB{dialect: target.dialect, url: target.redacted, log: opts.Logger, clock: opts.Now}
	switch target.dialect {
	case DialectSQLite:
		err = db.openSQLite(ctx, target, opts)
	default:
		err = db.openMySQL(ctx, target, opts)
	}
	if err != nil {
		_ = db.closeConns()
		return nil, err
	}
	if err := db.refreshSchemaState(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// gormConfig keeps gorm quiet: its logger would print SQL parameters, and
// parameters carry ciphertext and metadata. Transactions are ours.
//
// On SQLite statements are prepared once per connection and reused: parsing is a large share of a point
// query's cost there. The cache is a bounded LRU: statement texts built from request input (list filters and
// sorts) must not pile up prepared statements. On MariaDB gorm prepares nothing: the driver interpolates
// arguments (see parseURL), one round trip per statement, and no prepared statement counts against the
// server-wide max_prepared_stmt_count shared by every client of that server.
func gormConfig(dialect string) *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		PrepareStmt:            dialect == DialectSQLite,
		PrepareStmtMaxSize:     maxPreparedStatements,
		PrepareStmtTTL:         time.Hour,
	}
}

// maxPreparedStatements bounds gorm's statement cache per pool.
const maxPreparedStatements = 128

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.reader.DB()
	if err != nil {
		return fmt.Errorf("ping %s: %w", db.url, err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", db.url, classify(err))
	}
	return nil
}

// Close stops the writer (failing writes still queued with ErrClosed) and
// closes all connections.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.gc != nil {
			db.gc.close()
		}
		if db.checkpoints != nil {
			db.checkpoints.close()
		}
		db.closeErr = db.closeConns()
	})
	return db.closeErr
}

func (db *DB) closeConns() error {
	var errs []error
	for _, s := range db.sqlDBs {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", db.url, err)
	}
	return nil
}

// refreshSchemaState records which optional keymanager tables exist.
func (db *DB) refreshSchemaState(ctx context.Context) error {
	m := &migrator{dialect: db.dialect, g: db.reader}
	ok, err := db.counterStepApplied(ctx, m)
	if err != nil {
		return fmt.Errorf("open %s: %w", db.url, err)
	}
	db.counterReady.Store(ok)
	return nil
}
