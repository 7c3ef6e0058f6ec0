package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestContainerConsumers(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		_, pa := newFixture(t, db, "consumers-a")
		pb := ensureProject(t, db, "consumers-b")
		c := containerFixture(t, db, pa, ContainerGeneric, nil, nil)
		later := time.Now().Add(time.Hour)
		register := func(at time.Time, project, name string) *ContainerConsumerMetadatum {
			t.Helper()
			cc := &ContainerConsumerMetadatum{ContainerID: c.ID, ProjectID: &project, Name: ptr(name), URL: ptr("http://" + name)}
			if err := writeAt(t, db, at, func(tx *Tx) error { return tx.AddContainerConsumer(cc) }); err != nil {
				t.Fatal(err)
			}
			return cc
		}
		first := register(time.Now(), pa, "lb")
		if want := ContainerConsumerHash(c.ID, "lb", "http://lb"); deref(first.DataHash) != want || len(want) != 64 {
			t.Errorf("data_hash should be the sha256 of id+name+URL, got %q want %q", deref(first.DataHash), want)
		}
		v, _ := db.Read(t.Context()).Container(c.ID, false)
		if !v.UpdatedAt.Equal(first.CreatedAt) {
			t.Errorf("registering a consumer should bump the container's updated_at to %v, got %v", first.CreatedAt, v.UpdatedAt)
		}
		again := register(later, pa, "lb")
		if again.ID != first.ID || !again.UpdatedAt.Equal(first.UpdatedAt) {
			t.Errorf("registering a live consumer again should change nothing, got %+v", again)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteContainerConsumer(first.ID) })
		if err := db.Write(t.Context(), func(tx *Tx) error { return tx.DeleteContainerConsumer(first.ID) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting a deleted consumer should be ErrNotFound, got %v", err)
		}
		gone, err := db.Read(t.Context()).ContainerConsumerByValues(c.ID, "lb", "http://lb")
		if err != nil || !gone.Deleted {
			t.Errorf("the lookup by values should find the deleted consumer too, got %+v %v", gone, err)
		}
		restored := register(later, pb, "lb")
		if restored.ID != first.ID || restored.Deleted || deref(restored.ProjectID) != pb ||
			!restored.UpdatedAt.Equal(dbTime(db.reader, later)) {
			t.Errorf("registering a deleted consumer should restore its row for the new registrant, got %+v", restored)
		}
		register(time.Now(), pa, "alpha")
		page, total, err := db.Read(t.Context()).ListContainerConsumers(c.ID, 0, 1)
		if err != nil || total != 2 || len(page) != 1 || deref(page[0].Name) != "alpha" {
			t.Errorf("consumers should be listed by name, got %+v of %d (%v)", page, total, err)
		}
		one, err := db.Read(t.Context()).ContainerConsumer(c.ID, first.ID)
		if err != nil || deref(one.Name) != "lb" {
			t.Errorf("ContainerConsumer should find the consumer by id, got %+v %v", one, err)
		}
		other := containerFixture(t, db, pa, ContainerGeneric, nil, nil)
		if _, err := db.Read(t.Context()).ContainerConsumer(other.ID, first.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("a consumer is found only under its own container, got %v", err)
		}
	})
}

func TestSecretConsumers(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "secret-consumers")
		s := f.secret(pa, Secret{}, "")
		base := time.Now()
		var ids []string
		for i, resource := range []string{"r2", "r1", "r3"} {
			c := &SecretConsumerMetadatum{SecretID: s.ID, ProjectID: &pa, Service: "image", ResourceType: "image",
				ResourceID: resource}
			if err := writeAt(t, db, base.Add(time.Duration(i)*time.Second), func(tx *Tx) error {
				return tx.AddSecretConsumer(c)
			}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		page, total, err := db.Read(t.Context()).ListSecretConsumers(s.ID, 1, 10)
		if err != nil || total != 3 || len(page) != 2 || page[0].ResourceID != "r1" || page[1].ResourceID != "r3" {
			t.Errorf("secret consumers should be listed oldest first, got %+v of %d (%v)", page, total, err)
		}
		v, _ := db.Read(t.Context()).Secret(s.ID, LoadOptions{})
		if !v.UpdatedAt.Equal(dbTime(db.reader, base.Add(2*time.Second))) {
			t.Errorf("registering a consumer should bump the secret's updated_at, got %v", v.UpdatedAt)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteSecretConsumer(ids[0]) })
		c, err := db.Read(t.Context()).SecretConsumerByValues(s.ID, "image", "image", "r2")
		if err != nil || !c.Deleted {
			t.Errorf("the lookup by values should find the deleted consumer, got %+v %v", c, err)
		}
		if _, err := db.Read(t.Context()).SecretConsumer(s.ID, ids[0]); !errors.Is(err, ErrNotFound) {
			t.Errorf("a deleted consumer is not found by id, got %v", err)
		}
		if got, err := db.Read(t.Context()).SecretConsumer(s.ID, ids[1]); err != nil || got.ResourceID != "r1" {
			t.Errorf("SecretConsumer should find a live consumer by id, got %+v %v", got, err)
		}
		err = db.Write(t.Context(), func(tx *Tx) error {
			return tx.AddSecretConsumer(&SecretConsumerMetadatum{SecretID: s.ID, ProjectID: &pa, Service: "x",
				ResourceType: "y", ResourceID: "0123456789012345678901234567890123456"})
		})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("a resource id longer than its column should be ErrInvalid, got %v", err)
		}
	})
}

// TestConcurrentRegistrations registers consumers and writes ACLs on one container from many goroutines at
// once: on MariaDB every transaction locks the container row before its foreign-key check would, so they queue
// instead of deadlocking, and two registrations of the same consumer leave one row.
func TestConcurrentRegistrations(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		pa := ensureProject(t, db, "concurrent")
		c := containerFixture(t, db, pa, ContainerGeneric, nil, nil)
		const workers = 12
		errs := make(chan error, 3*workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, name := range []string{fmt.Sprint("own-", i), "shared"} {
					errs <- db.Write(t.Context(), func(tx *Tx) error {
						return tx.AddContainerConsumer(&ContainerConsumerMetadatum{ContainerID: c.ID, ProjectID: &pa,
							Name: ptr(name), URL: ptr("http://" + name)})
					})
				}
				errs <- db.Write(t.Context(), func(tx *Tx) error {
					return tx.WriteReadACL(ContainerACLs, c.ID, ACLChange{Users: []string{fmt.Sprint("u", i)}})
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("a concurrent write failed: %v", err)
			}
		}
		_, total, err := db.Read(t.Context()).ListContainerConsumers(c.ID, 0, 0)
		if err != nil || total != workers+1 {
			t.Errorf("%d consumers expected (one shared), got %d (%v)", workers+1, total, err)
		}
	})
}
