package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// CreateTransportKey inserts k (ID, timestamps and status ACTIVE filled when empty).
func (tx *Tx) CreateTransportKey(k *TransportKey) error {
	if err := tx.writing("create transport key"); err != nil {
		return err
	}
	k.init(tx.now, StatusActive)
	k.CreatedAt, k.UpdatedAt = tx.time(k.CreatedAt), tx.time(k.UpdatedAt)
	if err := tx.insert(k); err != nil {
		return fmt.Errorf("create transport key: %w", err)
	}
	return nil
}

// TransportKey returns a non-deleted transport key, or ErrNotFound.
func (tx *Tx) TransportKey(id string) (*TransportKey, error) {
	var k TransportKey
	err := tx.g.Where("id = ? AND deleted = ?", id, false).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("transport key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up transport key: %w", classify(err))
	}
	return &k, nil
}

// TransportKeyIDs returns a page of the ids of non-deleted transport keys (of one plugin when pluginName is not
// empty), oldest first, and the total.
func (tx *Tx) TransportKeyIDs(pluginName string, offset, limit int) (ids []string, total int, err error) {
	where, args := "deleted = 0", []any{}
	if pluginName != "" {
		where, args = where+" AND plugin_name = ?", append(args, pluginName)
	}
	if total, err = tx.count("SELECT COUNT(*) FROM transport_keys WHERE "+where, args...); err != nil {
		return nil, 0, fmt.Errorf("count transport keys: %w", err)
	}
	err = tx.scan(&ids, "SELECT id FROM transport_keys WHERE "+where+" ORDER BY created_at, id LIMIT ? OFFSET ?",
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list transport keys: %w", err)
	}
	return ids, total, nil
}

// DeleteTransportKey soft-deletes a transport key; ErrNotFound if it is missing or already deleted.
func (tx *Tx) DeleteTransportKey(id string) error {
	if err := tx.writing("delete transport key"); err != nil {
		return err
	}
	if err := tx.softDelete("transport_keys", id); err != nil {
		return fmt.Errorf("delete transport key: %w", err)
	}
	return nil
}
