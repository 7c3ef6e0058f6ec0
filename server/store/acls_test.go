package store

import (
	"fmt"
	"testing"
	"time"
)

func TestWriteReadACL(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "acls")
		s := f.secret(pa, Secret{}, "")
		t0 := time.Now()
		at := func(offset int, change ACLChange) {
			t.Helper()
			if err := writeAt(t, db, t0.Add(time.Duration(offset)*time.Second), func(tx *Tx) error {
				return tx.WriteReadACL(SecretACLs, s.ID, change)
			}); err != nil {
				t.Fatal(err)
			}
		}
		read := func() *ACL {
			t.Helper()
			acls, err := db.Read(t.Context()).ACLs(SecretACLs, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			return acls[ACLOperationRead]
		}
		userRowID := func(user string) string {
			var id string
			db.reader.Raw("SELECT u.id FROM secret_acl_users u JOIN secret_acls a ON a.id = u.acl_id "+
				"WHERE a.secret_id = ? AND u.user_id = ?", s.ID, user).Scan(&id)
			return id
		}

		at(0, ACLChange{Users: []string{"b", "a", "b"}})
		acl := read()
		if acl == nil || !acl.ProjectAccess || fmt.Sprint(acl.Users) != "[a b]" || !acl.CreatedAt.Equal(acl.UpdatedAt) {
			t.Fatalf("a new ACL defaults to project access with de-duplicated users, got %+v", acl)
		}
		created, keptRow := acl.CreatedAt, userRowID("b")

		at(1, ACLChange{ProjectAccess: ptr(false)})
		acl = read()
		if acl.ProjectAccess || fmt.Sprint(acl.Users) != "[a b]" || !acl.CreatedAt.Equal(created) ||
			!acl.UpdatedAt.Equal(dbTime(db.reader, t0.Add(time.Second))) {
			t.Errorf("changing only project access keeps users and created, bumps updated, got %+v", acl)
		}
		at(2, ACLChange{Users: []string{"c", "b"}})
		acl = read()
		if acl.ProjectAccess || fmt.Sprint(acl.Users) != "[b c]" || userRowID("b") != keptRow {
			t.Errorf("replacing users keeps the rows of users still listed, got %+v", acl)
		}
		v, _ := db.Read(t.Context()).Secret(s.ID, LoadOptions{})
		if !v.UpdatedAt.Equal(dbTime(db.reader, t0.Add(2*time.Second))) {
			t.Errorf("an ACL write should bump the secret's updated_at, got %v", v.UpdatedAt)
		}
		at(3, ACLChange{Users: []string{}})
		if acl = read(); len(acl.Users) != 0 || acl.Users == nil {
			t.Errorf("an empty user list clears the users, got %#v", acl.Users)
		}

		// A database taken over from an older Barbican may hold ACLs of other operations.
		write(t, db, func(tx *Tx) error {
			legacy := SecretACL{SecretID: s.ID, Operation: "list", ProjectAccess: true}
			legacy.init(tx.time(tx.now), StatusActive)
			return tx.insert(&legacy)
		})
		acls, err := db.Read(t.Context()).ACLs(SecretACLs, s.ID)
		if err != nil || len(acls) != 2 || acls["list"] == nil {
			t.Fatalf("ACLs should return every operation, got %v %v", acls, err)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteACLs(SecretACLs, s.ID, ACLOperationRead) })
		if acls, _ = db.Read(t.Context()).ACLs(SecretACLs, s.ID); len(acls) != 1 || acls[ACLOperationRead] == nil {
			t.Errorf("DeleteACLs with keep should leave only the kept operation, got %v", acls)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteACLs(SecretACLs, s.ID) })
		if acls, _ = db.Read(t.Context()).ACLs(SecretACLs, s.ID); len(acls) != 0 {
			t.Errorf("DeleteACLs should leave none, got %v", acls)
		}
		var users int
		db.reader.Raw("SELECT COUNT(*) FROM secret_acl_users").Scan(&users)
		if users != 0 {
			t.Errorf("ACL users should be hard-deleted with their ACL, %d left", users)
		}
	})
}
