package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A write whose caller is cancelled while fn runs (a client that goes away mid-request) ends whole either way:
// on SQLite fn runs detached from the caller inside its group commit and commits; on MariaDB the transaction uses
// the caller's context, the driver drops the connection and the server rolls everything back.
func TestWriteCancelledMidwayIsAllOrNothing(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		now := time.Now().UTC().Truncate(time.Second)
		insert := func(tx *Tx, external string) error {
			p := &Project{Model: Model{ID: NewID(), CreatedAt: now, UpdatedAt: now, Status: StatusActive},
				ExternalID: &external}
			return tx.insert(p)
		}
		err := db.Write(ctx, func(tx *Tx) error {
			if err := insert(tx, "before-cancel"); err != nil {
				return err
			}
			cancel()
			return insert(tx, "after-cancel")
		})
		var n int64
		if qerr := db.reader.Model(&Project{}).Where("external_id IN ?", []string{"before-cancel", "after-cancel"}).
			Count(&n).Error; qerr != nil {
			t.Fatal(qerr)
		}
		switch db.Dialect() {
		case "sqlite":
			if err != nil || n != 2 {
				t.Fatalf("SQLite should commit the whole write: err %v, %d of 2 rows", err, n)
			}
		default:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("MariaDB should fail the cancelled write, got %v", err)
			}
			if n != 0 {
				t.Fatalf("MariaDB should roll the whole write back, %d of 2 rows remain", n)
			}
		}
	})
}
