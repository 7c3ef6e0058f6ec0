package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

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

func write(t testing.TB, db *DB, fn func(tx *gorm.DB) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
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
	pid, err := db.EnsureProject(context.Background(), projectExternalID)
	if err != nil {
		t.Fatalf("EnsureProject: %v", err)
	}
	kek := &KEKDatum{PluginName: "barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin", ProjectID: pid}
	write(t, db, func(tx *gorm.DB) error { return CreateKEK(tx, kek) })
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
	write(f.t, f.db, func(tx *gorm.DB) error { return CreateSecret(tx, &s, data, meta) })
	return &s
}

// counts compares the trigger-maintained counter of a project with a scan.
func checkCounter(t *testing.T, db *DB, pid string) int64 {
	t.Helper()
	var live, scanned int64
	if err := db.reader.Raw("SELECT COALESCE((SELECT live FROM "+countsTable+" WHERE project_id = ?), 0)", pid).
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
