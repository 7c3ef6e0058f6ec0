package store

import (
	"context"
	"database/sql"
	"reflect"
)

// writerStmts keeps the SQLite writer's statements prepared across transactions. A statement prepared inside a
// transaction dies with it (database/sql closes it at COMMIT), so gorm's statement cache re-prepared every
// statement of every write batch: a prepare per INSERT and per SAVEPOINT on the single writer, the one place
// every write waits for. Texts met inside a batch are prepared on the writer connection once the batch is
// over (the connection is free then), and later batches execute them through Tx.StmtContext, which reuses a
// statement prepared on the transaction's own connection. Only the writer goroutine touches it.
type writerStmts struct {
	conn    *sql.DB
	stmts   map[string]*sql.Stmt
	pending map[string]bool
}

// maxWriterStmts bounds the cache: write texts are a fixed set, but one built from input (a list of ids of
// varying length) must not grow it without end.
const maxWriterStmts = 64

func newWriterStmts(conn *sql.DB) *writerStmts {
	return &writerStmts{conn: conn, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// exec runs query in sqlTx through its prepared statement; ok is false when there is none yet (the text is
// noted, to be prepared after the batch) or when an argument needs gorm's expansion (a slice).
func (w *writerStmts) exec(ctx context.Context, sqlTx *sql.Tx, query string, args []any) (n int64, ok bool, err error) {
	if w == nil || sqlTx == nil {
		return 0, false, nil
	}
	for _, a := range args {
		if a != nil && reflect.TypeOf(a).Kind() == reflect.Slice {
			if _, bytes := a.([]byte); !bytes {
				return 0, false, nil
			}
		}
	}
	st, found := w.stmts[query]
	if !found {
		if len(w.stmts)+len(w.pending) < maxWriterStmts {
			w.pending[query] = true
		}
		return 0, false, nil
	}
	res, err := sqlTx.StmtContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return 0, true, err
	}
	n, err = res.RowsAffected()
	return n, true, err
}

// prepareNoted prepares the texts noted during the last batch, on the writer connection (free between batches).
// A text that fails to prepare is dropped: it keeps running unprepared.
func (w *writerStmts) prepareNoted(ctx context.Context) {
	for q := range w.pending {
		if st, err := w.conn.PrepareContext(ctx, q); err == nil {
			w.stmts[q] = st
		}
		delete(w.pending, q)
	}
}

func (w *writerStmts) close() {
	for q, st := range w.stmts {
		_ = st.Close()
		delete(w.stmts, q)
	}
}
