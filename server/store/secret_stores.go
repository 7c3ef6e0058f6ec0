package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// Secret stores are the multiple-backend configuration as the database records it (spec §4.11): one
// secret_stores row per configured store, named by its store and crypto plugin entry points ("store_crypto",
// "simple_crypto"), and at most one project_secret_store row per project naming its preferred store. Both tables
// are hard-deleted, as in the reference.

// ErrStoreInUse means a secret store that is no longer configured is still some project's preferred store.
var ErrStoreInUse = errors.New("secret store is still a project's preferred store")

// SecretStores returns every secret store, oldest first.
func (tx *Tx) SecretStores() ([]SecretStore, error) {
	var rows []SecretStore
	if err := tx.g.Where("deleted = ?", false).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list secret stores: %w", classify(err))
	}
	return rows, nil
}

// SecretStore returns one secret store, or ErrNotFound.
func (tx *Tx) SecretStore(id string) (*SecretStore, error) {
	var row SecretStore
	err := tx.g.Where("id = ? AND deleted = ?", id, false).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("secret store: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up secret store: %w", classify(err))
	}
	return &row, nil
}

// PreferredSecretStore returns the secret store a project prefers, or ErrNotFound when it has none.
// projectID is the internal id.
func (tx *Tx) PreferredSecretStore(projectID string) (*SecretStore, error) {
	var rows []SecretStore
	err := tx.g.Raw("SELECT s.* FROM project_secret_store ps JOIN secret_stores s ON s.id = ps.secret_store_id "+
		"WHERE ps.project_id = ? AND ps.deleted = 0 AND s.deleted = 0 LIMIT 1", projectID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("look up preferred secret store: %w", classify(err))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("preferred secret store: %w", ErrNotFound)
	}
	return &rows[0], nil
}

// SetPreferredSecretStore makes storeID the project's preferred store, creating or updating its row.
func (tx *Tx) SetPreferredSecretStore(projectID, storeID string) error {
	if err := tx.writing("set preferred secret store"); err != nil {
		return err
	}
	ts := tx.stamp(tx.now)
	n, err := tx.exec("UPDATE project_secret_store SET secret_store_id = ?, updated_at = ? WHERE project_id = ?",
		storeID, ts, projectID)
	if err != nil {
		return fmt.Errorf("set preferred secret store: %w", err)
	}
	if n > 0 {
		return nil
	}
	row := ProjectSecretStore{SecretStoreID: storeID, ProjectID: projectID}
	row.init(tx.time(tx.now), StatusActive)
	if err := tx.insert(&row); err != nil {
		return fmt.Errorf("set preferred secret store: %w", err)
	}
	return nil
}

// DeletePreferredSecretStore removes the project's preference; ErrNotFound when it has none.
func (tx *Tx) DeletePreferredSecretStore(projectID string) error {
	if err := tx.writing("remove preferred secret store"); err != nil {
		return err
	}
	n, err := tx.exec("DELETE FROM project_secret_store WHERE project_id = ?", projectID)
	if err != nil {
		return fmt.Errorf("remove preferred secret store: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("preferred secret store: %w", ErrNotFound)
	}
	return nil
}

// SyncSecretStores makes the secret_stores rows match the configured stores, as Barbican's sync_secret_stores
// does: a configured store without a row (matched on store and crypto plugin) gets one, a changed global-default
// flag is updated, and a row no longer configured is removed unless some project still prefers it
// (ErrStoreInUse, naming it: dropping a project's preferred store must be the operator's decision). It returns
// the rows as they stand afterwards.
func (tx *Tx) SyncSecretStores(configured []SecretStore) ([]SecretStore, error) {
	if err := tx.writing("sync secret stores"); err != nil {
		return nil, err
	}
	existing, err := tx.SecretStores()
	if err != nil {
		return nil, err
	}
	ts := tx.time(tx.now)
	matched := map[string]bool{}
	for _, c := range configured {
		var found *SecretStore
		for i := range existing {
			e := &existing[i]
			if e.StorePlugin == c.StorePlugin && deref(e.CryptoPlugin) == deref(c.CryptoPlugin) {
				found = e
				break
			}
		}
		if found == nil {
			row := c
			row.init(ts, StatusActive)
			if err := tx.insert(&row); err != nil {
				return nil, fmt.Errorf("add secret store %q: %w", c.Name, err)
			}
			continue
		}
		matched[found.ID] = true
		if found.GlobalDefault != c.GlobalDefault {
			if _, err := tx.exec("UPDATE secret_stores SET global_default = ?, updated_at = ? WHERE id = ?",
				c.GlobalDefault, formatTime(ts), found.ID); err != nil {
				return nil, fmt.Errorf("update secret store %q: %w", c.Name, err)
			}
		}
	}
	for _, e := range existing {
		if matched[e.ID] {
			continue
		}
		users, err := tx.count("SELECT COUNT(*) FROM project_secret_store WHERE secret_store_id = ?", e.ID)
		if err != nil {
			return nil, fmt.Errorf("check secret store %q: %w", e.Name, err)
		}
		if users > 0 {
			return nil, fmt.Errorf("secret store %q is no longer configured but %d project(s) prefer it: %w",
				e.Name, users, ErrStoreInUse)
		}
		if _, err := tx.exec("DELETE FROM secret_stores WHERE id = ?", e.ID); err != nil {
			return nil, fmt.Errorf("remove secret store %q: %w", e.Name, err)
		}
	}
	return tx.SecretStores()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
