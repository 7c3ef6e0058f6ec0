package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Tx is the one handle repository code works through: every read and write of the store is a method on it, so
// a check and the write it guards (a container's secret references, a quota, an order's state) share one
// transaction. gorm never leaves this package.
//
// A Tx comes either from DB.Write, where it is a write transaction that is durably committed before Write
// returns, or from DB.Read, where each statement runs on its own on the reader pool (no transaction: the hot
// read paths pay for no BEGIN/COMMIT) and write methods fail.
type Tx struct {
	db       *DB
	g        *gorm.DB // bound to the context; a transaction when writable
	ctx      context.Context
	now      time.Time
	writable bool
	// committed runs after the transaction commits, in the caller's goroutine (caches learn only what is durable).
	committed []func()
	// cachedProjects are the external ids whose internal ids EnsureProject took from the cache.
	cachedProjects []string
	// sqlTx is the SQLite writer's transaction, for the statements it keeps prepared (writerStmts).
	sqlTx *sql.Tx
}

// errReadOnly is returned by write methods of a Tx from DB.Read: a programming error, not a request's.
var errReadOnly = errors.New("store: write through a read-only handle")

// Read returns a read-only handle on the reader pool. On SQLite the context's cancellation is dropped:
// mattn/go-sqlite3 steps every row in a new goroutine when the context can be cancelled, to be able to interrupt
// it. SQLite reads here are index lookups of a few rows: cancelling them buys nothing, and the goroutine per row
// cost a tenth of a list request's CPU.
func (db *DB) Read(ctx context.Context) *Tx {
	ctx = db.readContext(ctx)
	return &Tx{db: db, g: db.reader.WithContext(ctx), ctx: ctx, now: db.clock()}
}

// newWriteTx wraps a gorm transaction for one write function.
func (db *DB) newWriteTx(ctx context.Context, g *gorm.DB) *Tx {
	return &Tx{db: db, g: g, ctx: ctx, now: db.clock(), writable: true}
}

// Now is the time this handle was opened, from the store's clock: what "now" means for expiry checks and the
// timestamps the store stamps itself.
func (tx *Tx) Now() time.Time { return tx.now }

// Dialect returns "sqlite" or "mysql".
func (tx *Tx) Dialect() string { return tx.db.dialect }

// AfterCommit registers f to run once the transaction has committed; it never runs if the transaction fails.
// On a read-only handle f runs at once (there is nothing to wait for).
func (tx *Tx) AfterCommit(f func()) {
	if !tx.writable {
		f()
		return
	}
	tx.committed = append(tx.committed, f)
}

func (tx *Tx) runCommitted() {
	for _, f := range tx.committed {
		f()
	}
}

// writing guards the write methods.
func (tx *Tx) writing(what string) error {
	if !tx.writable {
		return fmt.Errorf("%s: %w", what, errReadOnly)
	}
	return nil
}

// time is t at the precision the database keeps (see dbTime).
func (tx *Tx) time(t time.Time) time.Time { return dbTime(tx.g, t) }

// stamp is formatTime(tx.time(t)): the bind value of a timestamp column.
func (tx *Tx) stamp(t time.Time) string { return formatTime(tx.time(t)) }

// exec runs a statement that changes rows and returns how many it changed.
func (tx *Tx) exec(query string, args ...any) (int64, error) {
	if tx.sqlTx != nil {
		if n, ok, err := tx.db.gc.stmts.exec(tx.ctx, tx.sqlTx, query, args); ok {
			return n, classify(err)
		}
	}
	res := tx.g.Exec(query, args...)
	return res.RowsAffected, classify(res.Error)
}

// queryFixed runs a hand-scanned query whose text comes from a closed set of hot-path statements (a secret by
// id, with or without its payload and consumers; a project's unfiltered list page in the default order): on a read-only handle through a statement prepared once for
// the reader pool, inside a transaction through its connection. Texts built from request input (list filters and
// sorts) go through query instead, so the hand-kept statement cache stays bounded.
func (tx *Tx) queryFixed(query string, args ...any) (*sql.Rows, error) {
	if tx.writable {
		return tx.query(query, args...)
	}
	rows, err := tx.db.queryPrepared(tx.ctx, query, args...)
	return rows, classify(err)
}

// query runs a hand-scanned query through gorm, whose statement cache is a bounded LRU (gormConfig).
func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	rows, err := tx.g.Raw(query, args...).Rows()
	return rows, classify(err)
}

// scan runs a query through gorm and scans every row into dest (a pointer to a slice or a value).
func (tx *Tx) scan(dest any, query string, args ...any) error {
	return classify(tx.g.Raw(query, args...).Scan(dest).Error)
}

// count runs a query returning one integer.
func (tx *Tx) count(query string, args ...any) (int, error) {
	var n int64
	if err := tx.scan(&n, query, args...); err != nil {
		return 0, err
	}
	return int(n), nil
}

// insert creates rows through gorm (value: a pointer to a model or to a slice of them).
func (tx *Tx) insert(value any) error {
	return classify(tx.g.Create(value).Error)
}
