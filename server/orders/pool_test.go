package orders

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// bench is a database with the store_crypto secret store over one simple_crypto KEK.
type bench struct {
	t       testing.TB
	db      *store.DB
	secrets *storecrypto.Store
	key     simplecrypto.Key
}

func newBench(t testing.TB, url string) *bench {
	t.Helper()
	key, err := simplecrypto.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, key: key}
	b.db, b.secrets = b.open(url)
	if err := b.db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// open opens another handle on the database, as another server would.
func (b *bench) open(url string) (*store.DB, *storecrypto.Store) {
	b.t.Helper()
	db, err := store.Open(context.Background(), url, store.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { _ = db.Close() })
	plugin, err := simplecrypto.New([]simplecrypto.Key{b.key}, simplecrypto.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	secrets, err := storecrypto.New(db, storecrypto.Options{Backends: []storecrypto.Backend{{Name: "software", Plugin: plugin}}})
	if err != nil {
		b.t.Fatal(err)
	}
	return db, secrets
}

func sqliteURL(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "orders.db") }

// pool starts a pool over db and stops it at the end of the test.
func (b *bench) pool(db *store.DB, secrets *storecrypto.Store, o Options) *Pool {
	b.t.Helper()
	p, err := New(db, secrets, o)
	if err != nil {
		b.t.Fatal(err)
	}
	p.Start()
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			b.t.Errorf("Stop: %v", err)
		}
	})
	return p
}

// order commits a PENDING order as the API does.
func (b *bench) order(project, orderType, meta string) string {
	b.t.Helper()
	o := &store.Order{Type: orderType, Meta: &meta}
	err := b.db.Write(context.Background(), func(tx *store.Tx) error {
		pid, err := tx.EnsureProject(project)
		if err != nil {
			return err
		}
		o.ProjectID = pid
		return tx.CreateOrder(o)
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return o.ID
}

// wait waits for an order to leave PENDING; the deadline only bounds a broken pool.
func (b *bench) wait(project, id string) *store.OrderView {
	b.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := b.db.Read(context.Background()).Order(id, project)
		if err != nil {
			b.t.Fatal(err)
		}
		if v.Status != store.StatusPending {
			return v
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("order %s is still PENDING", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// secretCount counts a project's live secrets.
func (b *bench) secretCount(project string) int {
	b.t.Helper()
	tx := b.db.Read(context.Background())
	pid, err := tx.ProjectID(project)
	if err != nil {
		b.t.Fatal(err)
	}
	_, total, err := tx.ListSecrets(store.SecretQuery{ProjectID: pid, Limit: 1})
	if err != nil {
		b.t.Fatal(err)
	}
	return total
}

const aesMeta = `{"name": "k", "algorithm": "aes", "bit_length": 256, "mode": "cbc", "expiration": null}`

// TestTwoServersProcessEachOrderOnce runs two pools on two handles of one MariaDB, as two replicas would: every
// order ends ACTIVE with exactly one secret.
func TestTwoServersProcessEachOrderOnce(t *testing.T) {
	url := testbed.NewMySQLDatabase(t)
	b := newBench(t, url)
	b.pool(b.db, b.secrets, Options{Workers: 3})
	otherDB, otherSecrets := b.open(url)
	other := b.pool(otherDB, otherSecrets, Options{Workers: 3, PollInterval: 50 * time.Millisecond})
	var ids []string
	for range 30 {
		ids = append(ids, b.order("replicas", store.OrderKey, aesMeta))
		other.Notify()
	}
	for _, id := range ids {
		if v := b.wait("replicas", id); v.Status != store.StatusActive || v.SecretID == nil {
			t.Fatalf("order %s should be ACTIVE with a secret: %+v", id, v.Order)
		}
	}
	if n := b.secretCount("replicas"); n != len(ids) {
		t.Fatalf("%d orders should have made %d secrets, found %d", len(ids), len(ids), n)
	}
}

// TestAnOrderProcessedTwiceGetsOneResult generates an order's key twice, as two workers (or a worker before and
// after a crash) would, and commits both: the second commit is refused and rolled back whole.
func TestAnOrderProcessedTwiceGetsOneResult(t *testing.T) {
	b := newBench(t, sqliteURL(t))
	p, err := New(b.db, b.secrets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct{ orderType, meta string }{
		{store.OrderKey, aesMeta},
		{store.OrderAsymmetric, `{"name": "pair", "algorithm": "rsa", "bit_length": 1024, "passphrase": "pw"}`},
	} {
		id := b.order("twice", c.orderType, c.meta)
		v, err := b.db.Read(ctx).OrderForProcessing(id)
		if err != nil {
			t.Fatal(err)
		}
		first, err := p.generate(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		second, err := p.generate(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		before := b.secretCount("twice")
		if err := b.db.Write(ctx, func(tx *store.Tx) error { return first.commit(tx, id) }); err != nil {
			t.Fatal(err)
		}
		err = b.db.Write(ctx, func(tx *store.Tx) error { return second.commit(tx, id) })
		if !errors.Is(err, store.ErrOrderNotPending) {
			t.Fatalf("a second result should be refused, got %v", err)
		}
		if n := b.secretCount("twice") - before; n != len(first.secrets) {
			t.Fatalf("%s order: want the %d secrets of one result, found %d", c.orderType, len(first.secrets), n)
		}
	}
}

// TestOrdersLeftByADeadWorkerAreRedone leaves an order claimed, as a worker killed between generation and
// commit does: a pool takes it again once the claim's lease has run out.
func TestOrdersLeftByADeadWorkerAreRedone(t *testing.T) {
	b := newBench(t, sqliteURL(t))
	id := b.order("crash", store.OrderKey, aesMeta)
	err := b.db.Write(context.Background(), func(tx *store.Tx) error {
		ids, err := tx.ClaimOrders(10, time.Now().Add(-time.Minute))
		if err == nil && len(ids) != 1 {
			err = errors.New("the order should be claimed")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pool's clock runs ahead of the lease: the dead worker's claim has expired.
	later := func() time.Time { return time.Now().UTC().Add(time.Hour) }
	b.pool(b.db, b.secrets, Options{ClaimLease: time.Minute, Now: later, PollInterval: 20 * time.Millisecond})
	if v := b.wait("crash", id); v.Status != store.StatusActive {
		t.Fatalf("the abandoned order should be redone, got %+v", v.Order)
	}
	if n := b.secretCount("crash"); n != 1 {
		t.Fatalf("want one secret, found %d", n)
	}
}

func TestDeletedOrdersAreNotProcessed(t *testing.T) {
	b := newBench(t, sqliteURL(t))
	id := b.order("deleted", store.OrderKey, aesMeta)
	if err := b.db.Write(context.Background(), func(tx *store.Tx) error { return tx.DeleteOrder(id) }); err != nil {
		t.Fatal(err)
	}
	p := b.pool(b.db, b.secrets, Options{})
	live := b.order("deleted", store.OrderKey, aesMeta)
	p.Notify()
	b.wait("deleted", live)
	if n := b.secretCount("deleted"); n != 1 {
		t.Fatalf("only the live order should make a secret, found %d", n)
	}
}

// TestStopDrainsTheOrdersInFlight stops a busy pool: Stop returns once every order it claimed is finished, so
// no claim is left behind to wait for its lease.
func TestStopDrainsTheOrdersInFlight(t *testing.T) {
	b := newBench(t, sqliteURL(t))
	p, err := New(b.db, b.secrets, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 6 {
		ids = append(ids, b.order("drain", store.OrderAsymmetric, `{"algorithm": "rsa", "bit_length": 1024}`))
	}
	p.Start()
	// Wait until work is in flight, then stop.
	deadline := time.Now().Add(time.Minute)
	for testutil.ToFloat64(p.metrics.inProgress) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, id := range ids {
		v, err := b.db.Read(context.Background()).Order(id, "drain")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case v.Status == store.StatusActive:
			active++
		case v.SubStatus != nil:
			t.Errorf("order %s is still claimed after Stop: %+v", id, v.Order)
		}
	}
	if active == 0 {
		t.Error("the orders in flight at Stop should have been finished")
	}
	if got := testutil.ToFloat64(p.metrics.processed.WithLabelValues("asymmetric", "active")); int(got) != active {
		t.Errorf("the processed metric should count the %d orders done, got %v", active, got)
	}
}

func TestFailuresAreRecordedWithTheReferenceReason(t *testing.T) {
	b := newBench(t, sqliteURL(t))
	p := b.pool(b.db, b.secrets, Options{})
	cases := []struct{ orderType, meta, code, reason string }{
		{store.OrderKey, `{"algorithm": "ec", "bit_length": 256}`, "400",
			"Process TypeOrder issue seen - Requested algorithm is not supported."},
		{store.OrderAsymmetric, `{"algorithm": "aes", "bit_length": 256}`, "400",
			"Process TypeOrder issue seen - Requested algorithm is not supported."},
		{store.OrderAsymmetric, `{"algorithm": "rsa", "bit_length": 2048, "passphrase": 7}`, "500",
			"Process TypeOrder failure seen - please contact site administrator."},
		{store.OrderKey, `not json`, "500", "Process TypeOrder failure seen - please contact site administrator."},
	}
	for _, c := range cases {
		id := b.order("failures", c.orderType, c.meta)
		p.Notify()
		v := b.wait("failures", id)
		if v.Status != store.StatusError || *v.ErrorStatusCode != c.code || *v.ErrorReason != c.reason {
			t.Errorf("%s %s: want ERROR %s %q, got %+v", c.orderType, c.meta, c.code, c.reason, v.Order)
		}
	}
	if got := testutil.ToFloat64(p.metrics.processed.WithLabelValues("key", "error")); got != 2 {
		t.Errorf("two key orders failed, the metric says %v", got)
	}
}
