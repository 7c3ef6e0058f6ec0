package store

import (
	"errors"
	"testing"
)

func TestSyncSecretStores(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		simple, p11 := "simple_crypto", "p11_crypto"
		conf := []SecretStore{
			{Name: "Software Only Crypto", StorePlugin: "store_crypto", CryptoPlugin: &simple, GlobalDefault: true},
			{Name: "PKCS11 HSM", StorePlugin: "store_crypto", CryptoPlugin: &p11},
		}
		sync := func(c []SecretStore) ([]SecretStore, error) {
			var rows []SecretStore
			err := db.Write(t.Context(), func(tx *Tx) error {
				var err error
				rows, err = tx.SyncSecretStores(c)
				return err
			})
			return rows, err
		}
		// byName indexes the rows a sync returns (both may share a created_at second on MariaDB).
		byName := func(rows []SecretStore, err error) map[string]SecretStore {
			t.Helper()
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			m := map[string]SecretStore{}
			for _, r := range rows {
				m[r.Name] = r
			}
			return m
		}
		first := byName(sync(conf))
		soft, hsm := first["Software Only Crypto"], first["PKCS11 HSM"]
		if len(first) != 2 || !soft.GlobalDefault || hsm.GlobalDefault || *hsm.CryptoPlugin != p11 {
			t.Fatalf("first sync: %+v", first)
		}
		if again := byName(sync(conf)); len(again) != 2 || again[soft.Name].ID != soft.ID || again[hsm.Name].ID != hsm.ID {
			t.Fatalf("a second sync must change nothing: %+v", again)
		}
		// The default moves to the HSM store: the flags follow, the rows stay.
		conf[0].GlobalDefault, conf[1].GlobalDefault = false, true
		moved := byName(sync(conf))
		if moved[soft.Name].GlobalDefault || !moved[hsm.Name].GlobalDefault || moved[hsm.Name].ID != hsm.ID {
			t.Fatalf("global default should move: %+v", moved)
		}
		// A project prefers the HSM store: dropping it from the configuration is refused, and nothing changes.
		pid := ensureProject(t, db, "prefers-hsm")
		write(t, db, func(tx *Tx) error { return tx.SetPreferredSecretStore(pid, hsm.ID) })
		if _, err := sync(conf[:1]); !errors.Is(err, ErrStoreInUse) {
			t.Fatalf("removing a preferred store should be ErrStoreInUse, got %v", err)
		}
		write(t, db, func(tx *Tx) error { return tx.DeletePreferredSecretStore(pid) })
		if left := byName(sync(conf[:1])); len(left) != 1 || left[soft.Name].ID != soft.ID {
			t.Fatalf("an unused store no longer configured is removed: %+v", left)
		}
	})
}
