package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"gorm.io/gorm/clause"
)

// Consumers register a service's use of a secret or a container. Both kinds are soft-deleted and restored when
// registered again: their unique constraints cover deleted rows, so re-registering keeps the one row.

// consumerTable names a consumer table and its parent.
type consumerTable struct {
	table, parentTable, parentColumn string
	// order is the list order: the reference lists secret consumers by creation, container consumers by name
	// (created_at and id only make paging stable).
	order string
}

var (
	secretConsumers = consumerTable{table: "secret_consumer_metadata", parentTable: "secrets",
		parentColumn: "secret_id", order: "created_at, id"}
	containerConsumers = consumerTable{table: "container_consumer_metadata", parentTable: "containers",
		parentColumn: "container_id", order: "name, created_at, id"}
)

// AddSecretConsumer registers a consumer of a secret (c.SecretID, c.Service, c.ResourceType, c.ResourceID and
// c.ProjectID, the caller's project) and bumps the secret's updated_at. Registering an existing consumer, or one
// deleted earlier, is idempotent: the row is kept (un-deleted) rather than duplicated, as the reference does,
// and c is filled from it.
func (tx *Tx) AddSecretConsumer(c *SecretConsumerMetadatum) error {
	if err := tx.writing("add secret consumer"); err != nil {
		return err
	}
	if len(c.ResourceID) > maxResourceIDLength {
		return fmt.Errorf("consumer resource id longer than %d: %w", maxResourceIDLength, ErrInvalid)
	}
	return registerConsumer(tx, secretConsumers, c.SecretID, c,
		func(c *SecretConsumerMetadatum) (*Model, **string) { return &c.Model, &c.ProjectID },
		"secret_id = ? AND service = ? AND resource_type = ? AND resource_id = ?",
		c.SecretID, c.Service, c.ResourceType, c.ResourceID)
}

// maxResourceIDLength is the width of secret_consumer_metadata.resource_id, which the reference's schema leaves
// unbounded (a longer id fails in the database there).
const maxResourceIDLength = 36

// ContainerConsumerHash is the data_hash of a container consumer: the hex SHA-256 of container id, name and URL
// concatenated, Barbican's uniqueness key for the row.
func ContainerConsumerHash(containerID, name, url string) string {
	sum := sha256.Sum256([]byte(containerID + name + url))
	return hex.EncodeToString(sum[:])
}

// AddContainerConsumer registers a consumer of a container (c.ContainerID, c.Name, c.URL and c.ProjectID, the
// caller's project), with AddSecretConsumer's idempotence, and fills c.
func (tx *Tx) AddContainerConsumer(c *ContainerConsumerMetadatum) error {
	if err := tx.writing("add container consumer"); err != nil {
		return err
	}
	hash := ContainerConsumerHash(c.ContainerID, deref(c.Name), deref(c.URL))
	c.DataHash = &hash
	return registerConsumer(tx, containerConsumers, c.ContainerID, c,
		func(c *ContainerConsumerMetadatum) (*Model, **string) { return &c.Model, &c.ProjectID },
		"data_hash = ?", hash)
}

// registerConsumer is the registration of both consumer kinds: c is the new row, fields gives its common
// columns, where and args find the row with the same unique key.
func registerConsumer[T any](tx *Tx, kind consumerTable, parentID string, c *T, fields func(*T) (*Model, **string),
	where string, args ...any) error {
	find := func(locking bool) ([]T, error) {
		q := tx.g
		if locking && tx.Dialect() == DialectMySQL {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var rows []T
		if err := q.Where(where, args...).Limit(1).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("look up consumer: %w", classify(err))
		}
		return rows, nil
	}
	existing, err := find(false)
	if err != nil {
		return err
	}
	model, project := fields(c)
	if len(existing) == 0 {
		model.init(tx.time(tx.now), StatusActive)
		// The parent is updated before the insert: the insert's foreign-key check takes a shared lock on the
		// parent row that a later update would have to upgrade, which deadlocks concurrent registrations on
		// MariaDB. This way they queue on the parent row instead.
		if err := tx.touchParent(kind, parentID); err != nil {
			return err
		}
		err := tx.insert(c)
		if !errors.Is(err, ErrConflict) {
			if err != nil {
				return fmt.Errorf("add consumer: %w", err)
			}
			return nil
		}
		// Registered concurrently since the lookup (MariaDB): the row is committed now, and a locking read
		// sees it where this transaction's snapshot does not.
		if existing, err = find(true); err != nil {
			return err
		}
		if len(existing) == 0 {
			return fmt.Errorf("add consumer: %w", ErrConflict)
		}
	}
	e := &existing[0]
	if found, owner := fields(e); found.Deleted {
		if err := tx.restoreConsumer(kind, found, *project); err != nil {
			return err
		}
		*owner = *project
	}
	*c = *e
	return nil
}

// restoreConsumer un-deletes a consumer row registered again; its new registrant becomes its owner.
func (tx *Tx) restoreConsumer(kind consumerTable, m *Model, projectID *string) error {
	ts := tx.time(tx.now)
	if _, err := tx.exec("UPDATE "+kind.table+" SET deleted = 0, deleted_at = NULL, updated_at = ?, project_id = ? "+
		"WHERE id = ?", formatTime(ts), projectID, m.ID); err != nil {
		return fmt.Errorf("restore consumer: %w", err)
	}
	m.Deleted, m.DeletedAt, m.UpdatedAt = false, nil, ts
	return nil
}

// touchParent bumps the updated_at of a consumer's secret or container, as the reference does when it adds one.
func (tx *Tx) touchParent(kind consumerTable, parentID string) error {
	if _, err := tx.exec("UPDATE "+kind.parentTable+" SET updated_at = ? WHERE id = ?", tx.stamp(tx.now),
		parentID); err != nil {
		return fmt.Errorf("touch %s: %w", kind.parentTable, err)
	}
	return nil
}

// SecretConsumerByValues returns the consumer of a secret with these values, deleted or not (the reference's
// lookup ignores the deleted flag), or ErrNotFound.
func (tx *Tx) SecretConsumerByValues(secretID, service, resourceType, resourceID string) (*SecretConsumerMetadatum, error) {
	var rows []SecretConsumerMetadatum
	err := tx.g.Where("secret_id = ? AND service = ? AND resource_type = ? AND resource_id = ?",
		secretID, service, resourceType, resourceID).Limit(1).Find(&rows).Error
	return firstConsumer(rows, err)
}

// ContainerConsumerByValues returns the consumer of a container with this name and URL, deleted or not, or
// ErrNotFound.
func (tx *Tx) ContainerConsumerByValues(containerID, name, url string) (*ContainerConsumerMetadatum, error) {
	var rows []ContainerConsumerMetadatum
	err := tx.g.Where("container_id = ? AND name = ? AND URL = ?", containerID, name, url).Limit(1).Find(&rows).Error
	return firstConsumer(rows, err)
}

// SecretConsumer returns a live consumer of a secret by id, or ErrNotFound.
func (tx *Tx) SecretConsumer(secretID, consumerID string) (*SecretConsumerMetadatum, error) {
	var rows []SecretConsumerMetadatum
	err := tx.g.Where("id = ? AND secret_id = ? AND deleted = ?", consumerID, secretID, false).Limit(1).Find(&rows).Error
	return firstConsumer(rows, err)
}

// ContainerConsumer returns a live consumer of a container by id, or ErrNotFound.
func (tx *Tx) ContainerConsumer(containerID, consumerID string) (*ContainerConsumerMetadatum, error) {
	var rows []ContainerConsumerMetadatum
	err := tx.g.Where("id = ? AND container_id = ? AND deleted = ?", consumerID, containerID, false).Limit(1).
		Find(&rows).Error
	return firstConsumer(rows, err)
}

func firstConsumer[T any](rows []T, err error) (*T, error) {
	if err != nil {
		return nil, fmt.Errorf("look up consumer: %w", classify(err))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("consumer: %w", ErrNotFound)
	}
	return &rows[0], nil
}

// DeleteSecretConsumer soft-deletes a live secret consumer; ErrNotFound if it is not live.
func (tx *Tx) DeleteSecretConsumer(id string) error { return tx.deleteConsumer(secretConsumers, id) }

// DeleteContainerConsumer soft-deletes a live container consumer; ErrNotFound if it is not live.
func (tx *Tx) DeleteContainerConsumer(id string) error {
	return tx.deleteConsumer(containerConsumers, id)
}

func (tx *Tx) deleteConsumer(kind consumerTable, id string) error {
	if err := tx.writing("delete consumer"); err != nil {
		return err
	}
	if err := tx.softDelete(kind.table, id); err != nil {
		return fmt.Errorf("delete consumer: %w", err)
	}
	return nil
}

// ListSecretConsumers returns a page of a secret's live consumers, oldest first, and their total.
func (tx *Tx) ListSecretConsumers(secretID string, offset, limit int) ([]SecretConsumerMetadatum, int, error) {
	var rows []SecretConsumerMetadatum
	total, err := tx.listConsumers(secretConsumers, secretID, offset, limit, &rows)
	return rows, total, err
}

// ListContainerConsumers returns a page of a container's live consumers, by name, and their total.
func (tx *Tx) ListContainerConsumers(containerID string, offset, limit int) ([]ContainerConsumerMetadatum, int, error) {
	var rows []ContainerConsumerMetadatum
	total, err := tx.listConsumers(containerConsumers, containerID, offset, limit, &rows)
	return rows, total, err
}

func (tx *Tx) listConsumers(kind consumerTable, parentID string, offset, limit int, dest any) (int, error) {
	if limit <= 0 {
		limit = maxRows
	}
	err := tx.g.Where(kind.parentColumn+" = ? AND deleted = ?", parentID, false).Order(kind.order).
		Offset(max(offset, 0)).Limit(limit).Find(dest).Error
	if err != nil {
		return 0, fmt.Errorf("list consumers: %w", classify(err))
	}
	total, err := tx.count("SELECT COUNT(*) FROM "+kind.table+" WHERE "+kind.parentColumn+" = ? AND deleted = 0",
		parentID)
	if err != nil {
		return 0, fmt.Errorf("count consumers: %w", err)
	}
	return total, nil
}
