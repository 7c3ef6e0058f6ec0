package store

import (
	"context"
	"testing"
)

// TestDeleteProjectResources deletes one project's secrets, containers and orders with their cascades, leaves
// other projects alone, and is a no-op the second time and for an unknown project.
func TestDeleteProjectResources(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, gone := newFixture(t, db, "deleted-project")
		kept := ensureProject(t, db, "kept-project")
		s1 := f.secret(gone, Secret{Name: ptr("a")}, "text/plain")
		f.secret(gone, Secret{Name: ptr("b")}, "")
		other := f.secret(kept, Secret{Name: ptr("other")}, "text/plain")
		c := &Container{Name: ptr("c"), Type: ptr("generic"), ProjectID: gone}
		write(t, db, func(tx *Tx) error {
			return tx.CreateContainer(c, []ContainerSecret{{SecretID: s1.ID}})
		})
		newOrder(t, db, gone, `{"name": "k"}`, 0)
		keptOrder := newOrder(t, db, kept, `{"name": "k"}`, 1)

		var done ProjectDeletion
		write(t, db, func(tx *Tx) (err error) { done, err = tx.DeleteProjectResources("deleted-project"); return err })
		if done != (ProjectDeletion{Secrets: 2, Containers: 1, Orders: 1}) {
			t.Fatalf("deleted %+v", done)
		}
		if n := checkCounter(t, db, gone); n != 0 {
			t.Fatalf("the deleted project still counts %d secrets", n)
		}
		if n := checkCounter(t, db, kept); n != 1 {
			t.Fatalf("the other project should keep its secret, counts %d", n)
		}
		r := db.Read(context.Background())
		if _, err := r.Order(keptOrder.ID, "kept-project"); err != nil {
			t.Fatalf("the other project's order: %v", err)
		}
		var live int64
		if err := db.reader.Raw("SELECT COUNT(*) FROM secrets WHERE id = ? AND deleted = 0", other.ID).Scan(&live).Error; err != nil || live != 1 {
			t.Fatalf("the other project's secret: %d %v", live, err)
		}
		for _, project := range []string{"deleted-project", "never-seen"} {
			write(t, db, func(tx *Tx) (err error) { done, err = tx.DeleteProjectResources(project); return err })
			if done != (ProjectDeletion{}) {
				t.Fatalf("%s: a second deletion should find nothing, deleted %+v", project, done)
			}
		}
	})
}
