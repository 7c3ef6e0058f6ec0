package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// ContainerRefs returns a non-deleted container and the secret ids it references by reference name (a key
// pair's private_key, public_key and private_key_passphrase); unnamed references are left out. ErrNotFound when
// the container is missing or deleted.
func (tx *Tx) ContainerRefs(containerID string) (*Container, map[string]string, error) {
	var c Container
	err := tx.g.Where("id = ? AND deleted = ?", containerID, false).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, fmt.Errorf("container: %w", ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up container: %w", classify(err))
	}
	var rows []ContainerSecret
	if err := tx.g.Where("container_id = ? AND deleted = ?", containerID, false).Find(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("look up container references: %w", classify(err))
	}
	refs := map[string]string{}
	for _, r := range rows {
		if r.Name != nil {
			refs[*r.Name] = r.SecretID
		}
	}
	return &c, refs, nil
}
