package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// SQLite connection settings that mattn's DSN cannot express are applied by connect hooks of two registered
// drivers: one for readers and the checkpointer, one for the single writer.
const (
	sqliteDriver       = "sqlite3_keymanager"
	sqliteWriterDriver = "sqlite3_keymanager_writer"
)

// connectPragmas: temporary B-trees (ORDER BY in sub-selects) in memory rather than in temp files, and a 32 MiB
// page cache per connection. The database is not memory-mapped: under writes a map costs more than it saves.
// When a reader connection starts a transaction after any other connection committed, SQLite drops its whole
// page cache and, with a map, unmaps the whole file too (pagerBeginReadTransaction), so that the next reads
// fault the map back in page by page, with TLB shootdowns on every CPU. Reads under load fetch most pages
// afresh either way. Measured with the 8-client mix on SQLite: munmap and the page faults took 8% of the
// server's CPU, and plain reads (pread) served a third more requests together with the longer
// checkpointInterval.
const connectPragmas = "PRAGMA mmap_size = 0; PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;"

var registerDrivers sync.Once

func registerSQLiteDrivers() {
	registerDrivers.Do(func() {
		sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return setUpSQLiteConn(c, connectPragmas)
		}})
		// The writer never checkpoints inside COMMIT: copying WAL frames back into the database and syncing it
		// would stall every write of the batch. The checkpointer does it on its own connection instead.
		sql.Register(sqliteWriterDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return setUpSQLiteConn(c, connectPragmas+" PRAGMA wal_autocheckpoint = 0;")
		}})
	})
}

// setUpSQLiteConn applies pragmas and registers MariaDB's default comparison (see collation.go). Queries name
// them explicitly; the schema never does, so the database stays one that any SQLite, and the reference, opens.
func setUpSQLiteConn(c *sqlite3.SQLiteConn, pragmas string) error {
	if _, err := c.Exec(pragmas, nil); err != nil {
		return fmt.Errorf("sqlite pragmas: %w", err)
	}
	if err := c.RegisterCollation(sqliteGeneralCI, compareGeneralCI); err != nil {
		return fmt.Errorf("sqlite collation %s: %w", sqliteGeneralCI, err)
	}
	if err := c.RegisterFunc(sqliteLikeCI, likeGeneralCI, true); err != nil {
		return fmt.Errorf("sqlite function %s: %w", sqliteLikeCI, err)
	}
	return nil
}

// checkpointInterval is the shortest time between two checkpoints: commits in between are copied back together
// (each checkpoint copies the pages hot under writes, index leaves and page 1, again and syncs the database
// file), so a second rather than a tenth of one. The WAL it leaves behind meanwhile is bounded by restartFrames.
const checkpointInterval = time.Second

// restartFrames is the WAL length (in pages) past which the checkpointer restarts the WAL. Passive checkpoints
// copy frames back but never rewind the WAL while readers use it, and a server under load always has readers: the
// WAL then grows without bound and every page lookup of every reader searches more of its index (seen: 174 MB of
// WAL for a 7 MB database after 15 s of load, reads 3x slower). A RESTART checkpoint waits for the readers of
// the moment (sub-millisecond) to finish and holds back the writer meanwhile, so the next commit starts the WAL
// from its beginning.
const restartFrames = 2000

// checkpointer runs passive WAL checkpoints on its own connection after commits, so that the WAL stays short
// without the writer paying for it. A passive checkpoint never blocks readers or the writer.
type checkpointer struct {
	conn *sql.DB
	log  *slog.Logger
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newCheckpointer(conn *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{conn: conn, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer that the WAL grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			c.checkpoint("TRUNCATE")
			return
		case <-c.kick:
		}
		if frames := c.checkpoint("PASSIVE"); frames >= restartFrames {
			c.checkpoint("RESTART")
		}
		select {
		case <-c.stop:
			c.checkpoint("TRUNCATE")
			return
		case <-time.After(checkpointInterval):
		}
	}
}

// checkpoint runs one checkpoint and returns the number of frames in the WAL.
func (c *checkpointer) checkpoint(mode string) int {
	var busy, logFrames, copied int
	err := c.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &copied)
	if err != nil {
		c.log.Warn("SQLite WAL checkpoint failed", slog.String("mode", mode), slog.Any("error", err))
	}
	return logFrames
}

func (c *checkpointer) close() {
	close(c.stop)
	<-c.done
}
