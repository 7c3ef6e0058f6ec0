package store

import "fmt"

// AddSecretConsumer registers a consumer of a secret (c.SecretID, c.Service, c.ResourceType, c.ResourceID and
// c.ProjectID, the caller's project). Registering an existing consumer, or one deleted earlier, is idempotent:
// the row is kept (un-deleted) rather than duplicated, as the reference does, and c is filled from it.
func (tx *Tx) AddSecretConsumer(c *SecretConsumerMetadatum) error {
	if err := tx.writing("add secret consumer"); err != nil {
		return err
	}
	var existing []SecretConsumerMetadatum
	err := tx.g.Where("secret_id = ? AND service = ? AND resource_type = ? AND resource_id = ?",
		c.SecretID, c.Service, c.ResourceType, c.ResourceID).Limit(1).Find(&existing).Error
	if err != nil {
		return fmt.Errorf("look up secret consumer: %w", classify(err))
	}
	ts := tx.time(tx.now)
	if len(existing) > 0 {
		e := existing[0]
		if e.Deleted {
			if _, err := tx.exec("UPDATE secret_consumer_metadata SET deleted = ?, deleted_at = NULL, updated_at = ?, "+
				"project_id = ? WHERE id = ?", false, formatTime(ts), c.ProjectID, e.ID); err != nil {
				return fmt.Errorf("restore secret consumer: %w", err)
			}
			e.Deleted, e.DeletedAt, e.UpdatedAt, e.ProjectID = false, nil, ts, c.ProjectID
		}
		*c = e
		return nil
	}
	c.init(ts, StatusActive)
	if err := tx.insert(c); err != nil {
		return fmt.Errorf("add secret consumer: %w", err)
	}
	return nil
}
