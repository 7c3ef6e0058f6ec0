package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ActiveKEK returns the newest active, non-deleted KEK of a project for a
// crypto plugin, or ErrNotFound.
func (db *DB) ActiveKEK(ctx context.Context, projectID, pluginName string) (*KEKDatum, error) {
	var keks []KEKDatum
	err := db.read(ctx).
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

// KEK returns a KEK by id, deleted or not: old ciphertexts keep pointing at
// their KEK after it is replaced.
func (db *DB) KEK(ctx context.Context, id string) (*KEKDatum, error) {
	var k KEKDatum
	err := db.read(ctx).Where("id = ?", id).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("project KEK: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up project KEK: %w", classify(err))
	}
	return &k, nil
}

// CreateKEK inserts k (ID, timestamps and status ACTIVE filled when empty,
// Active forced to true) and, if other active rows exist for the same project
// and plugin (servers racing to create one), deactivates all but the newest
// (spec §6.4). On return k reflects whether it stayed active.
func CreateKEK(tx *gorm.DB, k *KEKDatum) error {
	now := dbTime(tx, time.Now())
	k.init(now, StatusActive)
	k.Active = true
	if err := tx.Create(k).Error; err != nil {
		return fmt.Errorf("create project KEK: %w", classify(err))
	}
	var active []KEKDatum
	err := tx.Select("id").Where("project_id = ? AND plugin_name = ? AND active = ? AND deleted = ?",
		k.ProjectID, k.PluginName, true, false).
		Order("created_at DESC").Order("id DESC").Find(&active).Error
	if err != nil {
		return fmt.Errorf("list active project KEKs: %w", classify(err))
	}
	if len(active) <= 1 {
		return nil
	}
	stale := make([]string, 0, len(active)-1)
	for _, a := range active[1:] {
		stale = append(stale, a.ID)
	}
	err = tx.Model(&KEKDatum{}).Where("id IN ?", stale).
		Updates(map[string]any{"active": false, "updated_at": formatTime(now)}).Error
	if err != nil {
		return fmt.Errorf("deactivate older project KEKs: %w", classify(err))
	}
	if active[0].ID != k.ID {
		k.Active = false
	}
	return nil
}

// SaveKEKBinding stores what the crypto plugin's bind step filled in:
// algorithm, bit_length, mode, plugin_meta and bind_completed (plus
// updated_at, set to now).
func SaveKEKBinding(tx *gorm.DB, k *KEKDatum) error {
	k.UpdatedAt = dbTime(tx, time.Now())
	res := tx.Model(&KEKDatum{}).Where("id = ?", k.ID).Updates(map[string]any{
		"algorithm":      k.Algorithm,
		"bit_length":     k.BitLength,
		"mode":           k.Mode,
		"plugin_meta":    k.PluginMeta,
		"bind_completed": k.BindCompleted,
		"updated_at":     formatTime(k.UpdatedAt),
	})
	if res.Error != nil {
		return fmt.Errorf("save project KEK binding: %w", classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("save project KEK binding: %w", ErrNotFound)
	}
	return nil
}
