package store

import (
	"fmt"
	"slices"
	"time"
)

// ACLKind names the entity kind an ACL belongs to: secrets and containers keep their ACLs in twin tables.
type ACLKind struct {
	acls, users, entityColumn string
}

// The two ACL owners.
var (
	SecretACLs    = ACLKind{acls: "secret_acls", users: "secret_acl_users", entityColumn: "secret_id"}
	ContainerACLs = ACLKind{acls: "container_acls", users: "container_acl_users", entityColumn: "container_id"}
)

// ACLOperationRead is the only ACL operation Barbican has.
const ACLOperationRead = "read"

// aclRow is an ACL row with one of its users (nil for an ACL without users).
type aclRow struct {
	EntityID      string    `gorm:"column:entity_id"`
	ID            string    `gorm:"column:id"`
	ProjectAccess bool      `gorm:"column:project_access"`
	CreatedAt     time.Time `gorm:"column:created_at;serializer:kmtime"`
	UpdatedAt     time.Time `gorm:"column:updated_at;serializer:kmtime"`
	UserID        *string   `gorm:"column:user_id"`
}

// readACLs returns the 'read' ACLs of the given entities, users sorted, keyed by entity id.
func (tx *Tx) readACLs(kind ACLKind, ids []string) (map[string]*ACL, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []aclRow
	err := tx.scan(&rows, "SELECT a."+kind.entityColumn+" AS entity_id, a.id, a.project_access, a.created_at, "+
		"a.updated_at, u.user_id FROM "+kind.acls+" a LEFT JOIN "+kind.users+" u ON u.acl_id = a.id "+
		"WHERE a."+kind.entityColumn+" IN ? AND a.operation = ? ORDER BY a."+kind.entityColumn+", u.user_id",
		ids, ACLOperationRead)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kind.acls, err)
	}
	out := make(map[string]*ACL, len(ids))
	for _, r := range rows {
		acl := out[r.EntityID]
		if acl == nil {
			acl = &ACL{ID: r.ID, ProjectAccess: r.ProjectAccess, Users: []string{}, CreatedAt: r.CreatedAt,
				UpdatedAt: r.UpdatedAt}
			out[r.EntityID] = acl
		}
		if r.UserID != nil {
			acl.Users = append(acl.Users, *r.UserID)
		}
	}
	return out, nil
}

// ReadACL returns an entity's 'read' ACL, or ErrNotFound when it has none.
func (tx *Tx) ReadACL(kind ACLKind, entityID string) (*ACL, error) {
	acls, err := tx.readACLs(kind, []string{entityID})
	if err != nil {
		return nil, err
	}
	acl, ok := acls[entityID]
	if !ok {
		return nil, fmt.Errorf("%s: %w", kind.acls, ErrNotFound)
	}
	return acl, nil
}

// SetReadACL creates or replaces an entity's 'read' ACL: its project_access flag and its whole user list
// (duplicates dropped). ACL rows are hard-deleted and replaced, as the reference does.
func (tx *Tx) SetReadACL(kind ACLKind, entityID string, projectAccess bool, users []string) error {
	if err := tx.writing("set ACL"); err != nil {
		return err
	}
	ts := tx.stamp(tx.now)
	var ids []string
	if err := tx.scan(&ids, "SELECT id FROM "+kind.acls+" WHERE "+kind.entityColumn+" = ? AND operation = ?",
		entityID, ACLOperationRead); err != nil {
		return fmt.Errorf("set ACL: %w", err)
	}
	var aclID string
	if len(ids) > 0 {
		aclID = ids[0]
		if _, err := tx.exec("UPDATE "+kind.acls+" SET project_access = ?, updated_at = ? WHERE id = ?",
			projectAccess, ts, aclID); err != nil {
			return fmt.Errorf("set ACL: %w", err)
		}
		if _, err := tx.exec("DELETE FROM "+kind.users+" WHERE acl_id = ?", aclID); err != nil {
			return fmt.Errorf("set ACL users: %w", err)
		}
	} else {
		aclID = NewID()
		if _, err := tx.exec("INSERT INTO "+kind.acls+" (id, created_at, updated_at, deleted_at, deleted, status, "+
			kind.entityColumn+", operation, project_access) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)",
			aclID, ts, ts, false, StatusActive, entityID, ACLOperationRead, projectAccess); err != nil {
			return fmt.Errorf("create ACL: %w", err)
		}
	}
	users = slices.Compact(slices.Sorted(slices.Values(users)))
	for _, u := range users {
		if _, err := tx.exec("INSERT INTO "+kind.users+" (id, created_at, updated_at, deleted_at, deleted, status, "+
			"acl_id, user_id) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)", NewID(), ts, ts, false, StatusActive, aclID, u); err != nil {
			return fmt.Errorf("set ACL users: %w", err)
		}
	}
	return nil
}

// DeleteACLs hard-deletes every ACL of an entity with its users.
func (tx *Tx) DeleteACLs(kind ACLKind, entityID string) error {
	if err := tx.writing("delete ACLs"); err != nil {
		return err
	}
	if _, err := tx.exec("DELETE FROM "+kind.users+" WHERE acl_id IN (SELECT id FROM "+kind.acls+" WHERE "+
		kind.entityColumn+" = ?)", entityID); err != nil {
		return fmt.Errorf("delete ACL users: %w", err)
	}
	if _, err := tx.exec("DELETE FROM "+kind.acls+" WHERE "+kind.entityColumn+" = ?", entityID); err != nil {
		return fmt.Errorf("delete ACLs: %w", err)
	}
	return nil
}
