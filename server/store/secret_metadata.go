package store

import (
	"fmt"
)

// SecretUserMetadata returns a secret's user metadata (empty map if none).
func (tx *Tx) SecretUserMetadata(secretID string) (map[string]string, error) {
	var rows []SecretUserMetadatum
	err := tx.g.Select(quote(tx.Dialect(), "key"), "value").Where("secret_id = ? AND deleted = ?", secretID, false).
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load secret metadata: %w", classify(err))
	}
	md := make(map[string]string, len(rows))
	for _, r := range rows {
		md[r.Key] = r.Value
	}
	return md, nil
}

// SecretUserMetadatum returns one value of a secret's user metadata, or ErrNotFound. The key is matched as
// given.
func (tx *Tx) SecretUserMetadatum(secretID, key string) (string, error) {
	var rows []SecretUserMetadatum
	k := quote(tx.Dialect(), "key")
	err := tx.g.Select(k, "value").Where("secret_id = ? AND "+k+" = ? AND deleted = ?", secretID, key, false).
		Find(&rows).Error
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

// ReplaceSecretUserMetadata replaces the whole user metadata of a secret: old rows are hard-deleted (as the
// reference does), md inserted.
func (tx *Tx) ReplaceSecretUserMetadata(secretID string, md map[string]string) error {
	if err := tx.writing("replace secret metadata"); err != nil {
		return err
	}
	if _, err := tx.exec("DELETE FROM secret_user_metadata WHERE secret_id = ?", secretID); err != nil {
		return fmt.Errorf("replace secret metadata: %w", err)
	}
	if len(md) == 0 {
		return nil
	}
	rows := make([]SecretUserMetadatum, 0, len(md))
	for k, v := range md {
		r := SecretUserMetadatum{Key: k, Value: v, SecretID: secretID}
		r.init(tx.time(tx.now), StatusActive)
		rows = append(rows, r)
	}
	if err := tx.insert(&rows); err != nil {
		return fmt.Errorf("replace secret metadata: %w", err)
	}
	return nil
}

// CreateSecretUserMetadatum adds one key; ErrConflict if the key exists.
func (tx *Tx) CreateSecretUserMetadatum(secretID, key, value string) error {
	if err := tx.writing("create secret metadatum"); err != nil {
		return err
	}
	r := SecretUserMetadatum{Key: key, Value: value, SecretID: secretID}
	r.init(tx.time(tx.now), StatusActive)
	if err := tx.insert(&r); err != nil {
		return fmt.Errorf("create secret metadatum: %w", err)
	}
	return nil
}

// UpdateSecretUserMetadatum changes the value of an existing key; ErrNotFound if the key does not exist.
func (tx *Tx) UpdateSecretUserMetadatum(secretID, key, value string) error {
	if err := tx.writing("update secret metadatum"); err != nil {
		return err
	}
	changed, err := tx.exec("UPDATE secret_user_metadata SET value = ?, updated_at = ? WHERE secret_id = ? AND "+
		quote(tx.Dialect(), "key")+" = ? AND deleted = 0", value, tx.stamp(tx.now), secretID, key)
	if err != nil {
		return fmt.Errorf("update secret metadatum: %w", err)
	}
	if changed == 0 {
		return fmt.Errorf("secret metadatum: %w", ErrNotFound)
	}
	return nil
}

// DeleteSecretUserMetadatum hard-deletes one key; deleting a missing key is not an error.
func (tx *Tx) DeleteSecretUserMetadatum(secretID, key string) error {
	if err := tx.writing("delete secret metadatum"); err != nil {
		return err
	}
	_, err := tx.exec("DELETE FROM secret_user_metadata WHERE secret_id = ? AND "+quote(tx.Dialect(), "key")+" = ?",
		secretID, key)
	if err != nil {
		return fmt.Errorf("delete secret metadatum: %w", err)
	}
	return nil
}
