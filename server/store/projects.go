package store

import (
	"errors"
	"fmt"
)

// MaxExternalIDLength is the width of projects.external_id (and of the other Keystone id columns): a longer id
// can never be stored, so callers refuse it before it reaches the database.
const MaxExternalIDLength = 255

// errProjectRace marks the loss of a race to create a project row: another transaction inserted the same
// external id first. Write runs the whole function again (MariaDB), and the second run finds the row.
var errProjectRace = errors.New("project row created concurrently")

// ProjectID returns the internal id of the project with the given Keystone id, or ErrNotFound if the project
// was never seen. Ids are cached once committed: a project row never changes its external id.
func (tx *Tx) ProjectID(externalID string) (string, error) {
	if id, ok := tx.db.projects.Load(externalID); ok {
		return id.(string), nil
	}
	var ids []string
	if err := tx.scan(&ids, "SELECT id FROM projects WHERE external_id = ? LIMIT 1", externalID); err != nil {
		return "", fmt.Errorf("look up project: %w", err)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("project: %w", ErrNotFound)
	}
	tx.AfterCommit(func() { tx.db.projects.Store(externalID, ids[0]) })
	return ids[0], nil
}

// EnsureProject returns the internal id of the project with the given Keystone id, creating its row inside
// this transaction on first sight. Concurrent creators all end up with the one row UNIQUE(external_id) lets
// through: on SQLite the single writer serialises them; on MariaDB the loser's insert fails and Write runs its
// function again, which then finds the winner's row.
//
// A committed id is taken from the cache without a query: the hottest write, a secret's creation, then costs
// no lookup. Should the row be gone (`manage db clean --clean-unassociated-projects` in another process), the
// write fails on its foreign key and Write runs it again without the cache (Tx.forgetStaleProjects).
func (tx *Tx) EnsureProject(externalID string) (string, error) {
	if len(externalID) > MaxExternalIDLength {
		return "", fmt.Errorf("project id longer than %d bytes: %w", MaxExternalIDLength, ErrInvalid)
	}
	if err := tx.writing("create project"); err != nil {
		return "", err
	}
	if id, ok := tx.db.projects.Load(externalID); ok {
		tx.cachedProjects = append(tx.cachedProjects, externalID)
		return id.(string), nil
	}
	var ids []string
	if err := tx.scan(&ids, "SELECT id FROM projects WHERE external_id = ? LIMIT 1", externalID); err != nil {
		return "", fmt.Errorf("look up project: %w", err)
	}
	if len(ids) > 0 {
		tx.AfterCommit(func() { tx.db.projects.Store(externalID, ids[0]) })
		return ids[0], nil
	}
	p := Project{ExternalID: &externalID}
	p.init(tx.time(tx.now), StatusActive)
	if err := tx.insert(&p); err != nil {
		if errors.Is(err, ErrConflict) {
			return "", fmt.Errorf("create project: %w: %w", errProjectRace, err)
		}
		return "", fmt.Errorf("create project: %w", err)
	}
	tx.AfterCommit(func() { tx.db.projects.Store(externalID, p.ID) })
	return p.ID, nil
}

// forgetStaleProjects reports whether a failed write may have used a cached project id whose row is gone (err
// is a foreign-key violation and the write took an id from the cache); it then drops those ids from the cache.
func (tx *Tx) forgetStaleProjects(err error) bool {
	if tx == nil || len(tx.cachedProjects) == 0 || !isForeignKeyViolation(err) {
		return false
	}
	for _, ext := range tx.cachedProjects {
		tx.db.projects.Delete(ext)
	}
	return true
}
