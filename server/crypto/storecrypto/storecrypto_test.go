package storecrypto

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

func newStore(t *testing.T) (*Store, *store.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), store.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := simplecrypto.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	plugin, err := simplecrypto.New([]simplecrypto.Key{key}, simplecrypto.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(db, plugin)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestConcurrentFirstWritesShareOneProjectKEK(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	projectID, err := db.EnsureProject(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	keks := make([]string, 16)
	for i := range keks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, meta, err := s.Encrypt(ctx, projectID, "p1", []byte("x"), "text/plain")
			if err != nil {
				t.Error(err)
				return
			}
			if meta["plugin_name"] != "barbican.plugin.store_crypto.StoreCryptoAdapterPlugin" || meta["content_type"] != "text/plain" {
				t.Errorf("unexpected store metadata %v", meta)
			}
			keks[i] = data.KEKID
		}()
	}
	wg.Wait()
	for _, k := range keks {
		if k != keks[0] {
			t.Fatalf("a burst of first writes should create one project KEK, got %v", keks)
		}
	}
	row, err := db.KEK(ctx, keks[0])
	if err != nil {
		t.Fatal(err)
	}
	if !row.BindCompleted || row.PluginMeta == nil || *row.Algorithm != "aes" || *row.BitLength != 128 || *row.Mode != "cbc" {
		t.Errorf("the project KEK should be stored bound like Barbican's: %+v", row)
	}
}

func TestBindsAnUnboundRowAndRoundTrips(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	projectID, err := db.EnsureProject(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	// The reference inserts kek_data unbound and binds it on first use.
	now := time.Now().UTC()
	label := "project-legacy-key-x"
	unbound := &store.KEKDatum{Model: store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: "ACTIVE"},
		PluginName: simplecrypto.ClassPath, KEKLabel: &label, ProjectID: projectID, Active: true}
	if err := db.Write(ctx, func(tx *gorm.DB) error { return store.CreateKEK(tx, unbound) }); err != nil {
		t.Fatal(err)
	}
	data, meta, err := s.Encrypt(ctx, projectID, "legacy", []byte("payload"), "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	if data.KEKID != unbound.ID {
		t.Fatalf("the existing row should be bound and used, got KEK %s", data.KEKID)
	}
	secret := &store.Secret{ProjectID: projectID}
	if err := db.Write(ctx, func(tx *gorm.DB) error { return store.CreateSecret(tx, secret, data, meta) }); err != nil {
		t.Fatal(err)
	}
	v, err := db.Secret(ctx, secret.ID, time.Now().UTC(), store.LoadOptions{Payload: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Decrypt(ctx, v)
	if err != nil || !bytes.Equal(got, []byte("payload")) {
		t.Fatalf("round trip: %q %v", got, err)
	}

	v.KEK.PluginName = "barbican.plugin.crypto.p11_crypto.P11CryptoPlugin"
	if _, err := s.Decrypt(ctx, v); !errors.Is(err, ErrPluginUnavailable) {
		t.Errorf("a row of an unconfigured plugin should be ErrPluginUnavailable, got %v", err)
	}
	v.Data = nil
	if _, err := s.Decrypt(ctx, v); !errors.Is(err, ErrNoData) {
		t.Errorf("a secret without encrypted data should be ErrNoData, got %v", err)
	}
}
