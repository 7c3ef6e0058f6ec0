package store

import "fmt"

// ContainerSecretIDs returns the secret ids a non-deleted container references, by reference name (a key pair's
// private_key, public_key and private_key_passphrase); unnamed references are left out. ErrNotFound when the
// container is missing or deleted.
func (tx *Tx) ContainerSecretIDs(containerID string) (map[string]string, error) {
	var rows []struct {
		Name     *string
		SecretID string
	}
	err := tx.scan(&rows, "SELECT cs.name AS name, cs.secret_id AS secret_id FROM containers c "+
		"LEFT JOIN container_secret cs ON cs.container_id = c.id AND cs.deleted = 0 WHERE c.id = ? AND c.deleted = 0",
		containerID)
	if err != nil {
		return nil, fmt.Errorf("look up container references: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("container: %w", ErrNotFound)
	}
	out := map[string]string{}
	for _, r := range rows {
		if r.Name != nil && r.SecretID != "" {
			out[*r.Name] = r.SecretID
		}
	}
	return out, nil
}
