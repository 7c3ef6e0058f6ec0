package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// BenchmarkStore measures the hot store operations on SQLite and MariaDB.
// The two list benchmarks must come out about equal: listing a page and its
// total must not cost more in a project with 100,000 secrets than in one with
// 1,000 (that is what keymanager's additive indexes and counter are for).
//
// context.Background() is used rather than b.Context() so that the timed
// work does not include context bookkeeping the server would not do.
func BenchmarkStore(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchStore(b, openTestDB(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("mysql", func(b *testing.B) {
		benchStore(b, openTestDB(b, testbed.NewMySQLDatabase(b)))
	})
}

func benchStore(b *testing.B, db *DB) {
	ctx := context.Background()
	f, small := newFixture(b, db, "bench-1k")
	_, large := newFixture(b, db, "bench-100k")
	seed(b, db, f.kek, small, 1000)
	seed(b, db, f.kek, large, 100_000)
	var oneID string
	db.reader.Raw("SELECT id FROM secrets WHERE project_id = ? LIMIT 1", small).Scan(&oneID)

	b.Run("create", func(b *testing.B) {
		// 4 goroutines per CPU: about the 8 concurrent clients of the
		// throughput target on a 2-core machine.
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				err := db.Write(ctx, func(tx *Tx) error {
					s := Secret{ProjectID: small, Name: ptr("bench")}
					data := &EncryptedDatum{ContentType: ptr("text/plain"), KEKID: f.kek.ID, CypherText: ptr("Y2lwaGVy")}
					return tx.CreateSecret(&s, testPayload(data, map[string]string{"content_type": "text/plain", "plugin_name": "p"}))
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, err := readAt(db, time.Now()).Secret(oneID, LoadOptions{Consumers: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, p := range []struct {
		name, id string
	}{{"list-1k", small}, {"list-100k", large}} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				page, total, err := db.Read(ctx).ListSecrets(SecretQuery{ProjectID: p.id, Limit: 10, Consumers: true})
				if err != nil || len(page) != 10 || total < 1000 {
					b.Fatalf("ListSecrets: %d rows, total %d, %v", len(page), total, err)
				}
			}
		})
	}
}

// seed inserts n secrets with payload rows into a project using multi-row
// inserts in one transaction, outside the timed part.
func seed(b testing.TB, db *DB, kek *KEKDatum, projectID string, n int) {
	b.Helper()
	const chunk = 500
	base := time.Now().Add(-time.Duration(n) * time.Second)
	err := db.Write(context.Background(), func(tx *Tx) error {
		for start := 0; start < n; start += chunk {
			size := min(chunk, n-start)
			secrets := make([]Secret, size)
			data := make([]EncryptedDatum, size)
			meta := make([]SecretStoreMetadatum, size)
			for i := range size {
				at := tx.time(base.Add(time.Duration(start+i) * time.Second))
				secrets[i] = Secret{ProjectID: projectID, Name: ptr(fmt.Sprint("s", start+i)), SecretType: "opaque"}
				secrets[i].init(at, StatusActive)
				data[i] = EncryptedDatum{SecretID: secrets[i].ID, KEKID: kek.ID, ContentType: ptr("text/plain"), CypherText: ptr("eA==")}
				data[i].init(at, StatusActive)
				meta[i] = SecretStoreMetadatum{SecretID: secrets[i].ID, Key: "content_type", Value: "text/plain"}
				meta[i].init(at, StatusActive)
			}
			for _, rows := range []any{&secrets, &data, &meta} {
				if err := tx.g.Create(rows).Error; err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("seed %d secrets: %v", n, err)
	}
}

// BenchmarkContainerStore measures container creation (two secret references), a container read with its
// details, a page of ten of a project's 1,000 containers with theirs, and consumer registration (all on one
// container, so concurrent registrations queue on its row), on SQLite and MariaDB. A page costs the same five
// queries whatever its size (TestListContainers counts them); like the reference, the list sorts and counts
// the project's containers without an index of its own.
func BenchmarkContainerStore(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchContainers(b, openTestDB(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("mysql", func(b *testing.B) {
		benchContainers(b, openTestDB(b, testbed.NewMySQLDatabase(b)))
	})
}

func benchContainers(b *testing.B, db *DB) {
	ctx := context.Background()
	f, pid := newFixture(b, db, "bench-containers")
	s1, s2 := f.secret(pid, Secret{}, "text/plain"), f.secret(pid, Secret{}, "text/plain")
	create := func(projectID string) (*Container, error) {
		c := &Container{Name: ptr("bench"), Type: ptr(ContainerRSA), ProjectID: projectID}
		refs := []ContainerSecret{{SecretID: s1.ID, Name: ptr("public_key")}, {SecretID: s2.ID, Name: ptr("private_key")}}
		return c, db.Write(ctx, func(tx *Tx) error { return tx.CreateContainer(c, refs) })
	}
	// The list reads a project of its own that keeps 1,000 containers, one in ten with a consumer.
	listed := ensureProject(b, db, "bench-containers-list")
	var seeded *Container
	for i := range 1000 {
		c, err := create(listed)
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			write(b, db, func(tx *Tx) error {
				return tx.AddContainerConsumer(&ContainerConsumerMetadatum{ContainerID: c.ID, Name: ptr("lb"), URL: ptr("http://lb")})
			})
			seeded = c
		}
	}

	b.Run("create", func(b *testing.B) {
		b.SetParallelism(4) // about 8 concurrent clients on 2 cores, as for secrets
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := create(pid); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if v, err := db.Read(ctx).Container(seeded.ID, true); err != nil || len(v.SecretRefs) != 2 || len(v.Consumers) != 1 {
				b.Fatalf("Container: %+v %v", v, err)
			}
		}
	})
	b.Run("list-10-of-1000", func(b *testing.B) {
		for b.Loop() {
			page, total, err := db.Read(ctx).ListContainers(ContainerQuery{ProjectID: listed, Limit: 10})
			if err != nil || len(page) != 10 || total != 1000 {
				b.Fatalf("ListContainers: %d of %d, %v", len(page), total, err)
			}
		}
	})
	var n atomic.Int64
	b.Run("consumer-add", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				name := fmt.Sprint("c", n.Add(1))
				err := db.Write(ctx, func(tx *Tx) error {
					return tx.AddContainerConsumer(&ContainerConsumerMetadatum{ContainerID: seeded.ID, Name: &name,
						URL: ptr("http://" + name), ProjectID: &pid})
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
