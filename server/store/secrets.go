package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ACL is a secret's 'read' access rule with its user list.
type ACL struct {
	ID            string
	ProjectAccess bool
	Users         []string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// SecretView is a secret with what the API renders alongside it.
type SecretView struct {
	Secret
	ProjectExternalID string
	// ContentType is the secret_store_metadata content_type, else the first
	// encrypted_data content_type; "" when the secret has no payload.
	ContentType string
	// HasPayload is true when the secret has encrypted_data or
	// secret_store_metadata rows.
	HasPayload bool
	// ReadACL is nil when the secret has no 'read' ACL row.
	ReadACL *ACL
	// Consumers are the non-deleted consumers ordered by created_at, loaded
	// only on request.
	Consumers []SecretConsumerMetadatum
	// Data is the first non-deleted encrypted_data row and KEK its kek_data
	// row, loaded only with LoadOptions.Payload.
	Data *EncryptedDatum
	KEK  *KEKDatum
}

// LoadOptions select the optional parts of a SecretView.
type LoadOptions struct {
	Consumers bool
	Payload   bool
}

const secretColumns = "s.id, s.created_at, s.updated_at, s.deleted_at, s.deleted, s.status, s.name, " +
	"s.secret_type, s.expiration, s.algorithm, s.bit_length, s.mode, s.creator_id, s.project_id, " +
	"p.external_id AS project_external_id"

// Secret returns a live secret (not deleted, not expired at now) of any
// project, or ErrNotFound: one query (with the payload row when asked), plus
// one each for an ACL's users and for consumers (when asked and present).
func (db *DB) Secret(ctx context.Context, id string, now time.Time, o LoadOptions) (*SecretView, error) {
	cols, join := secretColumns+summaryColumns(db.dialect, o.Consumers), ""
	if o.Payload {
		cols, join = cols+payloadColumns, payloadJoin
	}
	views, err := db.querySecrets(ctx, "SELECT "+cols+" FROM secrets s JOIN projects p ON p.id = s.project_id"+join+
		" WHERE s.id = ? AND s.deleted = 0 AND (s.expiration IS NULL OR s.expiration > ?)",
		[]any{id, formatTime(now)}, o.Consumers, o.Payload)
	if err != nil {
		return nil, fmt.Errorf("look up secret: %w", err)
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("secret: %w", ErrNotFound)
	}
	return &views[0], nil
}

// CreateSecret inserts s (ID, timestamps and status ACTIVE filled when
// empty) and, when data is not nil, its encrypted_data row and one
// secret_store_metadata row per storeMeta entry.
func CreateSecret(tx *gorm.DB, s *Secret, data *EncryptedDatum, storeMeta map[string]string) error {
	now := dbTime(tx, time.Now())
	s.init(now, StatusActive)
	s.CreatedAt, s.UpdatedAt = dbTime(tx, s.CreatedAt), dbTime(tx, s.UpdatedAt)
	if s.SecretType == "" {
		s.SecretType = "opaque"
	}
	// Secret creation is the hottest write: plain INSERTs with fixed text (prepared once per connection) cost
	// a fraction of gorm's reflective Create inside the single SQLite writer.
	err := tx.Exec("INSERT INTO secrets (id, created_at, updated_at, deleted_at, deleted, status, name, secret_type, "+
		"expiration, algorithm, bit_length, mode, creator_id, project_id) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		s.ID, formatTime(s.CreatedAt), formatTime(s.UpdatedAt), false, s.Status, s.Name, s.SecretType,
		optionalTime(tx, s.Expiration), s.Algorithm, s.BitLength, s.Mode, s.CreatorID, s.ProjectID).Error
	if err != nil {
		return fmt.Errorf("create secret: %w", classify(err))
	}
	if data == nil && len(storeMeta) == 0 {
		return nil
	}
	return insertPayload(tx, s.ID, data, storeMeta, s.CreatedAt)
}

// optionalTime is the bind value of a nullable DATETIME column.
func optionalTime(tx *gorm.DB, t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(dbTime(tx, *t))
}

func insertPayload(tx *gorm.DB, secretID string, data *EncryptedDatum, storeMeta map[string]string, now time.Time) error {
	if data != nil {
		data.SecretID = secretID
		data.init(now, StatusActive)
		data.CreatedAt, data.UpdatedAt = dbTime(tx, data.CreatedAt), dbTime(tx, data.UpdatedAt)
		err := tx.Exec("INSERT INTO encrypted_data (id, created_at, updated_at, deleted_at, deleted, status, "+
			"content_type, secret_id, kek_id, cypher_text, kek_meta_extended) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
			data.ID, formatTime(data.CreatedAt), formatTime(data.UpdatedAt), false, data.Status, data.ContentType,
			data.SecretID, data.KEKID, data.CypherText, data.KEKMetaExtended).Error
		if err != nil {
			return fmt.Errorf("create encrypted data: %w", classify(err))
		}
	}
	if len(storeMeta) == 0 {
		return nil
	}
	// One statement for all entries, in key order so that the statement text (and its prepared form) repeats.
	keys := make([]string, 0, len(storeMeta))
	for k := range storeMeta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ts := formatTime(dbTime(tx, now))
	var b strings.Builder
	b.WriteString("INSERT INTO secret_store_metadata (id, created_at, updated_at, deleted_at, deleted, status, " +
		quote(tx.Dialector.Name(), "key") + ", value, secret_id) VALUES ")
	args := make([]any, 0, 8*len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, NULL, ?, ?, ?, ?, ?)")
		args = append(args, NewID(), ts, ts, false, StatusActive, k, storeMeta[k], secretID)
	}
	if err := tx.Exec(b.String(), args...).Error; err != nil {
		return fmt.Errorf("create secret store metadata: %w", classify(err))
	}
	return nil
}

// AddSecretPayload stores the payload of a metadata-only secret and bumps
// its updated_at. ErrConflict if the secret already has a payload,
// ErrNotFound if it is missing or deleted.
func AddSecretPayload(tx *gorm.DB, secretID string, data *EncryptedDatum, storeMeta map[string]string, now time.Time) error {
	now = dbTime(tx, now)
	var n int64
	err := tx.Raw("SELECT (SELECT COUNT(*) FROM encrypted_data WHERE secret_id = ? AND deleted = 0) + "+
		"(SELECT COUNT(*) FROM secret_store_metadata WHERE secret_id = ? AND deleted = 0)", secretID, secretID).
		Scan(&n).Error
	if err != nil {
		return fmt.Errorf("check secret payload: %w", classify(err))
	}
	if n > 0 {
		return fmt.Errorf("secret already has a payload: %w", ErrConflict)
	}
	res := tx.Exec("UPDATE secrets SET updated_at = ? WHERE id = ? AND deleted = 0", formatTime(now), secretID)
	if res.Error != nil {
		return fmt.Errorf("update secret: %w", classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("secret: %w", ErrNotFound)
	}
	return insertPayload(tx, secretID, data, storeMeta, now)
}

// DeleteSecret soft-deletes a secret with the cascade of spec §6.3: store
// metadata, user metadata, encrypted data and container links are
// soft-deleted, ACLs and their users hard-deleted, consumers soft-deleted.
// ErrNotFound if the secret does not exist or is already deleted.
func DeleteSecret(tx *gorm.DB, secretID string, now time.Time) error {
	ts := formatTime(dbTime(tx, now))
	res := tx.Exec("UPDATE secrets SET deleted = 1, deleted_at = ?, updated_at = ? WHERE id = ? AND deleted = 0",
		ts, ts, secretID)
	if res.Error != nil {
		return fmt.Errorf("delete secret: %w", classify(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("secret: %w", ErrNotFound)
	}
	for _, table := range []string{"secret_store_metadata", "secret_user_metadata", "encrypted_data",
		"container_secret", "secret_consumer_metadata"} {
		err := tx.Exec("UPDATE "+table+" SET deleted = 1, deleted_at = ?, updated_at = ? "+
			"WHERE secret_id = ? AND deleted = 0", ts, ts, secretID).Error
		if err != nil {
			return fmt.Errorf("delete secret: cascade to %s: %w", table, classify(err))
		}
	}
	err := tx.Exec("DELETE FROM secret_acl_users WHERE acl_id IN (SELECT id FROM secret_acls WHERE secret_id = ?)",
		secretID).Error
	if err != nil {
		return fmt.Errorf("delete secret: ACL users: %w", classify(err))
	}
	if err := tx.Exec("DELETE FROM secret_acls WHERE secret_id = ?", secretID).Error; err != nil {
		return fmt.Errorf("delete secret: ACLs: %w", classify(err))
	}
	return nil
}
