package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestWriteGroupsConcurrentWriters(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		f, pid := newFixture(t, db, "gc")
		const writers = 64
		errBoom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				errs[i] = db.Write(ctx, func(tx *Tx) error {
					s := Secret{ProjectID: pid, Name: ptr(fmt.Sprint(i))}
					if err := tx.CreateSecret(&s, testPayload(nil, nil)); err != nil {
						return err
					}
					if i%8 == 0 {
						return errBoom // after writing: the savepoint must undo it
					}
					return nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if i%8 == 0 && !errors.Is(err, errBoom) {
				t.Errorf("writer %d should get its own error, got %v", i, err)
			}
			if i%8 != 0 && err != nil {
				t.Errorf("writer %d should succeed despite failing neighbours, got %v", i, err)
			}
		}
		if n := checkCounter(t, db, pid); n != writers-writers/8 {
			t.Errorf("exactly the successful writes should be committed: %d rows", n)
		}
		_ = f
		err := db.Write(ctx, func(tx *Tx) error { panic("kaboom") })
		if err == nil {
			t.Errorf("a panicking fn should fail with an error")
		}
		if err := db.Write(ctx, func(tx *Tx) error { return nil }); err != nil {
			t.Errorf("the writer should survive a panic: %v", err)
		}
	})
}

func TestWriteHonoursCancelledContext(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		err := db.Write(ctx, func(tx *Tx) error { ran = true; return nil })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("a cancelled write should not run: err %v ran %v", err, ran)
		}
	})
}

func TestWriteCancelWhileQueued(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "km.db"))
	// Hold the writer inside a batch so the next request stays queued.
	entered, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.Write(context.Background(), func(tx *Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	ran := make(chan struct{}, 1)
	go func() {
		done <- db.Write(ctx, func(tx *Tx) error { ran <- struct{}{}; return nil })
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a write cancelled while queued should return ctx.Err(), got %v", err)
	}
	close(release)
	if err := db.Write(context.Background(), func(tx *Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Fatalf("a write cancelled before scheduling must not run")
	default:
	}
}

func TestWriteIsDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "durable.db")
	db := openTestDB(t, path)
	f, pid := newFixture(t, db, "durable")
	s := f.secret(pid, Secret{Name: ptr("kept")}, "text/plain")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(context.Background(), func(tx *Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close should be ErrClosed, got %v", err)
	}
	db2 := openRaw(t, "sqlite://"+path)
	v, err := readAt(db2, time.Now()).Secret(s.ID, LoadOptions{})
	if err != nil || deref(v.Name) != "kept" {
		t.Fatalf("acknowledged write should survive reopen: %+v %v", v, err)
	}
}

func TestEnsureProjectIsRaceSafe(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, err := db.Read(ctx).ProjectID("race"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown project should be ErrNotFound, got %v", err)
		}
		ids := make([]string, 16)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				// Each creator also writes a row of its own in the same transaction: the project row must join it.
				err := db.Write(ctx, func(tx *Tx) error {
					id, err := tx.EnsureProject("race")
					if err != nil {
						return err
					}
					ids[i] = id
					return tx.CreateSecret(&Secret{ProjectID: id}, nil)
				})
				if err != nil {
					t.Errorf("EnsureProject: %v", err)
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("all callers should get one project id, got %v", ids)
			}
		}
		var n int64
		db.reader.Raw("SELECT COUNT(*) FROM projects WHERE external_id = 'race'").Scan(&n)
		if n != 1 {
			t.Fatalf("exactly one project row should exist, found %d", n)
		}
		if live := checkCounter(t, db, ids[0]); live != int64(len(ids)) {
			t.Fatalf("every creator's secret should be committed under the one project, found %d", live)
		}
	})
}
