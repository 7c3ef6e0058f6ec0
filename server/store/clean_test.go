package store

import (
	"testing"
	"time"
)

func TestClean(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pid := newFixture(t, db, "clean")
		now := time.Now().UTC()
		deleteAt := func(id string, at time.Time) {
			t.Helper()
			if err := writeAt(t, db, at, func(tx *Tx) error { return tx.DeleteSecret(id) }); err != nil {
				t.Fatal(err)
			}
		}
		old := f.secret(pid, Secret{Name: ptr("old")}, "text/plain")
		recent := f.secret(pid, Secret{Name: ptr("recent")}, "text/plain")
		ordered := f.secret(pid, Secret{Name: ptr("ordered")}, "")
		live := f.secret(pid, Secret{Name: ptr("live")}, "text/plain")
		expired := f.secret(pid, Secret{Name: ptr("expired"), Expiration: ptr(now.Add(time.Hour))}, "text/plain")
		write(t, db, func(tx *Tx) error {
			o := Order{Type: "key", ProjectID: pid, SecretID: &ordered.ID}
			o.init(tx.now, StatusActive)
			return tx.insert(&o)
		})
		deleteAt(old.ID, now.Add(-100*24*time.Hour))
		deleteAt(recent.ID, now.Add(-10*24*time.Hour))
		deleteAt(ordered.ID, now.Add(-100*24*time.Hour))
		emptyProject := ensureProject(t, db, "nothing-here")

		count := func(query string, args ...any) int {
			t.Helper()
			n, err := db.Read(t.Context()).count(query, args...)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		later := func() *DB { // Clean runs two hours on, so that the expiring secret has expired
			db.clock = func() time.Time { return now.Add(2 * time.Hour) }
			return db
		}()
		opts := CleanOptions{MinDays: 90, SoftDeleteExpired: true, CleanProjects: true, BatchSize: 1}
		dry := opts
		dry.DryRun = true
		planned, err := later.Clean(t.Context(), dry)
		if err != nil {
			t.Fatal(err)
		}
		if n := count("SELECT COUNT(*) FROM secrets"); n != 5 {
			t.Fatalf("a dry run must change nothing, %d secrets left", n)
		}
		done, err := later.Clean(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		rows := func(steps []CleanStep) map[string]int {
			m := map[string]int{}
			for _, s := range steps {
				m[s.Name] = s.Rows
			}
			return m
		}
		want := map[string]int{
			"soft-delete expired secrets":  1,
			"purge secrets":                1, // old only: recent is too new, ordered is held by its order
			"purge encrypted_data":         1,
			"purge secret_store_metadata":  2,
			"remove unassociated projects": 1,
		}
		got := rows(done)
		for name, n := range want {
			if got[name] != n {
				t.Errorf("%s: %d rows, want %d (all: %v)", name, got[name], n, got)
			}
		}
		// The dry run counted what the run then did, except what the run soft-deleted itself (purged later).
		dryRows := rows(planned)
		for name, n := range got {
			if dryRows[name] != n {
				t.Errorf("dry run said %d for %s, the run did %d", dryRows[name], name, n)
			}
		}
		for _, tc := range []struct {
			id   string
			want int
		}{{old.ID, 0}, {recent.ID, 1}, {ordered.ID, 1}, {live.ID, 1}, {expired.ID, 1}} {
			if n := count("SELECT COUNT(*) FROM secrets WHERE id = ?", tc.id); n != tc.want {
				t.Errorf("secret %s: %d rows, want %d", tc.id, n, tc.want)
			}
		}
		if n := count("SELECT COUNT(*) FROM secrets WHERE id = ? AND deleted = 1", expired.ID); n != 1 {
			t.Errorf("the expired secret should be soft-deleted")
		}
		if n := count("SELECT COUNT(*) FROM projects WHERE id = ?", emptyProject); n != 0 {
			t.Errorf("the empty project should be removed")
		}
		if n := count("SELECT COUNT(*) FROM projects WHERE id = ?", pid); n != 1 {
			t.Errorf("a project with rows must stay")
		}
		if n := count("SELECT COUNT(*) FROM kek_data WHERE id = ?", f.kek.ID); n != 1 {
			t.Errorf("a live KEK must stay")
		}
		checkCounter(t, db, pid)
		// The project row of the store's cache is gone; writing for it again must recreate it, not fail.
		write(t, db, func(tx *Tx) error {
			id, err := tx.EnsureProject("nothing-here")
			if err != nil {
				return err
			}
			return tx.CreateSecret(&Secret{ProjectID: id}, nil)
		})
	})
}
