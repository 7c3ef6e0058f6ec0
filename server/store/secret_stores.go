package store

import "fmt"

// PreferredSecretStoreName returns the name of the secret store a project prefers (project_secret_store in
// multiple-backend mode), or ErrNotFound when it has none. projectID is the internal id.
func (tx *Tx) PreferredSecretStoreName(projectID string) (string, error) {
	var names []string
	err := tx.scan(&names, "SELECT s.name FROM project_secret_store ps JOIN secret_stores s ON s.id = ps.secret_store_id "+
		"WHERE ps.project_id = ? AND ps.deleted = 0 AND s.deleted = 0 LIMIT 1", projectID)
	if err != nil {
		return "", fmt.Errorf("look up preferred secret store: %w", err)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("preferred secret store: %w", ErrNotFound)
	}
	return names[0], nil
}
