package storecrypto

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
	s, err := New(db, Options{Backends: []Backend{{Name: "software", Plugin: plugin}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func ensureProject(t *testing.T, db *store.DB, externalID string) string {
	t.Helper()
	var id string
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = tx.EnsureProject(externalID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestConcurrentFirstWritesShareOneProjectKEK(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	keks := make([]string, 16)
	for i := range keks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secretID := store.NewID()
			p, err := s.Encrypt(ctx, s.GlobalDefault(), Request{SecretID: secretID, ProjectExternalID: "p1",
				Plaintext: []byte("x"), ContentType: "text/plain"})
			if err != nil {
				t.Error(err)
				return
			}
			meta := map[string]string{}
			for _, m := range p.StoreMeta {
				meta[m.Key] = m.Value
				if m.ID == "" || m.SecretID != secretID || m.CreatedAt.IsZero() || m.Status != store.StatusActive {
					t.Errorf("store metadata rows should be complete: %+v", m)
				}
			}
			if len(meta) != 2 || meta["plugin_name"] != "barbican.plugin.store_crypto.StoreCryptoAdapterPlugin" ||
				meta["content_type"] != "text/plain" {
				t.Errorf("unexpected store metadata %v", meta)
			}
			if d := p.Data; d.ID == "" || d.SecretID != secretID || d.CreatedAt.IsZero() || d.Status != store.StatusActive {
				t.Errorf("the encrypted_data row should be complete: %+v", d)
			}
			keks[i] = p.Data.KEKID
		}()
	}
	wg.Wait()
	for _, k := range keks {
		if k != keks[0] {
			t.Fatalf("a burst of first writes should create one project KEK, got %v", keks)
		}
	}
	row, err := db.Read(ctx).KEK(keks[0])
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
	projectID := ensureProject(t, db, "legacy")
	// The reference inserts kek_data unbound and binds it on first use.
	now := time.Now().UTC()
	label := "project-legacy-key-x"
	unbound := &store.KEKDatum{Model: store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: "ACTIVE"},
		PluginName: simplecrypto.ClassPath, KEKLabel: &label, ProjectID: projectID, Active: true}
	if err := db.Write(ctx, func(tx *store.Tx) error { return tx.CreateKEK(unbound) }); err != nil {
		t.Fatal(err)
	}
	secret := &store.Secret{Model: store.Model{ID: store.NewID()}, ProjectID: projectID}
	p, err := s.Encrypt(ctx, s.GlobalDefault(), Request{SecretID: secret.ID, ProjectExternalID: "legacy",
		Plaintext: []byte("payload"), ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Data.KEKID != unbound.ID {
		t.Fatalf("the existing row should be bound and used, got KEK %s", p.Data.KEKID)
	}
	if err := db.Write(ctx, func(tx *store.Tx) error { return tx.CreateSecret(secret, p) }); err != nil {
		t.Fatal(err)
	}
	v, err := db.Read(ctx).Secret(secret.ID, store.LoadOptions{Payload: true})
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
