package store

import (
	"errors"
	"fmt"
)

// ProjectDeletion counts what DeleteProjectResources deleted.
type ProjectDeletion struct {
	Secrets, Containers, Orders int
}

// DeleteProjectResources soft-deletes every secret, container and order of the project with Keystone id
// externalID, each with its usual cascade (spec §6.3), in this transaction: what Barbican's keystone-listener
// does when Keystone announces identity.project.deleted. A project never seen, or one already cleaned up,
// deletes nothing, so a notification delivered twice is harmless.
func (tx *Tx) DeleteProjectResources(externalID string) (ProjectDeletion, error) {
	var done ProjectDeletion
	if err := tx.writing("delete project resources"); err != nil {
		return done, err
	}
	projectID, err := tx.ProjectID(externalID)
	if errors.Is(err, ErrNotFound) {
		return done, nil
	}
	if err != nil {
		return done, err
	}
	// Containers first, as Barbican does: their secret references go with them.
	steps := []struct {
		table string
		del   func(id string) error
		n     *int
	}{
		{"containers", tx.DeleteContainer, &done.Containers},
		{"secrets", tx.DeleteSecret, &done.Secrets},
		{"orders", tx.DeleteOrder, &done.Orders},
	}
	for _, s := range steps {
		var ids []string
		if err := tx.scan(&ids, "SELECT id FROM "+s.table+" WHERE project_id = ? AND deleted = 0", projectID); err != nil {
			return done, fmt.Errorf("delete project resources: list %s: %w", s.table, err)
		}
		for _, id := range ids {
			if err := s.del(id); err != nil {
				return done, fmt.Errorf("delete project resources: %w", err)
			}
			*s.n++
		}
	}
	return done, nil
}
