package p11crypto

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// projectKEKs binds n project KEKs with p in a new SQLite database and encrypts one secret under each.
func projectKEKs(t testing.TB, p *Plugin, n int) (*store.DB, []crypto.KEK, [][2]string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "km.db"), store.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	keks := make([]crypto.KEK, n)
	cts := make([][2]string, n)
	for i := range n {
		k := crypto.KEK{Label: fmt.Sprintf("project-%d-key", i)}
		if err := p.BindKEK(ctx, &k); err != nil {
			t.Fatal(err)
		}
		err := db.Write(ctx, func(tx *store.Tx) error {
			pid, err := tx.EnsureProject(fmt.Sprintf("project-%d", i))
			if err != nil {
				return err
			}
			row := &store.KEKDatum{PluginName: ClassPath, KEKLabel: &k.Label, ProjectID: pid, BindCompleted: true,
				Algorithm: &k.Algorithm, BitLength: &k.BitLength, Mode: &k.Mode, PluginMeta: &k.PluginMeta}
			if err := tx.CreateKEK(row); err != nil {
				return err
			}
			k.ID = row.ID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ct, meta, err := p.Encrypt(ctx, k, fmt.Appendf(nil, "secret-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		keks[i], cts[i] = k, [2]string{string(ct), meta}
	}
	return db, keks, cts
}

// rotate generates mkek_1/hmac_1 and returns p switched to them, on the same module.
func rotate(t testing.TB, p *Plugin) *Plugin {
	t.Helper()
	ctx := context.Background()
	s := p.settings
	s.MKEKLabel, s.HMACLabel = "mkek_1", "hmac_1"
	if err := p.module.GenerateMKEK(ctx, hsm.MKEKSpec("mkek_1", 32)); err != nil {
		t.Fatal(err)
	}
	if err := p.module.GenerateHMACKey(ctx, hsm.MasterKeySpec{Label: "hmac_1", Length: 32, KeyType: s.HMACKeyType,
		KeyGen: mustKeyGen(t)}); err != nil {
		t.Fatal(err)
	}
	np, err := New(p.module, s, "")
	if err != nil {
		t.Fatal(err)
	}
	return np
}

func mustKeyGen(t testing.TB) hsm.Mechanism {
	m, err := hsm.Lookup(hsm.KeyGenMechanisms, "CKM_GENERIC_SECRET_KEY_GEN")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRewrapStoppedMidwayFinishesOnRerun stops a rewrap after a few rows, as a crash would (each row is its own
// transaction), then runs it again: every row ends on the new labels and every secret decrypts.
func TestRewrapStoppedMidwayFinishesOnRerun(t *testing.T) {
	p := newPlugin(t, 4, time.Second)
	db, keks, cts := projectKEKs(t, p, 20)
	np := rotate(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := Rewrap(ctx, db, np, RewrapOptions{Workers: 1, Progress: func(done, _ int) {
		if done == 5 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || res.Rewrapped < 5 || res.Rewrapped >= 20 {
		t.Fatalf("the stopped run: %+v, %v", res, err)
	}
	left, err := Remaining(context.Background(), db, np)
	if err != nil || left != 20-res.Rewrapped {
		t.Fatalf("%d rows remain after %d were rewrapped: %v", left, res.Rewrapped, err)
	}
	res, err = Rewrap(context.Background(), db, np, RewrapOptions{Workers: 3})
	if err != nil || res.Failed != 0 || res.Remaining != 0 || res.Rewrapped != left {
		t.Fatalf("the rerun: %+v, %v", res, err)
	}
	// Each row now names the new keys, and its pKEK still decrypts the secret written before the rotation, on a
	// cold cache.
	err = EachWrapped(context.Background(), db, func(row store.KEKMeta, w hsm.WrappedKey, err error) error {
		if err != nil {
			return err
		}
		if w.MKEKLabel != "mkek_1" || w.HMACLabel != "hmac_1" {
			return fmt.Errorf("row %s under %s/%s", row.ID, w.MKEKLabel, w.HMACLabel)
		}
		for i, k := range keks {
			if k.ID != row.ID {
				continue
			}
			k.PluginMeta, k.Label = row.PluginMeta, k.Label+"-after"
			pt, err := np.Decrypt(context.Background(), k, []byte(cts[i][0]), cts[i][1])
			if err != nil || string(pt) != fmt.Sprintf("secret-%d", i) {
				return fmt.Errorf("secret %d after the rewrap: %q, %w", i, pt, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRewrap measures rewrapping project KEKs, one transaction each, on SQLite (synchronous NORMAL).
func BenchmarkRewrap(b *testing.B) {
	p := newPlugin(b, 4, time.Second)
	db, _, _ := projectKEKs(b, p, b.N)
	np := rotate(b, p)
	b.ResetTimer()
	res, err := Rewrap(context.Background(), db, np, RewrapOptions{Workers: 2})
	if err != nil || res.Rewrapped != b.N {
		b.Fatalf("%+v, %v", res, err)
	}
}
