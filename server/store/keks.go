package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// ActiveKEK returns the newest active, non-deleted KEK of a project for a crypto plugin, or ErrNotFound.
func (tx *Tx) ActiveKEK(projectID, pluginName string) (*KEKDatum, error) {
	var keks []KEKDatum
	err := tx.g.
		Where("project_id = ? AND plugin_name = ? AND active = ? AND deleted = ?", projectID, pluginName, true, false).
		Order("created_at DESC").Order("id DESC").Limit(1).Find(&keks).Error
	if err != nil {
		return nil, fmt.Errorf("look up active project KEK: %w", classify(err))
	}
	if len(keks) == 0 {
		return nil, fmt.Errorf("active project KEK: %w", ErrNotFound)
	}
	return &keks[0], nil
}

// KEK returns a KEK by id, deleted or not: old ciphertexts keep pointing at their KEK after it is replaced.
func (tx *Tx) KEK(id string) (*KEKDatum, error) {
	var k KEKDatum
	err := tx.g.Where("id = ?", id).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("project KEK: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up project KEK: %w", classify(err))
	}
	return &k, nil
}

// CreateKEK inserts k (ID, timestamps and status ACTIVE filled when empty, Active forced to true) and, if other
// active rows exist for the same project and plugin (servers racing to create one), deactivates all but the
// newest (spec §6.4). On return k reflects whether it stayed active.
func (tx *Tx) CreateKEK(k *KEKDatum) error {
	if err := tx.writing("create project KEK"); err != nil {
		return err
	}
	k.init(tx.now, StatusActive)
	k.CreatedAt, k.UpdatedAt = tx.time(k.CreatedAt), tx.time(k.UpdatedAt)
	k.Active = true
	if err := tx.insert(k); err != nil {
		return fmt.Errorf("create project KEK: %w", err)
	}
	var active []string
	err := tx.scan(&active, "SELECT id FROM kek_data WHERE project_id = ? AND plugin_name = ? AND active = ? "+
		"AND deleted = ? ORDER BY created_at DESC, id DESC", k.ProjectID, k.PluginName, true, false)
	if err != nil {
		return fmt.Errorf("list active project KEKs: %w", err)
	}
	if len(active) <= 1 {
		return nil
	}
	_, err = tx.exec("UPDATE kek_data SET active = ?, updated_at = ? WHERE id IN ?", false, tx.stamp(tx.now), active[1:])
	if err != nil {
		return fmt.Errorf("deactivate older project KEKs: %w", err)
	}
	if active[0] != k.ID {
		k.Active = false
	}
	return nil
}

// SaveKEKBinding stores what the crypto plugin's bind step filled in: algorithm, bit_length, mode, plugin_meta
// and bind_completed (plus updated_at, set to tx.Now). Only an unbound row is bound: ErrConflict when another
// server bound it first (its binding may already encrypt secrets and must win), ErrNotFound when it is missing.
func (tx *Tx) SaveKEKBinding(k *KEKDatum) error {
	if err := tx.writing("save project KEK binding"); err != nil {
		return err
	}
	k.UpdatedAt = tx.time(tx.now)
	changed, err := tx.exec("UPDATE kek_data SET algorithm = ?, bit_length = ?, mode = ?, plugin_meta = ?, "+
		"bind_completed = ?, updated_at = ? WHERE id = ? AND bind_completed = ?",
		k.Algorithm, k.BitLength, k.Mode, k.PluginMeta, k.BindCompleted, formatTime(k.UpdatedAt), k.ID, false)
	if err != nil {
		return fmt.Errorf("save project KEK binding: %w", err)
	}
	if changed == 1 {
		return nil
	}
	if _, err := tx.KEK(k.ID); err != nil {
		return fmt.Errorf("save project KEK binding: %w", err)
	}
	return fmt.Errorf("save project KEK binding: already bound: %w", ErrConflict)
}
