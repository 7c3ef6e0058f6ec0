package store

import (
	"testing"
)

// TestProjectCounters holds the trigger-kept counters of every quota resource against the rows they count, on
// both databases, through creates, soft deletes, a project move and a hard delete.
func TestProjectCounters(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pid := newFixture(t, db, "counted")
		other := ensureProject(t, db, "other")
		count := func(resource string) int {
			t.Helper()
			n, err := db.Read(t.Context()).ProjectCount(pid, resource)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		var secrets []*Secret
		for range 20 { // enough ids to spread over the shards on MariaDB
			secrets = append(secrets, f.secret(pid, Secret{}, ""))
		}
		var containers []*Container
		write(t, db, func(tx *Tx) error {
			for range 3 {
				c := &Container{ProjectID: pid, Type: ptr(ContainerGeneric)}
				if err := tx.CreateContainer(c, []ContainerSecret{{SecretID: secrets[0].ID}}); err != nil {
					return err
				}
				containers = append(containers, c)
			}
			for range 2 {
				o := Order{Type: "key", ProjectID: pid}
				o.init(tx.now, StatusPending)
				if err := tx.insert(&o); err != nil {
					return err
				}
			}
			for i, s := range secrets[:4] {
				c := &SecretConsumerMetadatum{SecretID: s.ID, ProjectID: &pid, Service: "svc", ResourceType: "t",
					ResourceID: string(rune('a' + i))}
				if err := tx.AddSecretConsumer(c); err != nil {
					return err
				}
			}
			// A consumer registered by no project is not counted.
			return tx.AddSecretConsumer(&SecretConsumerMetadatum{SecretID: secrets[5].ID, Service: "svc",
				ResourceType: "t", ResourceID: "none"})
		})
		want := map[string]int{CountSecrets: 20, CountContainers: 3, CountOrders: 2, CountSecretConsumers: 4,
			CountContainerConsumers: 0}
		check := func(when string) {
			t.Helper()
			for r, n := range want {
				if got := count(r); got != n {
					t.Errorf("%s: %s counted %d, want %d", when, r, got, n)
				}
			}
		}
		check("after creating")

		// Deleting a secret soft-deletes its consumers and container links: both counters follow.
		write(t, db, func(tx *Tx) error { return tx.DeleteSecret(secrets[1].ID) })
		want[CountSecrets], want[CountSecretConsumers] = 19, 3
		// A container moved to another project leaves this one's count.
		write(t, db, func(tx *Tx) error {
			_, err := tx.exec("UPDATE containers SET project_id = ? WHERE id = ?", other, containers[0].ID)
			return err
		})
		want[CountContainers] = 2
		check("after a delete and a move")
		if n, _ := db.Read(t.Context()).ProjectCount(other, CountContainers); n != 1 {
			t.Errorf("the moved container should count in its new project, counted %d", n)
		}
		// A hard delete of a live row (as db clean never does, but an operator might) is counted too.
		write(t, db, func(tx *Tx) error {
			if _, err := tx.exec("DELETE FROM container_secret WHERE container_id = ?", containers[1].ID); err != nil {
				return err
			}
			_, err := tx.exec("DELETE FROM containers WHERE id = ?", containers[1].ID)
			return err
		})
		want[CountContainers] = 1
		check("after a hard delete")
	})
}
