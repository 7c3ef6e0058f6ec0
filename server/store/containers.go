package store

import "fmt"

// Container types (containers.type, spec §4.6). dsa is produced only by DSA asymmetric orders.
const (
	ContainerGeneric     = "generic"
	ContainerRSA         = "rsa"
	ContainerCertificate = "certificate"
	ContainerDSA         = "dsa"
)

// CreateContainer inserts c (its ID, timestamps and status are filled when empty) and one container_secret row
// per reference (c's timestamps; ContainerID set). The caller has checked that the referenced secrets exist in
// the container's project.
func (tx *Tx) CreateContainer(c *Container, refs []ContainerSecret) error {
	if err := tx.writing("create container"); err != nil {
		return err
	}
	c.init(tx.now, StatusActive)
	c.CreatedAt, c.UpdatedAt = tx.time(c.CreatedAt), tx.time(c.UpdatedAt)
	if err := tx.insert(c); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	if len(refs) == 0 {
		return nil
	}
	for i := range refs {
		refs[i].ContainerID = c.ID
		refs[i].init(c.CreatedAt, StatusActive)
	}
	if err := tx.insert(&refs); err != nil {
		return fmt.Errorf("create container secret references: %w", err)
	}
	return nil
}
