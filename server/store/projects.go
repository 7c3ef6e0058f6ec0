package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ProjectID returns the internal id of the project with the given Keystone
// id, or ErrNotFound if the project was never seen. Ids are cached: a
// project row never changes its external id.
func (db *DB) ProjectID(ctx context.Context, externalID string) (string, error) {
	if id, ok := db.projects.Load(externalID); ok {
		return id.(string), nil
	}
	var ids []string
	err := db.read(ctx).Raw("SELECT id FROM projects WHERE external_id = ? LIMIT 1", externalID).Scan(&ids).Error
	if err != nil {
		return "", fmt.Errorf("look up project: %w", classify(err))
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("project: %w", ErrNotFound)
	}
	db.projects.Store(externalID, ids[0])
	return ids[0], nil
}

// EnsureProject returns the internal id of the project with the given
// Keystone id, creating the row on first sight. Concurrent callers (or
// servers) racing to create it all end up with the one row UNIQUE(external_id)
// lets through.
func (db *DB) EnsureProject(ctx context.Context, externalID string) (string, error) {
	id, err := db.ProjectID(ctx, externalID)
	if !errors.Is(err, ErrNotFound) {
		return id, err
	}
	now := time.Now()
	var created string
	err = db.Write(ctx, func(tx *gorm.DB) error {
		var ids []string
		if err := tx.Raw("SELECT id FROM projects WHERE external_id = ? LIMIT 1", externalID).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) > 0 {
			created = ids[0]
			return nil
		}
		p := Project{ExternalID: externalID}
		p.init(dbTime(tx, now), StatusActive)
		if err := tx.Create(&p).Error; err != nil {
			return err
		}
		created = p.ID
		return nil
	})
	if errors.Is(err, ErrConflict) {
		// Lost the race to another server: its row is committed now.
		return db.ProjectID(ctx, externalID)
	}
	if err != nil {
		return "", fmt.Errorf("create project: %w", err)
	}
	db.projects.Store(externalID, created)
	return created, nil
}
