package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SecretUserMetadata returns a secret's user metadata (empty map if none).
func (db *DB) SecretUserMetadata(ctx context.Context, secretID string) (map[string]string, error) {
	var rows []SecretUserMetadatum
	err := db.read(ctx).Select("key", "value").Where("secret_id = ? AND deleted = ?", secretID, false).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load secret metadata: %w", classify(err))
	}
	md := make(map[string]string, len(rows))
	for _, r := range rows {
		md[r.Key] = r.Value
	}
	return md, nil
}

// SecretUserMetadatum returns one value of a secret's user metadata, or
// ErrNotFound. The key is matched as given.
func (db *DB) SecretUserMetadatum(ctx context.Context, secretID, key string) (string, error) {
	var rows []SecretUserMetadatum
	err := db.read(ctx).Select(quote(db.dialect, "key"), "value").Where("secret_id = ? AND "+quote(db.dialect, "key")+" = ? AND deleted = ?",
		secretID, key, false).Find(&rows).Error
	if err != nil {
		return "", fmt.Errorf("load secret metadatum: %w", classify(err))
	}
	// MariaDB's default collation compares case-insensitively; the reference looks the key up in a Python
	// dict, exactly, so "Owner" does not find the stored "owner".
	for _, r := range rows {
		if r.Key == key {
			return r.Value, nil
		}
	}
	return "", fmt.Errorf("secret metadatum: %w", ErrNotFound)
}

// ReplaceSecretUserMetadata replaces the whole user metadata of a secret:
// old rows are hard-deleted (as the reference does), md inserted.
func ReplaceSecretUserMetadata(tx *gorm.DB, secretID string, md map[string]string, now time.Time) error {
	if err := tx.Exec("DELETE FROM secret_user_metadata WHERE secret_id = ?", secretID).Error; err != nil {
		return fmt.Errorf("replace secret metadata: %w", classify(err))
	}
	if len(md) == 0 {
		return nil
	}
	now = dbTime(tx, now)
	rows := make([]SecretUserMetadatum, 0, len(md))
	for k, v := range md {
		r := SecretUserMetadatum{Key: k, Value: v, SecretID: secretID}
		r.init(now, StatusActive)
		rows = append(rows, r)
	}
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("replace secret metadata: %w", classify(err))
	}
	return nil
}

// CreateSecretUserMetadatum adds one key; ErrConflict if the key exists.
func CreateSecretUserMetadatum(tx *gorm.DB, secretID, key, value string, now time.Time) error {
	r := SecretUserMetadatum{Key: key, Value: value, SecretID: secretID}
	r.init(dbTime(tx, now), StatusActive)
	if err := tx.Create(&r).Error; err != nil {
		return fmt.Errorf("create secret metadatum: %w", classify(err))
	}
	return nil
}

// UpdateSecretUserMetadatum changes the value of an existing key;
// ErrNotFound if the key does not exist.
func UpdateSecretUserMetadatum(tx *gorm.DB, secretID, key, value string, now time.Time) error {
	res := tx.Exec("UPDATE secret_user_metadata SET value = ?, updated_at = ? WHERE secret_id = ? AND "+
		quote(tx.Dialector.Name(), "key")+" = ? AND deleted = 0", value, formatTime(dbTime(tx, now)), secretID, key)
	if res.Error != nil {
		return fmt.Errorf("update secret metadatum: %w", classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("secret metadatum: %w", ErrNotFound)
	}
	return nil
}

// DeleteSecretUserMetadatum hard-deletes one key; deleting a missing key is
// not an error.
func DeleteSecretUserMetadatum(tx *gorm.DB, secretID, key string) error {
	err := tx.Exec("DELETE FROM secret_user_metadata WHERE secret_id = ? AND "+quote(tx.Dialector.Name(), "key")+" = ?",
		secretID, key).Error
	if err != nil {
		return fmt.Errorf("delete secret metadatum: %w", classify(err))
	}
	return nil
}
