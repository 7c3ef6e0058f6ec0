package store

import (
	"errors"
	"fmt"
	"strings"
)

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
	if c.CreatorID != nil && len(*c.CreatorID) > MaxExternalIDLength {
		return fmt.Errorf("creator id longer than %d bytes: %w", MaxExternalIDLength, ErrInvalid)
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

// LiveSecretIDs returns which of ids are live secrets (not deleted, not expired at tx.Now) of the project with
// the given Keystone id: what a container may reference. One query for all of them.
func (tx *Tx) LiveSecretIDs(projectExternalID string, ids []string) (map[string]bool, error) {
	if len(ids) == 0 {
		return map[string]bool{}, nil
	}
	var found []string
	err := tx.scan(&found, "SELECT s.id FROM secrets s JOIN projects p ON p.id = s.project_id WHERE s.id IN ? "+
		"AND p.external_id = ? AND s.deleted = 0 AND (s.expiration IS NULL OR s.expiration > ?)",
		ids, projectExternalID, formatTime(tx.now))
	if err != nil {
		return nil, fmt.Errorf("look up secrets of project: %w", err)
	}
	out := make(map[string]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}

// DeleteContainer soft-deletes a container with the cascade of spec §6.3: its secret references and ACLs (with
// their users) are hard-deleted, its consumers soft-deleted; the referenced secrets stay. ErrNotFound if the
// container does not exist or is already deleted.
func (tx *Tx) DeleteContainer(containerID string) error {
	if err := tx.writing("delete container"); err != nil {
		return err
	}
	if err := tx.softDelete("containers", containerID); err != nil {
		return fmt.Errorf("delete container: %w", err)
	}
	ts := tx.stamp(tx.now)
	if _, err := tx.exec("DELETE FROM container_secret WHERE container_id = ?", containerID); err != nil {
		return fmt.Errorf("delete container: secret references: %w", err)
	}
	if err := tx.DeleteACLs(ContainerACLs, containerID); err != nil {
		return fmt.Errorf("delete container: %w", err)
	}
	if _, err := tx.exec("UPDATE container_consumer_metadata SET deleted = 1, deleted_at = ?, updated_at = ? "+
		"WHERE container_id = ? AND deleted = 0", ts, ts, containerID); err != nil {
		return fmt.Errorf("delete container: consumers: %w", err)
	}
	return nil
}

// nameIs is the condition "column equals name", where a nil name matches NULL (Python's None == None).
func nameIs(column string, name *string) (string, []any) {
	if name == nil {
		return column + " IS NULL", nil
	}
	return column + " = ?", []any{*name}
}

// AddContainerSecret links a secret into a container under an optional name. ErrConflict if the container
// already holds that secret under that name. A link removed earlier is restored rather than inserted again: the
// unique constraint covers removed links too, and the reference answers that case with a 500.
func (tx *Tx) AddContainerSecret(containerID, secretID string, name *string) error {
	if err := tx.writing("add container secret"); err != nil {
		return err
	}
	cond, args := nameIs("name", name)
	var rows []ContainerSecret
	err := tx.g.Where("container_id = ? AND secret_id = ? AND "+cond, append([]any{containerID, secretID}, args...)...).
		Find(&rows).Error
	if err != nil {
		return fmt.Errorf("look up container secret: %w", classify(err))
	}
	for _, row := range rows {
		if !row.Deleted {
			return fmt.Errorf("container secret: %w", ErrConflict)
		}
	}
	ts := tx.time(tx.now)
	if len(rows) > 0 {
		if _, err := tx.exec("UPDATE container_secret SET deleted = 0, deleted_at = NULL, updated_at = ? WHERE id = ?",
			formatTime(ts), rows[0].ID); err != nil {
			return fmt.Errorf("restore container secret: %w", err)
		}
		return nil
	}
	link := ContainerSecret{ContainerID: containerID, SecretID: secretID, Name: name}
	link.init(ts, StatusActive)
	if err := tx.insert(&link); err != nil {
		return fmt.Errorf("add container secret: %w", err)
	}
	return nil
}

// RemoveContainerSecret soft-deletes the links of a secret under a name (nil: the unnamed links) from a
// container. ErrNotFound if there is none.
func (tx *Tx) RemoveContainerSecret(containerID, secretID string, name *string) error {
	if err := tx.writing("remove container secret"); err != nil {
		return err
	}
	cond, args := nameIs("name", name)
	ts := tx.stamp(tx.now)
	changed, err := tx.exec("UPDATE container_secret SET deleted = 1, deleted_at = ?, updated_at = ? "+
		"WHERE container_id = ? AND secret_id = ? AND deleted = 0 AND "+cond,
		append([]any{ts, ts, containerID, secretID}, args...)...)
	if err != nil {
		return fmt.Errorf("remove container secret: %w", err)
	}
	if changed == 0 {
		return fmt.Errorf("container secret: %w", ErrNotFound)
	}
	return nil
}

// ContainerQuery selects a page of a project's live containers (spec §4.6 list).
type ContainerQuery struct {
	ProjectID     string // internal projects.id
	Name          string // SQL LIKE pattern as given ("" = no filter)
	Type          string // exact ("" = no filter)
	Offset, Limit int    // Limit <= 0 = no limit
}

// ListContainers returns a page of live containers, oldest first, with their secret references, consumers and
// ACLs, and the total matching: one query for the rows, one for the total, and one each for the page's ACLs,
// references and consumers, however long the page.
func (tx *Tx) ListContainers(q ContainerQuery) (page []ContainerView, total int, err error) {
	where := []string{"deleted = 0", "project_id = ?"}
	args := []any{q.ProjectID}
	if q.Name != "" {
		where, args = append(where, "name LIKE ?"), append(args, q.Name)
	}
	if q.Type != "" {
		where, args = append(where, "type = ?"), append(args, q.Type)
	}
	whereSQL := strings.Join(where, " AND ")
	limit := q.Limit
	if limit <= 0 {
		limit = maxRows
	}
	// The page's ids are chosen first, so that the per-row flags are computed for the page only: without an
	// index on created_at (Barbican has none) the database sorts the project's containers, and would otherwise
	// evaluate the flags for every one of them before cutting the page.
	page, err = tx.queryContainers("JOIN (SELECT id FROM containers WHERE "+whereSQL+
		" ORDER BY created_at, id LIMIT ? OFFSET ?) pg ON pg.id = c.id ORDER BY c.created_at, c.id",
		append(append([]any{}, args...), limit, max(q.Offset, 0)), true)
	if err != nil {
		return nil, 0, fmt.Errorf("list containers: %w", err)
	}
	// The unfiltered total is the trigger-kept counter the quotas read (a few rows whatever the project's size);
	// a filtered one, or one on a database without the counters, is counted.
	if q.Name == "" && q.Type == "" {
		total, err = tx.ProjectCount(q.ProjectID, CountContainers)
		if err == nil {
			return page, total, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, 0, fmt.Errorf("list containers: %w", err)
		}
	}
	if total, err = tx.count("SELECT COUNT(*) FROM containers WHERE "+whereSQL, args...); err != nil {
		return nil, 0, fmt.Errorf("list containers: count: %w", err)
	}
	return page, total, nil
}
