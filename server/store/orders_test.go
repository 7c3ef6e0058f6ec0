package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// newOrder creates a PENDING order of project pid created at base + offset seconds, so that creation order is
// observable on MariaDB's whole-second DATETIME too.
func newOrder(t *testing.T, db *DB, pid string, meta string, offset int) *Order {
	t.Helper()
	o := &Order{Type: OrderKey, ProjectID: pid, Meta: &meta, CreatorID: ptr("u1")}
	o.CreatedAt = time.Now().Add(time.Duration(offset) * time.Second)
	write(t, db, func(tx *Tx) error { return tx.CreateOrder(o) })
	return o
}

func TestOrderLookupIsProjectScoped(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		pa := ensureProject(t, db, "orders-a")
		ensureProject(t, db, "orders-b")
		o := newOrder(t, db, pa, `{"name": "k"}`, 0)
		v, err := db.Read(context.Background()).Order(o.ID, "orders-a")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusPending || v.ProjectExternalID != "orders-a" || *v.Meta != `{"name": "k"}` || *v.CreatorID != "u1" {
			t.Fatalf("unexpected order %+v", v)
		}
		for _, project := range []string{"orders-b", "never-seen"} {
			if _, err := db.Read(context.Background()).Order(o.ID, project); !errors.Is(err, ErrNotFound) {
				t.Errorf("project %s should not find another project's order, got %v", project, err)
			}
		}
		p, err := db.Read(context.Background()).OrderForProcessing(o.ID)
		if err != nil || p.ProjectExternalID != "orders-a" {
			t.Fatalf("a worker should find any project's order: %v %+v", err, p)
		}
	})
}

func TestListOrders(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		pa := ensureProject(t, db, "list-a")
		pb := ensureProject(t, db, "list-b")
		var ids []string
		for i := range 5 {
			meta := `{"name": "even"}`
			if i%2 == 1 {
				meta = `{"name": "odd"}`
			}
			ids = append(ids, newOrder(t, db, pa, meta, i).ID)
		}
		newOrder(t, db, pb, `{"name": "even"}`, 0)
		write(t, db, func(tx *Tx) error { return tx.DeleteOrder(ids[4]) })
		tx := db.Read(context.Background())

		page, total, err := tx.ListOrders(OrderQuery{ProjectID: pa, Offset: 1, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if total != 4 || len(page) != 2 || page[0].ID != ids[1] || page[1].ID != ids[2] {
			t.Fatalf("want the 2nd and 3rd of 4 live orders, oldest first; got total %d, %d orders", total, len(page))
		}
		even, total, err := tx.ListOrders(OrderQuery{ProjectID: pa, MetaContains: `"even"`, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if total != 2 || len(even) != 2 || even[0].ID != ids[0] || even[1].ID != ids[2] {
			t.Fatalf("the meta filter should keep the 2 live 'even' orders, got total %d", total)
		}
	})
}

func TestDeleteOrderCascadesToItsMetadata(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		pid := ensureProject(t, db, "delete-orders")
		o := newOrder(t, db, pid, `{}`, 0)
		write(t, db, func(tx *Tx) error {
			pm := OrderPluginMetadatum{OrderID: o.ID, Key: "k", Value: "v"}
			bm := OrderBarbicanMetadatum{OrderID: o.ID, Key: "k", Value: "v"}
			pm.init(tx.now, StatusActive)
			bm.init(tx.now, StatusActive)
			return errors.Join(tx.insert(&pm), tx.insert(&bm))
		})
		write(t, db, func(tx *Tx) error { return tx.DeleteOrder(o.ID) })
		for _, table := range []string{"orders", "order_plugin_metadata", "order_barbican_metadata"} {
			column := "order_id"
			if table == "orders" {
				column = "id"
			}
			live, err := db.Read(context.Background()).count("SELECT COUNT(*) FROM "+table+" WHERE "+column+" = ? AND deleted = 0", o.ID)
			if err != nil || live != 0 {
				t.Errorf("%s should have no live row of the deleted order, got %d (%v)", table, live, err)
			}
		}
		err := db.Write(context.Background(), func(tx *Tx) error { return tx.DeleteOrder(o.ID) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting twice should be ErrNotFound, got %v", err)
		}
	})
}

func claim(t *testing.T, db *DB, limit int, staleBefore time.Time) []string {
	t.Helper()
	var ids []string
	write(t, db, func(tx *Tx) error {
		var err error
		ids, err = tx.ClaimOrders(limit, staleBefore)
		return err
	})
	return ids
}

func TestOrderClaimLeaseAndCompletion(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		pid := ensureProject(t, db, "claims")
		first := newOrder(t, db, pid, `{}`, -3)
		second := newOrder(t, db, pid, `{}`, -2)
		gone := newOrder(t, db, pid, `{}`, -1)
		write(t, db, func(tx *Tx) error { return tx.DeleteOrder(gone.ID) })
		leaseStart := time.Now().Add(-time.Minute)

		if got := claim(t, db, 1, leaseStart); !slices.Equal(got, []string{first.ID}) {
			t.Fatalf("the oldest pending order should be claimed first, got %v", got)
		}
		if got := claim(t, db, 10, leaseStart); !slices.Equal(got, []string{second.ID}) {
			t.Fatalf("a claimed order should not be claimed again while its lease runs, got %v", got)
		}
		if got := claim(t, db, 10, time.Now().Add(time.Hour)); len(got) != 2 {
			t.Fatalf("orders whose lease expired should be claimable again, got %v", got)
		}
		write(t, db, func(tx *Tx) error { return tx.RenewOrderClaim(first.ID) })

		// Completing inserts the result first (foreign keys); a failed completion rolls it back.
		s := &Secret{ProjectID: pid}
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateSecret(s, nil); err != nil {
				return err
			}
			return tx.CompleteOrder(first.ID, &s.ID, nil)
		})
		v, err := db.Read(context.Background()).Order(first.ID, "claims")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusActive || *v.SecretID != s.ID || *v.SubStatus != "Unknown" || *v.SubStatusMessage != "Unknown" {
			t.Fatalf("a completed order should be ACTIVE with its secret and sub-status Unknown, got %+v", v.Order)
		}
		orphan := &Secret{ProjectID: pid}
		err = db.Write(context.Background(), func(tx *Tx) error {
			if err := tx.CreateSecret(orphan, nil); err != nil {
				return err
			}
			return tx.CompleteOrder(first.ID, &orphan.ID, nil)
		})
		if !errors.Is(err, ErrOrderNotPending) {
			t.Fatalf("completing twice should be ErrOrderNotPending, got %v", err)
		}
		if _, err := db.Read(context.Background()).Secret(orphan.ID, LoadOptions{}); !errors.Is(err, ErrNotFound) {
			t.Fatal("the second result should have been rolled back with its transaction")
		}
		if err := db.Write(context.Background(), func(tx *Tx) error { return tx.RenewOrderClaim(first.ID) }); !errors.Is(err, ErrOrderNotPending) {
			t.Errorf("renewing a finished order's claim should be ErrOrderNotPending, got %v", err)
		}

		reason := strings.Repeat("é", 300)
		write(t, db, func(tx *Tx) error { return tx.FailOrder(second.ID, "500", reason) })
		v, err = db.Read(context.Background()).Order(second.ID, "claims")
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusError || *v.ErrorStatusCode != "500" || *v.ErrorReason != strings.Repeat("é", 255) || v.SubStatus != nil {
			t.Fatalf("a failed order should be ERROR with code, reason cut to 255 characters and no claim, got %+v", v.Order)
		}
		n, err := db.Read(context.Background()).PendingOrders()
		if err != nil || n != 0 {
			t.Fatalf("no order should be pending any more, got %d (%v)", n, err)
		}
	})
}

// TestConcurrentClaimsOfTwoServers plays two keymanager replicas on one MariaDB claiming the same orders at
// once: every order is claimed by exactly one of them.
func TestConcurrentClaimsOfTwoServers(t *testing.T) {
	url := testbed.NewMySQLDatabase(t)
	db := openTestDB(t, url)
	replicas := []*DB{db, openRaw(t, url)}
	pid := ensureProject(t, db, "replicas")
	want := map[string]bool{}
	for i := range 40 {
		want[newOrder(t, db, pid, `{}`, i-60).ID] = true
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for _, r := range replicas {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var ids []string
					err := r.Write(context.Background(), func(tx *Tx) error {
						var err error
						ids, err = tx.ClaimOrders(3, time.Now().Add(-time.Hour))
						return err
					})
					if err != nil {
						t.Errorf("claiming: %v", err)
						return
					}
					if len(ids) == 0 {
						return
					}
					mu.Lock()
					for _, id := range ids {
						got[id]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(got) != len(want) {
		t.Fatalf("all %d orders should be claimed, got %d", len(want), len(got))
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Errorf("order %s claimed %d times", id, n)
		}
	}
}
