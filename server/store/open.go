package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// sqliteBusyTimeout bounds how long a connection waits for a lock held by
// another process (e.g. a reference Barbican on the same file) before the
// request fails with ErrUnavailable.
const sqliteBusyTimeout = 5 * time.Second

func sqliteDSN(path string, params url.Values) string {
	return "file:" + path + "?" + params.Encode()
}

func (db *DB) openSQLite(ctx context.Context, t target, opts Options) error {
	sync := strings.ToUpper(opts.SQLiteSynchronous)
	if sync != "FULL" && sync != "NORMAL" {
		return fmt.Errorf("open %s: SQLiteSynchronous must be FULL or NORMAL, not %q", t.redacted, opts.SQLiteSynchronous)
	}
	common := url.Values{}
	common.Set("_foreign_keys", "1")
	common.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))

	memory := t.path == ":memory:"
	w := url.Values{}
	for k, v := range common {
		w[k] = v
	}
	// BEGIN IMMEDIATE takes the write lock up front, so a batch never fails
	// half-way on a lock upgrade when another process writes too.
	w.Set("_txlock", "immediate")
	w.Set("_synchronous", sync)
	path := t.path
	if memory {
		// One connection serves reads and writes: separate connections to
		// ":memory:" would be separate databases.
		path = ":memory:"
	} else {
		w.Set("_journal_mode", "WAL")
	}
	registerSQLiteDrivers()
	writerSQL, err := sql.Open(sqliteWriterDriver, sqliteDSN(path, w))
	if err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, err)
	}
	db.sqlDBs = append(db.sqlDBs, writerSQL)
	writerSQL.SetMaxOpenConns(1)
	writerSQL.SetMaxIdleConns(1)
	writerSQL.SetConnMaxLifetime(0)
	writerSQL.SetConnMaxIdleTime(0)
	if err := writerSQL.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, classify(err))
	}
	// Each write runs in a savepoint, and SQLite keeps savepoint journals in
	// temporary files unless told otherwise; memory is much cheaper. The
	// writer's single connection is never recycled, so the pragma sticks.
	if _, err := writerSQL.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, classify(err))
	}
	// The writer keeps its own statements prepared across transactions (writerStmts); gorm's cache cannot.
	writerConfig := gormConfig(DialectSQLite)
	writerConfig.PrepareStmt = false
	writer, err := gorm.Open(sqlite.Dialector{Conn: writerSQL}, writerConfig)
	if err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, err)
	}
	db.writer = writer
	db.reader = writer
	db.readSQL = writerSQL
	if !memory {
		r := url.Values{}
		for k, v := range common {
			r[k] = v
		}
		// Readers never write; query_only turns a mistake into an error
		// instead of a second writer that bypasses group commit.
		r.Set("_query_only", "1")
		readerSQL, err := sql.Open(sqliteDriver, sqliteDSN(path, r))
		if err != nil {
			return fmt.Errorf("open %s: %w", t.redacted, err)
		}
		db.sqlDBs = append(db.sqlDBs, readerSQL)
		readerSQL.SetMaxOpenConns(opts.MaxOpenConns)
		readerSQL.SetMaxIdleConns(opts.MaxOpenConns)
		readerSQL.SetConnMaxIdleTime(0)
		reader, err := gorm.Open(sqlite.Dialector{Conn: readerSQL}, gormConfig(DialectSQLite))
		if err != nil {
			return fmt.Errorf("open %s: %w", t.redacted, err)
		}
		db.reader = reader
		db.readSQL = readerSQL

		cpSQL, err := sql.Open(sqliteDriver, sqliteDSN(path, common))
		if err != nil {
			return fmt.Errorf("open %s: %w", t.redacted, err)
		}
		db.sqlDBs = append(db.sqlDBs, cpSQL)
		cpSQL.SetMaxOpenConns(1)
		db.checkpoints = newCheckpointer(cpSQL, db.log)
	}
	db.gc = newGroupCommitter(writer, writerSQL, opts.MaxBatch, db.log)
	if db.checkpoints != nil {
		db.gc.afterCommit = db.checkpoints.committed
	}
	return nil
}

func (db *DB) openMySQL(ctx context.Context, t target, opts Options) error {
	cfg := t.mysql.Clone()
	mariadb, err := isMariaDB(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, classify(err))
	}
	if mariadb {
		// MariaDB caches the results of correlated sub-selects in a temporary table per sub-select and query.
		// The secret reads' sub-selects are keyed by a secret id that never repeats within a query, so the cache
		// only costs: a list page runs a third faster without it. (MySQL has no such cache, nor the setting.)
		cfg.Params = maps.Clone(cfg.Params)
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["optimizer_switch"] = "'subquery_cache=off'"
		// Index statistics instead of index dives (eq_range_index_dive_limit = 1) and index-only selectivity
		// (optimizer_use_condition_selectivity = 1) were tried: each statement planned a little faster alone,
		// yet MariaDB spent a third more CPU per request of the 8-client mix, interleaved runs against the
		// defaults. The defaults stay.
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, err)
	}
	sqlDB := sql.OpenDB(connector)
	db.sqlDBs = append(db.sqlDBs, sqlDB)
	sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
	sqlDB.SetMaxIdleConns(opts.MaxOpenConns)
	// Below MariaDB's default wait_timeout, so idle connections are recycled
	// by us rather than cut by the server.
	sqlDB.SetConnMaxLifetime(time.Hour)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, classify(err))
	}
	g, err := gorm.Open(gormmysql.New(gormmysql.Config{Conn: sqlDB, SkipInitializeWithVersion: true}), gormConfig(DialectMySQL))
	if err != nil {
		return fmt.Errorf("open %s: %w", t.redacted, err)
	}
	db.reader = g
	db.readSQL = sqlDB
	return nil
}

// isMariaDB asks the server its version over a connection of its own.
func isMariaDB(ctx context.Context, cfg *mysql.Config) (bool, error) {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return false, err
	}
	probe := sql.OpenDB(connector)
	defer probe.Close()
	var version string
	if err := probe.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return false, err
	}
	return strings.Contains(strings.ToLower(version), "mariadb"), nil
}
