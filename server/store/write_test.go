package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
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
				errs[i] = db.Write(ctx, func(tx *gorm.DB) error {
					s := Secret{ProjectID: pid, Name: ptr(fmt.Sprint(i))}
					if err := CreateSecret(tx, &s, nil, nil); err != nil {
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
		err := db.Write(ctx, func(tx *gorm.DB) error { panic("kaboom") })
		if err == nil {
			t.Errorf("a panicking fn should fail with an error")
		}
		if err := db.Write(ctx, func(tx *gorm.DB) error { return nil }); err != nil {
			t.Errorf("the writer should survive a panic: %v", err)
		}
	})
}

func TestWriteHonoursCancelledContext(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		err := db.Write(ctx, func(tx *gorm.DB) error { ran = true; return nil })
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
		_ = db.Write(context.Background(), func(tx *gorm.DB) error {
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
		done <- db.Write(ctx, func(tx *gorm.DB) error { ran <- struct{}{}; return nil })
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a write cancelled while queued should return ctx.Err(), got %v", err)
	}
	close(release)
	if err := db.Write(context.Background(), func(tx *gorm.DB) error { return nil }); err != nil {
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
	if err := db.Write(context.Background(), func(tx *gorm.DB) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close should be ErrClosed, got %v", err)
	}
	db2 := openRaw(t, "sqlite://"+path)
	v, err := db2.Secret(context.Background(), s.ID, time.Now(), LoadOptions{})
	if err != nil || deref(v.Name) != "kept" {
		t.Fatalf("acknowledged write should survive reopen: %+v %v", v, err)
	}
}

func TestEnsureProjectIsRaceSafe(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, err := db.ProjectID(ctx, "race"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown project should be ErrNotFound, got %v", err)
		}
		ids := make([]string, 16)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				id, err := db.EnsureProject(ctx, "race")
				if err != nil {
					t.Errorf("EnsureProject: %v", err)
				}
				ids[i] = id
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
	})
}
