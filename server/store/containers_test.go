package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// containerFixture creates a container of type typ in project pid referencing secretIDs under names.
func containerFixture(t testing.TB, db *DB, pid, typ string, name *string, refs map[string]*string) *Container {
	t.Helper()
	c := &Container{Name: name, Type: &typ, ProjectID: pid, CreatorID: ptr("creator")}
	var links []ContainerSecret
	for secretID, refName := range refs {
		links = append(links, ContainerSecret{SecretID: secretID, Name: refName})
	}
	write(t, db, func(tx *Tx) error { return tx.CreateContainer(c, links) })
	return c
}

// countQueries counts the statements the reader pool runs from now on (on MariaDB, the writer's too).
func countQueries(t testing.TB, db *DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	name := fmt.Sprintf("test:count-%p", &n)
	if err := db.reader.Callback().Query().After("gorm:query").Register(name, count); err != nil {
		t.Fatal(err)
	}
	if err := db.reader.Callback().Row().After("gorm:row").Register(name, count); err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestContainerLookup(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "containers-a")
		s1 := f.secret(pa, Secret{Name: ptr("one")}, "text/plain")
		s2 := f.secret(pa, Secret{Name: ptr("two")}, "text/plain")
		c := containerFixture(t, db, pa, ContainerRSA, ptr("pair"),
			map[string]*string{s1.ID: ptr("public_key"), s2.ID: ptr("private_key")})
		write(t, db, func(tx *Tx) error {
			for _, name := range []string{"zeta", "Alpha", "beta"} {
				if err := tx.AddContainerConsumer(&ContainerConsumerMetadatum{ContainerID: c.ID, Name: ptr(name),
					URL: ptr("http://" + name)}); err != nil {
					return err
				}
			}
			return tx.WriteReadACL(ContainerACLs, c.ID, ACLChange{ProjectAccess: ptr(false), Users: []string{"u2", "u1"}})
		})

		v, err := db.Read(t.Context()).Container(c.ID, true)
		if err != nil {
			t.Fatalf("Container: %v", err)
		}
		if v.ProjectExternalID != "containers-a" || deref(v.Name) != "pair" || deref(v.Type) != ContainerRSA ||
			deref(v.CreatorID) != "creator" || v.Status != StatusActive {
			t.Errorf("container should read back as written, got %+v", v)
		}
		if len(v.SecretRefs) != 2 || deref(v.SecretRefs[0].Name) != "private_key" || v.SecretRefs[0].SecretID != s2.ID ||
			deref(v.SecretRefs[1].Name) != "public_key" {
			t.Errorf("references created together should come by name, got %+v", v.SecretRefs)
		}
		var names []string
		for _, cc := range v.Consumers {
			names = append(names, deref(cc.Name))
		}
		if len(names) != 3 || names[2] != "zeta" {
			t.Errorf("consumers should be listed by name, got %v", names)
		}
		if v.ReadACL == nil || v.ReadACL.ProjectAccess || fmt.Sprint(v.ReadACL.Users) != "[u1 u2]" {
			t.Errorf("read ACL should be loaded with sorted users, got %+v", v.ReadACL)
		}

		bare, err := db.Read(t.Context()).Container(c.ID, false)
		if err != nil || bare.SecretRefs != nil || bare.Consumers != nil || bare.ReadACL == nil {
			t.Errorf("without details only the ACL is loaded, got %+v %v", bare, err)
		}

		write(t, db, func(tx *Tx) error { return tx.DeleteSecret(s1.ID) })
		v, err = db.Read(t.Context()).Container(c.ID, true)
		if err != nil || len(v.SecretRefs) != 1 || v.SecretRefs[0].SecretID != s2.ID {
			t.Errorf("a deleted secret should disappear from its containers, got %+v %v", v, err)
		}
		if _, err := db.Read(t.Context()).Container(NewID(), false); !errors.Is(err, ErrNotFound) {
			t.Errorf("an unknown container should be ErrNotFound, got %v", err)
		}
	})
}

func TestDeleteContainerCascade(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "containers-del")
		s1 := f.secret(pa, Secret{}, "text/plain")
		c := containerFixture(t, db, pa, ContainerGeneric, nil, map[string]*string{s1.ID: nil})
		write(t, db, func(tx *Tx) error {
			if err := tx.AddContainerConsumer(&ContainerConsumerMetadatum{ContainerID: c.ID, Name: ptr("lb"),
				URL: ptr("http://lb")}); err != nil {
				return err
			}
			return tx.WriteReadACL(ContainerACLs, c.ID, ACLChange{Users: []string{"u1"}})
		})
		write(t, db, func(tx *Tx) error { return tx.DeleteContainer(c.ID) })

		rows := func(query string) int {
			var n int
			if err := db.reader.Raw(query, c.ID).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := rows("SELECT COUNT(*) FROM container_secret WHERE container_id = ?"); n != 0 {
			t.Errorf("secret references should be hard-deleted, %d rows left", n)
		}
		if n := rows("SELECT COUNT(*) FROM container_acls WHERE container_id = ?") +
			rows("SELECT COUNT(*) FROM container_acl_users u JOIN container_acls a ON a.id = u.acl_id WHERE a.container_id = ?"); n != 0 {
			t.Errorf("ACLs and their users should be hard-deleted, %d rows left", n)
		}
		if n := rows("SELECT COUNT(*) FROM container_consumer_metadata WHERE container_id = ? AND deleted = 1 AND deleted_at IS NOT NULL"); n != 1 {
			t.Errorf("the consumer should be soft-deleted, found %d soft-deleted", n)
		}
		if n := rows("SELECT COUNT(*) FROM containers WHERE id = ? AND deleted = 1"); n != 1 {
			t.Errorf("the container should be soft-deleted")
		}
		if _, err := db.Read(t.Context()).Secret(s1.ID, LoadOptions{}); err != nil {
			t.Errorf("the referenced secret must stay: %v", err)
		}
		if _, err := db.Read(t.Context()).Container(c.ID, false); !errors.Is(err, ErrNotFound) {
			t.Errorf("a deleted container should be ErrNotFound, got %v", err)
		}
		err := db.Write(t.Context(), func(tx *Tx) error { return tx.DeleteContainer(c.ID) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting twice should be ErrNotFound, got %v", err)
		}
	})
}

func TestContainerSecretLinks(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "containers-links")
		s1 := f.secret(pa, Secret{}, "")
		c := containerFixture(t, db, pa, ContainerGeneric, nil, nil)
		add := func(name *string) error {
			return db.Write(t.Context(), func(tx *Tx) error { return tx.AddContainerSecret(c.ID, s1.ID, name) })
		}
		remove := func(name *string) error {
			return db.Write(t.Context(), func(tx *Tx) error { return tx.RemoveContainerSecret(c.ID, s1.ID, name) })
		}
		if err := add(nil); err != nil {
			t.Fatal(err)
		}
		if err := add(nil); !errors.Is(err, ErrConflict) {
			t.Errorf("the same secret unnamed twice should conflict, got %v", err)
		}
		if err := add(ptr("a")); err != nil {
			t.Errorf("the same secret under another name is allowed: %v", err)
		}
		if err := remove(ptr("b")); !errors.Is(err, ErrNotFound) {
			t.Errorf("removing a name that is not linked should be ErrNotFound, got %v", err)
		}
		if err := remove(ptr("a")); err != nil {
			t.Fatal(err)
		}
		if err := add(ptr("a")); err != nil {
			t.Errorf("a removed link should be restorable: %v", err)
		}
		var n int
		db.reader.Raw("SELECT COUNT(*) FROM container_secret WHERE container_id = ?", c.ID).Scan(&n)
		if n != 2 {
			t.Errorf("restoring should reuse the row, found %d rows", n)
		}
		if err := remove(nil); err != nil {
			t.Errorf("the unnamed link should be removable by a nil name: %v", err)
		}
		v, err := db.Read(t.Context()).Container(c.ID, true)
		if err != nil || len(v.SecretRefs) != 1 || deref(v.SecretRefs[0].Name) != "a" {
			t.Errorf("only the link named a should be left, got %+v %v", v, err)
		}

		live, err := db.Read(t.Context()).LiveSecretIDs("containers-links", []string{s1.ID, NewID()})
		if err != nil || len(live) != 1 || !live[s1.ID] {
			t.Errorf("LiveSecretIDs should find just the live secret, got %v %v", live, err)
		}
		if live, _ := db.Read(t.Context()).LiveSecretIDs("another-project", []string{s1.ID}); len(live) != 0 {
			t.Errorf("a secret of another project is not live for this one, got %v", live)
		}
	})
}

func TestListContainers(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "containers-list")
		_, pb := newFixture(t, db, "containers-list-b")
		secret := f.secret(pa, Secret{}, "")
		base := time.Now().Add(-time.Hour)
		var ids []string
		for i := range 25 {
			typ := ContainerGeneric
			if i%5 == 0 {
				typ = ContainerCertificate
			}
			c := &Container{Name: ptr(fmt.Sprintf("c-%02d", i)), Type: &typ, ProjectID: pa}
			err := writeAt(t, db, base.Add(time.Duration(i)*time.Second), func(tx *Tx) error {
				if err := tx.CreateContainer(c, []ContainerSecret{{SecretID: secret.ID, Name: ptr("x")}}); err != nil {
					return err
				}
				if err := tx.AddContainerConsumer(&ContainerConsumerMetadatum{ContainerID: c.ID, Name: ptr("lb"),
					URL: ptr("http://lb")}); err != nil {
					return err
				}
				if i%2 == 0 {
					return tx.WriteReadACL(ContainerACLs, c.ID, ACLChange{Users: []string{"u"}})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		containerFixture(t, db, pb, ContainerGeneric, ptr("c-other"), nil)

		queries := countQueries(t, db)
		page, total, err := db.Read(t.Context()).ListContainers(ContainerQuery{ProjectID: pa, Offset: 5, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if n := queries.Load(); n != 5 {
			t.Errorf("a page should cost five queries (rows, total, ACLs, references, consumers), took %d", n)
		}
		if total != 25 || len(page) != 20 || page[0].ID != ids[5] || page[19].ID != ids[24] {
			t.Fatalf("page 5..24 of 25 oldest first expected, got %d rows of %d", len(page), total)
		}
		for _, v := range page {
			if len(v.SecretRefs) != 1 || len(v.Consumers) != 1 || (v.ReadACL != nil) != (deref(v.Name)[3]%2 == 0) {
				t.Fatalf("every container of the page should carry its details, got %+v", v)
			}
		}

		certs, total, err := db.Read(t.Context()).ListContainers(ContainerQuery{ProjectID: pa, Type: ContainerCertificate})
		if err != nil || total != 5 || len(certs) != 5 {
			t.Errorf("type filter should find the 5 certificate containers, got %d of %d (%v)", len(certs), total, err)
		}
		named, total, err := db.Read(t.Context()).ListContainers(ContainerQuery{ProjectID: pa, Name: "c-1%", Limit: 3})
		if err != nil || total != 10 || len(named) != 3 || deref(named[0].Name) != "c-10" {
			t.Errorf("name LIKE filter should find c-10..c-19, got %d of %d (%v)", len(named), total, err)
		}
		empty, total, err := db.Read(t.Context()).ListContainers(ContainerQuery{ProjectID: pa, Offset: 30, Limit: 10})
		if err != nil || total != 25 || len(empty) != 0 {
			t.Errorf("a page past the end should be empty with the total, got %d of %d (%v)", len(empty), total, err)
		}
	})
}
