package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestFailedGroupCommitAcknowledgesNothing makes the COMMIT of a SQLite batch fail (a write that breaks a
// deferred foreign key passes its savepoint, and only COMMIT checks it): every write of that batch, the
// innocent ones included, gets the error, and none of them is stored.
func TestFailedGroupCommitAcknowledgesNothing(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "km.db"))
	ctx := context.Background()
	pid := ensureProject(t, db, "commit")

	// A first write holds the writer so that the next two queue up and form one batch.
	release := make(chan struct{})
	held := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = db.Write(ctx, func(tx *Tx) error {
			close(held)
			<-release
			return nil
		})
	})
	<-held
	innocent := &Secret{ProjectID: pid, Name: ptr("innocent")}
	results := make(chan error, 2)
	wg.Go(func() {
		results <- db.Write(ctx, func(tx *Tx) error { return tx.CreateSecret(innocent, nil) })
	})
	wg.Go(func() {
		results <- db.Write(ctx, func(tx *Tx) error {
			if err := tx.g.Exec("PRAGMA defer_foreign_keys = ON").Error; err != nil {
				return err
			}
			// An orphan: its project does not exist; only the COMMIT notices.
			return tx.CreateSecret(&Secret{ProjectID: NewID(), Name: ptr("orphan")}, nil)
		})
	})
	waitQueued(t, db, 2)
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err == nil {
			t.Fatal("a write of a batch whose COMMIT failed was acknowledged")
		}
	}
	if _, err := db.Read(ctx).Secret(innocent.ID, LoadOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the innocent write must not be stored, got %v", err)
	}
	// The writer carries on.
	write(t, db, func(tx *Tx) error { return tx.CreateSecret(&Secret{ProjectID: pid}, nil) })
}

// waitQueued waits until n writes wait in the SQLite writer's queue.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(db.gc.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d queued writes", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMariaDBDeadlockIsRetried makes two transactions lock two rows in opposite orders: InnoDB kills one of them
// as a deadlock victim, and Write runs the victim's function again, so both succeed.
func TestMariaDBDeadlockIsRetried(t *testing.T) {
	db := openTestDB(t, testbed.NewMySQLDatabase(t))
	ctx := context.Background()
	a, b := ensureProject(t, db, "deadlock-a"), ensureProject(t, db, "deadlock-b")
	var firstLocks sync.WaitGroup
	firstLocks.Add(2)
	attempts := [2]int{}
	lockBoth := func(i int, first, second string) error {
		return db.Write(ctx, func(tx *Tx) error {
			attempts[i]++
			if _, err := tx.exec("UPDATE projects SET updated_at = ? WHERE id = ?", tx.stamp(tx.now), first); err != nil {
				return err
			}
			if attempts[i] == 1 {
				// Both hold their first row before either asks for its second: a certain deadlock.
				firstLocks.Done()
				firstLocks.Wait()
			}
			_, err := tx.exec("UPDATE projects SET updated_at = ? WHERE id = ?", tx.stamp(tx.now), second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth(0, a, b) }()
	go func() { errs <- lockBoth(1, b, a) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a deadlock victim should be retried, got %v", err)
		}
	}
	if attempts[0]+attempts[1] < 3 {
		t.Fatalf("one transaction should have run twice, attempts %v", attempts)
	}
}
