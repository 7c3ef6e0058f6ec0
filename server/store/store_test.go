package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// dialects runs fn once on a fresh, upgraded SQLite file and once on a fresh,
// upgraded MariaDB database (KEYMANAGER_TEST_DB_URL; fails under CI=true
// when MariaDB is missing, skips loudly otherwise).
func dialects(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, openTestDB(t, filepath.Join(t.TempDir(), "km.db")))
	})
	t.Run("mysql", func(t *testing.T) {
		fn(t, openTestDB(t, testbed.NewMySQLDatabase(t)))
	})
}

func openTestDB(t testing.TB, url string) *DB {
	t.Helper()
	db := openRaw(t, url)
	if err := db.Upgrade(context.Background()); err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	return db
}

func openRaw(t testing.TB, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func write(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// readAt is a read-only handle whose "now" is t, for expiry checks at a chosen moment.
func readAt(db *DB, t time.Time) *Tx {
	tx := db.Read(context.Background())
	tx.now = t
	return tx
}

// writeAt writes with a handle whose "now" is t.
func writeAt(t testing.TB, db *DB, now time.Time, fn func(tx *Tx) error) error {
	t.Helper()
	return db.Write(context.Background(), func(tx *Tx) error {
		tx.now = now
		return fn(tx)
	})
}

// ensureProject creates (or finds) a project row.
func ensureProject(t testing.TB, db *DB, externalID string) string {
	t.Helper()
	var id string
	write(t, db, func(tx *Tx) error {
		var err error
		id, err = tx.EnsureProject(externalID)
		return err
	})
	return id
}

// testPayload turns the old (row, map) form into a SecretPayload.
func testPayload(data *EncryptedDatum, meta map[string]string) *SecretPayload {
	if data == nil && len(meta) == 0 {
		return nil
	}
	p := &SecretPayload{Data: data}
	for k, v := range meta {
		p.StoreMeta = append(p.StoreMeta, SecretStoreMetadatum{Key: k, Value: v})
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// fixture creates secrets for tests.
type fixture struct {
	t   testing.TB
	db  *DB
	kek *KEKDatum
}

func newFixture(t testing.TB, db *DB, projectExternalID string) (*fixture, string) {
	t.Helper()
	pid := ensureProject(t, db, projectExternalID)
	kek := &KEKDatum{PluginName: "barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin", ProjectID: pid}
	write(t, db, func(tx *Tx) error { return tx.CreateKEK(kek) })
	return &fixture{t: t, db: db, kek: kek}, pid
}

// secret creates a secret in project pid; payload adds encrypted data and
// store metadata with the given content type.
func (f *fixture) secret(pid string, s Secret, contentType string) *Secret {
	f.t.Helper()
	s.ProjectID = pid
	var data *EncryptedDatum
	var meta map[string]string
	if contentType != "" {
		data = &EncryptedDatum{ContentType: ptr(contentType), KEKID: f.kek.ID, CypherText: ptr("Y2lwaGVy")}
		meta = map[string]string{"plugin_name": "barbican.plugin.store_crypto.StoreCryptoAdapterPlugin",
			"content_type": contentType}
	}
	write(f.t, f.db, func(tx *Tx) error { return tx.CreateSecret(&s, testPayload(data, meta)) })
	return &s
}

// counts compares the trigger-maintained counter of a project with a scan.
func checkCounter(t *testing.T, db *DB, pid string) int64 {
	t.Helper()
	var live, scanned int64
	if err := db.reader.Raw("SELECT COALESCE(SUM(live), 0) FROM "+projectCountsTable+" WHERE project_id = ? AND resource = 'secrets'", pid).
		Scan(&live).Error; err != nil {
		t.Fatalf("read counter: %v", err)
	}
	if err := db.reader.Raw("SELECT COUNT(*) FROM secrets WHERE project_id = ? AND deleted = 0", pid).
		Scan(&scanned).Error; err != nil {
		t.Fatalf("count secrets: %v", err)
	}
	if live != scanned {
		t.Fatalf("counter says %d live secrets, a scan finds %d", live, scanned)
	}
	return live
}

func timeNow() time.Time { return time.Now() }
