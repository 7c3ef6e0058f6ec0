package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// rawDialects is dialects without Upgrade: fn gets an empty database.
func rawDialects(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { fn(t, openRaw(t, filepath.Join(t.TempDir(), "km.db"))) })
	t.Run("mysql", func(t *testing.T) { fn(t, openRaw(t, testbed.NewMySQLDatabase(t))) })
}

// buildAt creates Barbican's schema as the reference would have left it at
// revision rev, by hand, without keymanager's steps.
func buildAt(t *testing.T, db *DB, rev string) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{alembicVersionTableSQL(db.dialect)}
	for _, step := range barbicanSteps {
		stmts = append(stmts, step.stmts(db.dialect)...)
		if step.revision == rev {
			break
		}
	}
	stmts = append(stmts, "INSERT INTO alembic_version (version_num) VALUES ('"+rev+"')")
	err := db.withMigrator(ctx, func(m *migrator) error { return m.run(ctx, stmts) })
	if err != nil {
		t.Fatalf("build schema at %s: %v", rev, err)
	}
}

func assertCurrent(t *testing.T, db *DB, wantRev string, wantVersion int) {
	t.Helper()
	rev, v, err := db.Current(context.Background())
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	if rev != wantRev || v != wantVersion {
		t.Fatalf("Current = (%q, %d), want (%q, %d)", rev, v, wantRev, wantVersion)
	}
}

func TestUpgradeFromEmpty(t *testing.T) {
	rawDialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		assertCurrent(t, db, "", 0)
		if err := db.Upgrade(ctx); err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		assertCurrent(t, db, HeadRevision, LatestKeymanagerVersion)
		if err := db.Upgrade(ctx); err != nil {
			t.Fatalf("second Upgrade should be a no-op: %v", err)
		}
		assertCurrent(t, db, HeadRevision, LatestKeymanagerVersion)
		m := &migrator{dialect: db.dialect, g: db.reader}
		for _, name := range []string{"projects", "secrets", "secret_consumer_metadata", "orders",
			"certificate_authorities", "alembic_version", "keymanager_migrations", projectCountsTable} {
			if ok, err := m.tableExists(ctx, name); err != nil || !ok {
				t.Errorf("table %s should exist (err %v)", name, err)
			}
		}
		// Revision 8c74e2d7f1ff: a consumer without project and two consumers
		// of one resource from different services are both allowed.
		f, pid := newFixture(t, db, "p")
		s := f.secret(pid, Secret{}, "")
		write(t, db, func(tx *Tx) error {
			for _, svc := range []string{"image", "volume"} {
				c := SecretConsumerMetadatum{SecretID: s.ID, Service: svc, ResourceType: "r", ResourceID: "x"}
				c.init(tx.time(s.CreatedAt), StatusActive)
				if err := tx.g.Create(&c).Error; err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func TestUpgradeTakesOverBarbicanDatabase(t *testing.T) {
	for _, rev := range []string{RevisionOcataRebase, RevisionSecretConsumers, RevisionConsumersUnique} {
		t.Run("at "+rev, func(t *testing.T) {
			rawDialects(t, func(t *testing.T, db *DB) {
				ctx := context.Background()
				buildAt(t, db, rev)
				assertCurrent(t, db, rev, 0)
				// Rows written by the reference before the takeover are counted
				// by the backfill.
				var pid string
				write(t, db, func(tx *Tx) error {
					p := Project{ExternalID: ptr("legacy")}
					p.init(tx.time(timeNow()), StatusActive)
					pid = p.ID
					if err := tx.g.Create(&p).Error; err != nil {
						return err
					}
					for i := range 3 {
						s := Secret{ProjectID: pid, SecretType: "opaque", Model: Model{Deleted: i == 2}}
						s.init(tx.time(timeNow()), StatusActive)
						if err := tx.g.Create(&s).Error; err != nil {
							return err
						}
					}
					return nil
				})
				if err := db.Upgrade(ctx); err != nil {
					t.Fatalf("Upgrade: %v", err)
				}
				assertCurrent(t, db, HeadRevision, LatestKeymanagerVersion)
				if n := checkCounter(t, db, pid); n != 2 {
					t.Fatalf("backfilled counter should be 2, is %d", n)
				}
			})
		})
	}
}

func TestUpgradeRefusesUnknownRevision(t *testing.T) {
	rawDialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		stmts := []string{alembicVersionTableSQL(db.dialect), "INSERT INTO alembic_version (version_num) VALUES ('deadbeef1234')"}
		if err := db.withMigrator(ctx, func(m *migrator) error { return m.run(ctx, stmts) }); err != nil {
			t.Fatal(err)
		}
		err := db.Upgrade(ctx)
		if err == nil || !strings.Contains(err.Error(), "deadbeef1234") {
			t.Fatalf("Upgrade should fail naming the unknown revision, got %v", err)
		}
	})
}

func TestCounterTriggersStayExact(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "count-a")
		_, pb := newFixture(t, db, "count-b")
		var ids []string
		for range 5 {
			ids = append(ids, f.secret(pa, Secret{}, "text/plain").ID)
		}
		steps := []struct {
			name string
			sql  string
			args []any
			a, b int64
		}{
			{"inserts count", "", nil, 5, 0},
			{"a soft delete decrements", "UPDATE secrets SET deleted = 1 WHERE id = ?", []any{ids[0]}, 4, 0},
			{"deleting again changes nothing", "UPDATE secrets SET deleted = 1 WHERE id = ?", []any{ids[0]}, 4, 0},
			{"an undelete increments", "UPDATE secrets SET deleted = 0 WHERE id = ?", []any{ids[0]}, 5, 0},
			{"a plain update changes nothing", "UPDATE secrets SET name = 'x' WHERE id = ?", []any{ids[1]}, 5, 0},
			{"a project move moves the count", "UPDATE secrets SET project_id = ? WHERE id = ?", []any{pb, ids[1]}, 4, 1},
			{"a hard delete of a live secret decrements", "DELETE FROM encrypted_data WHERE secret_id = ?", []any{ids[2]}, 4, 1},
			{"", "DELETE FROM secret_store_metadata WHERE secret_id = ?", []any{ids[2]}, 4, 1},
			{"", "DELETE FROM secrets WHERE id = ?", []any{ids[2]}, 3, 1},
			{"a hard delete of a deleted secret changes nothing", "UPDATE secrets SET deleted = 1 WHERE id = ?", []any{ids[3]}, 2, 1},
			{"", "DELETE FROM encrypted_data WHERE secret_id = ?", []any{ids[3]}, 2, 1},
			{"", "DELETE FROM secret_store_metadata WHERE secret_id = ?", []any{ids[3]}, 2, 1},
			{"", "DELETE FROM secrets WHERE id = ?", []any{ids[3]}, 2, 1},
		}
		for i, st := range steps {
			if st.sql != "" {
				write(t, db, func(tx *Tx) error { return tx.g.Exec(st.sql, st.args...).Error })
			}
			if a, b := checkCounter(t, db, pa), checkCounter(t, db, pb); a != st.a || b != st.b {
				t.Fatalf("step %d (%s): counters (%d, %d), want (%d, %d)", i, st.name, a, b, st.a, st.b)
			}
		}
	})
}

func TestCurrentOnEmptyDatabase(t *testing.T) {
	db := openRaw(t, "sqlite:///:memory:")
	assertCurrent(t, db, "", 0)
	if err := db.Upgrade(context.Background()); err != nil {
		t.Fatalf("Upgrade in memory: %v", err)
	}
	assertCurrent(t, db, HeadRevision, LatestKeymanagerVersion)
	_ = fmt.Sprint()
}
