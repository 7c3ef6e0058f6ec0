package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultSecretType is the secret_type of a secret created without one, and what a NULL or empty column reads
// as (spec §4.2).
const DefaultSecretType = "opaque"

// ACL is an entity's 'read' access rule with its user list.
type ACL struct {
	ID            string
	ProjectAccess bool
	Users         []string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Owner is what the policy needs to know of an entity: the Keystone id of its project, its creator and its
// 'read' ACL (nil when it has none).
type Owner struct {
	ProjectExternalID string
	CreatorID         *string
	ReadACL           *ACL
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

// Owner returns the secret's owner for policy targets.
func (v *SecretView) Owner() Owner {
	return Owner{ProjectExternalID: v.ProjectExternalID, CreatorID: v.CreatorID, ReadACL: v.ReadACL}
}

// LoadOptions select the optional parts of a SecretView.
type LoadOptions struct {
	Consumers bool
	Payload   bool
}

// SecretPayload is what a secret store writes for one secret: its encrypted_data row (nil for a store that
// keeps the ciphertext elsewhere) and its secret_store_metadata rows, complete with ids, timestamps and the
// secret id.
type SecretPayload struct {
	Data      *EncryptedDatum
	StoreMeta []SecretStoreMetadatum
}

const secretColumns = "s.id, s.created_at, s.updated_at, s.deleted_at, s.deleted, s.status, s.name, " +
	"s.secret_type, s.expiration, s.algorithm, s.bit_length, s.mode, s.creator_id, s.project_id, " +
	"p.external_id AS project_external_id"

// textTimes makes SQLite hand the timestamp columns of a secret read over as the text they hold (a unary +
// leaves a value as it is but drops the column's declared type): mattn's driver otherwise parses every
// DATETIME column itself, trying two layouts that never match before the one that does, three parses per
// timestamp; parseNaive reads the text once.
var textTimes = strings.NewReplacer("s.created_at,", "+s.created_at,", "s.updated_at,", "+s.updated_at,",
	"s.deleted_at,", "+s.deleted_at,", "s.expiration,", "+s.expiration,", "e.created_at,", "+e.created_at,",
	"e.updated_at,", "+e.updated_at,", "k.created_at,", "+k.created_at,", "k.updated_at,", "+k.updated_at,")

// listColumns are the columns of a list page: per dialect, with or without consumers. They are built once:
// every list selects one of these four texts.
var listColumns = func() map[listShape]string {
	m := map[listShape]string{}
	for _, d := range []string{DialectSQLite, DialectMySQL} {
		for _, consumers := range []bool{false, true} {
			cols := secretColumns + summaryColumns(d, consumers)
			if d == DialectSQLite {
				cols = textTimes.Replace(cols)
			}
			m[listShape{d, consumers}] = cols
		}
	}
	return m
}()

type listShape struct {
	dialect   string
	consumers bool
}

// CreateSecret inserts s (its ID, timestamps and status are filled when empty) and, when p is not nil, its
// payload rows.
func (tx *Tx) CreateSecret(s *Secret, p *SecretPayload) error {
	if err := tx.writing("create secret"); err != nil {
		return err
	}
	s.init(tx.now, StatusActive)
	s.CreatedAt, s.UpdatedAt = tx.time(s.CreatedAt), tx.time(s.UpdatedAt)
	if s.SecretType == "" {
		s.SecretType = DefaultSecretType
	}
	// Secret creation is the hottest write: plain INSERTs with fixed text (prepared once per connection) cost
	// a fraction of gorm's reflective Create inside the single SQLite writer.
	_, err := tx.exec("INSERT INTO secrets (id, created_at, updated_at, deleted_at, deleted, status, name, secret_type, "+
		"expiration, algorithm, bit_length, mode, creator_id, project_id) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		s.ID, formatTime(s.CreatedAt), formatTime(s.UpdatedAt), false, s.Status, s.Name, s.SecretType,
		tx.optionalStamp(s.Expiration), s.Algorithm, s.BitLength, s.Mode, s.CreatorID, s.ProjectID)
	if err != nil {
		return fmt.Errorf("create secret: %w", err)
	}
	return tx.insertPayload(s.ID, p)
}

// softDelete marks a live row of table deleted (deleted, deleted_at and updated_at set to now), the reference's
// soft delete; ErrNotFound if the row is missing or already deleted.
func (tx *Tx) softDelete(table, id string) error {
	ts := tx.stamp(tx.now)
	changed, err := tx.exec("UPDATE "+table+" SET deleted = 1, deleted_at = ?, updated_at = ? WHERE id = ? AND deleted = 0",
		ts, ts, id)
	if err != nil {
		return err
	}
	if changed == 0 {
		return fmt.Errorf("%s row: %w", table, ErrNotFound)
	}
	return nil
}

// optionalStamp is the bind value of a nullable DATETIME column.
func (tx *Tx) optionalStamp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return tx.stamp(*t)
}

func (tx *Tx) insertPayload(secretID string, p *SecretPayload) error {
	if p == nil {
		return nil
	}
	if data := p.Data; data != nil {
		data.SecretID = secretID
		data.init(tx.now, StatusActive)
		data.CreatedAt, data.UpdatedAt = tx.time(data.CreatedAt), tx.time(data.UpdatedAt)
		_, err := tx.exec("INSERT INTO encrypted_data (id, created_at, updated_at, deleted_at, deleted, status, "+
			"content_type, secret_id, kek_id, cypher_text, kek_meta_extended) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
			data.ID, formatTime(data.CreatedAt), formatTime(data.UpdatedAt), false, data.Status, data.ContentType,
			data.SecretID, data.KEKID, data.CypherText, data.KEKMetaExtended)
		if err != nil {
			return fmt.Errorf("create encrypted data: %w", err)
		}
	}
	if len(p.StoreMeta) == 0 {
		return nil
	}
	// One statement for all entries, in key order so that the statement text (and its prepared form) repeats.
	meta := slices.Clone(p.StoreMeta)
	slices.SortFunc(meta, func(a, b SecretStoreMetadatum) int { return strings.Compare(a.Key, b.Key) })
	var b strings.Builder
	b.WriteString("INSERT INTO secret_store_metadata (id, created_at, updated_at, deleted_at, deleted, status, " +
		quote(tx.Dialect(), "key") + ", value, secret_id) VALUES ")
	args := make([]any, 0, 8*len(meta))
	for i := range meta {
		m := &meta[i]
		m.SecretID = secretID
		m.init(tx.now, StatusActive)
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, NULL, ?, ?, ?, ?, ?)")
		args = append(args, m.ID, tx.stamp(m.CreatedAt), tx.stamp(m.UpdatedAt), false, m.Status, m.Key, m.Value, secretID)
	}
	if _, err := tx.exec(b.String(), args...); err != nil {
		return fmt.Errorf("create secret store metadata: %w", err)
	}
	return nil
}

// AddSecretPayload stores the payload of a metadata-only secret and bumps its updated_at. ErrConflict if the
// secret already has a payload, ErrNotFound if it is missing or deleted.
func (tx *Tx) AddSecretPayload(secretID string, p *SecretPayload) error {
	if err := tx.writing("add secret payload"); err != nil {
		return err
	}
	n, err := tx.count("SELECT (SELECT COUNT(*) FROM encrypted_data WHERE secret_id = ? AND deleted = 0) + "+
		"(SELECT COUNT(*) FROM secret_store_metadata WHERE secret_id = ? AND deleted = 0)", secretID, secretID)
	if err != nil {
		return fmt.Errorf("check secret payload: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("secret already has a payload: %w", ErrConflict)
	}
	changed, err := tx.exec("UPDATE secrets SET updated_at = ? WHERE id = ? AND deleted = 0", tx.stamp(tx.now), secretID)
	if err != nil {
		return fmt.Errorf("update secret: %w", err)
	}
	if changed == 0 {
		return fmt.Errorf("secret: %w", ErrNotFound)
	}
	return tx.insertPayload(secretID, p)
}

// DeleteSecret soft-deletes a secret with the cascade of spec §6.3: store metadata, user metadata, encrypted
// data and container links are soft-deleted, ACLs and their users hard-deleted, consumers soft-deleted.
// ErrNotFound if the secret does not exist or is already deleted.
func (tx *Tx) DeleteSecret(secretID string) error {
	if err := tx.writing("delete secret"); err != nil {
		return err
	}
	if err := tx.softDelete("secrets", secretID); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	ts := tx.stamp(tx.now)
	for _, table := range []string{"secret_store_metadata", "secret_user_metadata", "encrypted_data",
		"container_secret", "secret_consumer_metadata"} {
		_, err := tx.exec("UPDATE "+table+" SET deleted = 1, deleted_at = ?, updated_at = ? "+
			"WHERE secret_id = ? AND deleted = 0", ts, ts, secretID)
		if err != nil {
			return fmt.Errorf("delete secret: cascade to %s: %w", table, err)
		}
	}
	if err := tx.DeleteACLs(SecretACLs, secretID); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}
