package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ACLKind names the entity kind an ACL belongs to: secrets and containers keep their ACLs in twin tables.
type ACLKind struct {
	acls, users, entityTable, entityColumn string
}

// The two ACL owners.
var (
	SecretACLs    = ACLKind{acls: "secret_acls", users: "secret_acl_users", entityTable: "secrets", entityColumn: "secret_id"}
	ContainerACLs = ACLKind{acls: "container_acls", users: "container_acl_users", entityTable: "containers",
		entityColumn: "container_id"}
)

// ACLOperationRead is the only ACL operation Barbican's API writes.
const ACLOperationRead = "read"

// aclRow is an ACL row with one of its users (nil for an ACL without users).
type aclRow struct {
	EntityID      string    `gorm:"column:entity_id"`
	ID            string    `gorm:"column:id"`
	Operation     string    `gorm:"column:operation"`
	ProjectAccess bool      `gorm:"column:project_access"`
	CreatedAt     time.Time `gorm:"column:created_at;serializer:kmtime"`
	UpdatedAt     time.Time `gorm:"column:updated_at;serializer:kmtime"`
	UserID        *string   `gorm:"column:user_id"`
}

// aclRows loads the ACLs of the given entities with their users (sorted), keyed by entity id then operation;
// operation "" loads every operation.
func (tx *Tx) aclRows(kind ACLKind, ids []string, operation string) (map[string]map[string]*ACL, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	query := "SELECT a." + kind.entityColumn + " AS entity_id, a.id, a.operation, a.project_access, a.created_at, " +
		"a.updated_at, u.user_id FROM " + kind.acls + " a LEFT JOIN " + kind.users + " u ON u.acl_id = a.id " +
		"WHERE a." + kind.entityColumn + " IN ?"
	args := []any{ids}
	if operation != "" {
		query += " AND a.operation = ?"
		args = append(args, operation)
	}
	var rows []aclRow
	if err := tx.scan(&rows, query+" ORDER BY a."+kind.entityColumn+", a.operation, u.user_id", args...); err != nil {
		return nil, fmt.Errorf("load %s: %w", kind.acls, err)
	}
	out := make(map[string]map[string]*ACL, len(ids))
	for _, r := range rows {
		ops := out[r.EntityID]
		if ops == nil {
			ops = map[string]*ACL{}
			out[r.EntityID] = ops
		}
		acl := ops[r.Operation]
		if acl == nil {
			acl = &ACL{ID: r.ID, ProjectAccess: r.ProjectAccess, Users: []string{}, CreatedAt: r.CreatedAt,
				UpdatedAt: r.UpdatedAt}
			ops[r.Operation] = acl
		}
		if r.UserID != nil {
			acl.Users = append(acl.Users, *r.UserID)
		}
	}
	return out, nil
}

// readACLs returns the 'read' ACLs of the given entities, users sorted, keyed by entity id.
func (tx *Tx) readACLs(kind ACLKind, ids []string) (map[string]*ACL, error) {
	rows, err := tx.aclRows(kind, ids, ACLOperationRead)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*ACL, len(rows))
	for id, ops := range rows {
		out[id] = ops[ACLOperationRead]
	}
	return out, nil
}

// ACLs returns every ACL of an entity keyed by operation (empty when it has none). The API writes only 'read',
// but a database taken over from an older Barbican may hold others, and the reference shows them all.
func (tx *Tx) ACLs(kind ACLKind, entityID string) (map[string]*ACL, error) {
	rows, err := tx.aclRows(kind, []string{entityID}, "")
	if err != nil {
		return nil, err
	}
	return rows[entityID], nil
}

// ACLChange is a write to an entity's 'read' ACL.
type ACLChange struct {
	// ProjectAccess sets project_access; nil keeps the current value (true for a new ACL, the column default).
	ProjectAccess *bool
	// Users, when not nil, replaces the user list (duplicates dropped); nil keeps it.
	Users []string
}

// WriteReadACL creates an entity's 'read' ACL or changes the one it has, and bumps the entity's updated_at, as
// the reference does whenever an ACL PUT or PATCH names the operation.
func (tx *Tx) WriteReadACL(kind ACLKind, entityID string, change ACLChange) error {
	if err := tx.writing("write ACL"); err != nil {
		return err
	}
	for _, u := range change.Users {
		if len(u) > MaxExternalIDLength {
			return fmt.Errorf("ACL user id longer than %d bytes: %w", MaxExternalIDLength, ErrInvalid)
		}
	}
	ts := tx.stamp(tx.now)
	// The entity is updated first: inserting an ACL row takes a shared lock on it (foreign key) that a later
	// update would have to upgrade, which deadlocks concurrent ACL writes on MariaDB.
	if _, err := tx.exec("UPDATE "+kind.entityTable+" SET updated_at = ? WHERE id = ?", ts, entityID); err != nil {
		return fmt.Errorf("write ACL: touch %s: %w", kind.entityTable, err)
	}
	var ids []string
	if err := tx.scan(&ids, "SELECT id FROM "+kind.acls+" WHERE "+kind.entityColumn+" = ? AND operation = ?",
		entityID, ACLOperationRead); err != nil {
		return fmt.Errorf("write ACL: %w", err)
	}
	var aclID string
	if len(ids) > 0 {
		aclID = ids[0]
		set, args := "updated_at = ?", []any{ts}
		if change.ProjectAccess != nil {
			set, args = set+", project_access = ?", append(args, *change.ProjectAccess)
		}
		if _, err := tx.exec("UPDATE "+kind.acls+" SET "+set+" WHERE id = ?", append(args, aclID)...); err != nil {
			return fmt.Errorf("update ACL: %w", err)
		}
	} else {
		aclID = NewID()
		projectAccess := true
		if change.ProjectAccess != nil {
			projectAccess = *change.ProjectAccess
		}
		if _, err := tx.exec("INSERT INTO "+kind.acls+" (id, created_at, updated_at, deleted_at, deleted, status, "+
			kind.entityColumn+", operation, project_access) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)",
			aclID, ts, ts, false, StatusActive, entityID, ACLOperationRead, projectAccess); err != nil {
			return fmt.Errorf("create ACL: %w", err)
		}
	}
	if change.Users != nil {
		return tx.replaceACLUsers(kind, aclID, change.Users, ts)
	}
	return nil
}

// replaceACLUsers makes users (duplicates dropped) the user list of an ACL: rows of users still listed are kept,
// the others hard-deleted, the missing ones inserted, as the reference does.
func (tx *Tx) replaceACLUsers(kind ACLKind, aclID string, users []string, ts string) error {
	want := slices.Compact(slices.Sorted(slices.Values(users)))
	var have []string
	if err := tx.scan(&have, "SELECT user_id FROM "+kind.users+" WHERE acl_id = ?", aclID); err != nil {
		return fmt.Errorf("read ACL users: %w", err)
	}
	var gone []string
	for _, u := range have {
		if i, found := slices.BinarySearch(want, u); found {
			want = slices.Delete(want, i, i+1)
		} else {
			gone = append(gone, u)
		}
	}
	if len(gone) > 0 {
		if _, err := tx.exec("DELETE FROM "+kind.users+" WHERE acl_id = ? AND user_id IN ?", aclID, gone); err != nil {
			return fmt.Errorf("remove ACL users: %w", err)
		}
	}
	if len(want) == 0 {
		return nil
	}
	rows := make([]string, len(want))
	args := make([]any, 0, 8*len(want))
	for i, u := range want {
		rows[i] = "(?, ?, ?, NULL, ?, ?, ?, ?)"
		args = append(args, NewID(), ts, ts, false, StatusActive, aclID, u)
	}
	if _, err := tx.exec("INSERT INTO "+kind.users+" (id, created_at, updated_at, deleted_at, deleted, status, acl_id, "+
		"user_id) VALUES "+strings.Join(rows, ", "), args...); err != nil {
		return fmt.Errorf("add ACL users: %w", err)
	}
	return nil
}

// DeleteACLs hard-deletes the ACLs of an entity with their users, all of them or all but the operations in keep.
func (tx *Tx) DeleteACLs(kind ACLKind, entityID string, keep ...string) error {
	if err := tx.writing("delete ACLs"); err != nil {
		return err
	}
	where, args := kind.entityColumn+" = ?", []any{entityID}
	if len(keep) > 0 {
		where, args = where+" AND operation NOT IN ?", append(args, keep)
	}
	if _, err := tx.exec("DELETE FROM "+kind.users+" WHERE acl_id IN (SELECT id FROM "+kind.acls+" WHERE "+where+")",
		args...); err != nil {
		return fmt.Errorf("delete ACL users: %w", err)
	}
	if _, err := tx.exec("DELETE FROM "+kind.acls+" WHERE "+where, args...); err != nil {
		return fmt.Errorf("delete ACLs: %w", err)
	}
	return nil
}
