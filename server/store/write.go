package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// mysqlWriteAttempts bounds how often a MariaDB transaction is re-run after a
// deadlock or lock-wait timeout.
const mysqlWriteAttempts = 4

// Write runs fn in a write transaction and returns only after the transaction
// is durably committed (or failed); then it runs what fn registered with
// Tx.AfterCommit. fn may run more than once on MariaDB (deadlock retry), so it
// must not have side effects outside tx.
//
// On SQLite, concurrent calls are grouped into one transaction, each fn in its
// own SAVEPOINT: a failing fn is rolled back alone and gets its own error,
// and a failed COMMIT fails every fn of the batch. ctx is honoured while the
// call waits to be scheduled; once fn has run, Write waits for the outcome.
//
// A write that used a cached project id which no longer names a row (a `manage db clean` removed the project)
// fails on its foreign key; Write then forgets the cached ids it used and runs fn once more.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	if db.gc != nil {
		for attempt := 1; ; attempt++ {
			tx, err := db.gc.write(ctx, db, fn)
			if err == nil {
				tx.runCommitted()
				return nil
			}
			if attempt > 1 || !tx.forgetStaleProjects(err) {
				return err
			}
		}
	}
	var err error
	for attempt := 1; attempt <= mysqlWriteAttempts; attempt++ {
		var tx *Tx
		err = db.reader.WithContext(ctx).Transaction(func(g *gorm.DB) error {
			tx = db.newWriteTx(ctx, g)
			return callSafely(fn, tx)
		})
		if err == nil {
			tx.runCommitted()
			return nil
		}
		if (!isRetryable(err) && !tx.forgetStaleProjects(err)) || ctx.Err() != nil {
			break
		}
		db.log.DebugContext(ctx, "Retrying transaction", slog.Int("attempt", attempt))
	}
	return classify(err)
}

// Request states: the caller and the writer race to move a queued request to
// cancelled or running; whoever wins decides whether fn runs.
const (
	reqQueued int32 = iota
	reqRunning
	reqCancelled
)

type writeReq struct {
	ctx   context.Context
	db    *DB
	fn    func(tx *Tx) error
	tx    *Tx // the handle fn ran with, set by the writer before done is sent
	state atomic.Int32
	done  chan error // buffered(1)
}

// groupCommitter owns the single SQLite writer connection.
type groupCommitter struct {
	db       *gorm.DB
	stmts    *writerStmts
	maxBatch int
	log      *slog.Logger

	// afterCommit, when set, is called after every successful commit (the checkpointer's kick).
	afterCommit func()

	queue   chan *writeReq
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newGroupCommitter(db *gorm.DB, conn *sql.DB, maxBatch int, log *slog.Logger) *groupCommitter {
	gc := &groupCommitter{
		db:       db,
		stmts:    newWriterStmts(conn),
		maxBatch: maxBatch,
		log:      log,
		queue:    make(chan *writeReq, 4*maxBatch),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go gc.run()
	return gc
}

// write queues fn and waits for its outcome; on success it returns the handle fn ran with.
func (gc *groupCommitter) write(ctx context.Context, db *DB, fn func(tx *Tx) error) (*Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-gc.closing:
		return nil, ErrClosed
	default:
	}
	req := &writeReq{ctx: ctx, db: db, fn: fn, done: make(chan error, 1)}
	select {
	case gc.queue <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-gc.closing:
		return nil, ErrClosed
	}
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqCancelled) {
			return nil, ctx.Err()
		}
		// fn already runs inside a batch: its fate is the batch's.
		err = <-req.done
	case <-gc.stopped:
		// Enqueued while Close ran: the writer is gone and cannot answer.
		if req.state.CompareAndSwap(reqQueued, reqCancelled) {
			return nil, ErrClosed
		}
		err = <-req.done
	}
	return req.tx, err
}

func (gc *groupCommitter) close() {
	gc.once.Do(func() { close(gc.closing) })
	<-gc.stopped
}

func (gc *groupCommitter) run() {
	defer close(gc.stopped)
	defer gc.stmts.close()
	batch := make([]*writeReq, 0, gc.maxBatch)
	for {
		batch = batch[:0]
		select {
		case req := <-gc.queue:
			batch = append(batch, req)
		case <-gc.closing:
			gc.drain()
			return
		}
		// Whatever queued up while the previous commit was syncing joins
		// this batch; nothing waits for more to arrive.
	fill:
		for len(batch) < gc.maxBatch {
			select {
			case req := <-gc.queue:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		gc.commit(batch)
	}
}

// drain fails requests still queued at close.
func (gc *groupCommitter) drain() {
	for {
		select {
		case req := <-gc.queue:
			req.done <- ErrClosed
		default:
			return
		}
	}
}

// commit runs one batch. Every request in batch receives exactly one result.
func (gc *groupCommitter) commit(batch []*writeReq) {
	running := batch[:0:0]
	for _, req := range batch {
		if req.state.CompareAndSwap(reqQueued, reqRunning) {
			running = append(running, req)
		}
		// Cancelled requests have already returned to their callers.
	}
	if len(running) == 0 {
		return
	}
	results := make([]error, len(running))
	tx := gc.db.Session(&gorm.Session{NewDB: true, Context: context.Background()}).Begin()
	if tx.Error != nil {
		err := fmt.Errorf("begin write transaction: %w", classify(tx.Error))
		for _, req := range running {
			req.done <- err
		}
		return
	}
	broken := error(nil)
	for i, req := range running {
		if broken != nil {
			results[i] = broken
			continue
		}
		results[i], broken = gc.runOne(tx, req)
	}
	var commitErr error
	if broken != nil {
		_ = tx.Rollback().Error
		commitErr = broken
	} else if err := tx.Commit().Error; err != nil {
		commitErr = fmt.Errorf("commit write transaction: %w", classify(err))
		gc.log.Error("Write batch commit failed", slog.Int("writes", len(running)), slog.Any("error", err))
	} else if gc.afterCommit != nil {
		gc.afterCommit()
	}
	for i, req := range running {
		if commitErr != nil && results[i] == nil {
			results[i] = commitErr
		}
		req.done <- results[i]
	}
	gc.stmts.prepareNoted(context.Background())
}

// runOne runs one fn inside its savepoint. It returns fn's own error, and a
// non-nil broken error when the enclosing transaction can no longer be
// trusted (the savepoint could not be rolled back or released).
func (gc *groupCommitter) runOne(tx *gorm.DB, req *writeReq) (fnErr, broken error) {
	const sp = "km_write"
	sqlTx, _ := tx.Statement.ConnPool.(*sql.Tx)
	exec := func(q string) error {
		if _, ok, err := gc.stmts.exec(context.Background(), sqlTx, q, nil); ok {
			return err
		}
		return tx.Exec(q).Error
	}
	if err := exec("SAVEPOINT " + sp); err != nil {
		err = fmt.Errorf("write savepoint: %w", classify(err))
		return err, err
	}
	// fn must not be cut short by its caller's cancellation: interrupting a
	// statement can roll back the whole shared transaction.
	fnCtx := context.WithoutCancel(req.ctx)
	req.tx = req.db.newWriteTx(fnCtx, tx.Session(&gorm.Session{NewDB: true, Context: fnCtx}))
	req.tx.sqlTx = sqlTx
	fnErr = callSafely(req.fn, req.tx)
	if fnErr != nil {
		if err := exec("ROLLBACK TO SAVEPOINT " + sp); err != nil {
			err = fmt.Errorf("write batch aborted: %w", classify(err))
			return classify(fnErr), err
		}
	}
	if err := exec("RELEASE SAVEPOINT " + sp); err != nil {
		err = fmt.Errorf("write batch aborted: %w", classify(err))
		return err, err
	}
	return classify(fnErr), nil
}

// callSafely turns a panic in fn into an error so that one bad request cannot
// stop the writer goroutine.
func callSafely(fn func(tx *Tx) error, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value is not included: it may hold request data.
			err = fmt.Errorf("write function panicked (%T)", r)
		}
	}()
	return fn(tx)
}
