package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// exec runs statements on the database outside any keymanager bookkeeping, as an administrator would by hand.
func exec(t *testing.T, db *DB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if err := db.withMigrator(ctx, func(m *migrator) error { return m.run(ctx, stmts) }); err != nil {
		t.Fatalf("running by hand: %v", err)
	}
}

// legacyProject inserts a project with two live secrets and a deleted one, as the reference would.
func legacyProject(t *testing.T, db *DB, pid string) {
	t.Helper()
	const ts = "'2024-01-02 03:04:05'"
	stmts := []string{"INSERT INTO projects (id, created_at, updated_at, deleted, status, external_id) VALUES ('" +
		pid + "', " + ts + ", " + ts + ", 0, 'ACTIVE', 'ext-" + pid + "')"}
	for i, deleted := range []int{0, 0, 1} {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO secrets (id, created_at, updated_at, deleted, status, "+
			"secret_type, project_id) VALUES ('%s-s%d', %s, %s, %d, 'ACTIVE', 'opaque', '%s')", pid, i, ts, ts, deleted, pid))
	}
	exec(t, db, stmts...)
}

// schemaObjects lists every table, index and trigger of the database, to compare a schema before and after.
func schemaObjects(t *testing.T, db *DB) []string {
	t.Helper()
	q := "SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite%' ORDER BY 1"
	if db.dialect == DialectMySQL {
		q = `SELECT CONCAT('table ', table_name) FROM information_schema.tables WHERE table_schema = DATABASE()
UNION ALL SELECT DISTINCT CONCAT('index ', table_name, '.', index_name) FROM information_schema.statistics WHERE table_schema = DATABASE()
UNION ALL SELECT CONCAT('trigger ', trigger_name) FROM information_schema.triggers WHERE trigger_schema = DATABASE()
ORDER BY 1`
	}
	var names []string
	if err := db.reader.Raw(q).Scan(&names).Error; err != nil {
		t.Fatalf("listing the schema: %v", err)
	}
	return names
}

// TestUpgradeResumesAnInterruptedStep runs part of keymanager's steps by hand, as a crash between two MySQL DDL
// statements leaves them, and checks that Upgrade completes them, twice over, with exact counts.
func TestUpgradeResumesAnInterruptedStep(t *testing.T) {
	rawDialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		buildAt(t, db, HeadRevision)
		legacyProject(t, db, "p1")
		step1, step2 := listIndexesSQL(db.dialect), secretCounterSQL(db.dialect)
		exec(t, db, keymanagerMigrationsTableSQL(db.dialect), step1[0].sql, step2[0].sql, step2[1].sql,
			// Counts an interrupted run may have left: they must be recounted, not added to.
			"INSERT INTO "+countsTable+" (project_id, live) VALUES ('p1', 40), ('gone', 7)")
		for range 2 {
			if err := db.Upgrade(ctx); err != nil {
				t.Fatalf("Upgrade after an interruption: %v", err)
			}
			assertCurrent(t, db, HeadRevision, LatestKeymanagerVersion)
		}
		if n := checkCounter(t, db, "p1"); n != 2 {
			t.Fatalf("the counter of p1 is %d, want 2", n)
		}
		if n := checkCounter(t, db, "gone"); n != 0 {
			t.Fatalf("a stale count survived the backfill: %d", n)
		}
		got := schemaObjects(t, db)
		for _, want := range []string{"trigger keymanager_count_secrets_insert", "trigger keymanager_count_secrets_delete",
			"trigger keymanager_count_orders_insert", "table " + projectCountsTable} {
			if !slices.Contains(got, want) {
				t.Errorf("missing %s after the resumed upgrade; schema: %v", want, got)
			}
		}
		// Step 3 replaced step 2's counter.
		for _, gone := range []string{"trigger keymanager_secrets_count_insert", "table " + legacyCountsTable} {
			if slices.Contains(got, gone) {
				t.Errorf("%s should be gone after step 3; schema: %v", gone, got)
			}
		}
		// The triggers keep counting after the resumed step.
		legacyProject(t, db, "p2")
		if n := checkCounter(t, db, "p2"); n != 2 {
			t.Fatalf("the counter of p2 is %d, want 2", n)
		}
	})
}

// TestUpgradeRefusesMissingTriggerPrivilege meets a MariaDB account that may do everything but create triggers:
// Upgrade must stop before its first statement, name the GRANT, and leave the schema as it was.
func TestUpgradeRefusesMissingTriggerPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := testbed.NewMySQLDatabase(t)
	admin := openRaw(t, base)
	buildAt(t, admin, HeadRevision)
	legacyProject(t, admin, "p1")
	before := schemaObjects(t, admin)

	const privileges = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES"
	restricted := testbed.NewMySQLUser(t, base, privileges)
	db := openRaw(t, restricted)
	var account, dbName string
	if err := db.reader.Raw("SELECT CURRENT_USER(), DATABASE()").Row().Scan(&account, &dbName); err != nil {
		t.Fatal(err)
	}
	account = quoteAccount(account)
	want := "missing database privileges: the database account " + account + " lacks TRIGGER on database " +
		dbName + ", which the schema upgrade needs; nothing was changed. As a database administrator run\n" +
		"  GRANT TRIGGER ON `" + testbed.GrantPattern(dbName) + "`.* TO " + account + ";\nthen run the upgrade again"
	err := db.Upgrade(ctx)
	if err == nil || err.Error() != want || !errors.Is(err, ErrPrivileges) {
		t.Fatalf("Upgrade without TRIGGER:\n got %v\nwant %s", err, want)
	}
	if after := schemaObjects(t, admin); !slices.Equal(before, after) {
		t.Fatalf("the refused upgrade changed the schema:\nbefore %v\nafter  %v", before, after)
	}
	assertCurrent(t, admin, HeadRevision, 0)

	// With the GRANT the message names, the same account upgrades (a new connection sees the new grant).
	exec(t, admin, "GRANT TRIGGER ON `"+testbed.GrantPattern(dbName)+"`.* TO "+account)
	granted := openRaw(t, restricted)
	if err := granted.Upgrade(ctx); err != nil {
		t.Fatalf("Upgrade after the GRANT: %v", err)
	}
	assertCurrent(t, granted, HeadRevision, LatestKeymanagerVersion)
	if n := checkCounter(t, granted, "p1"); n != 2 {
		t.Fatalf("the counter of p1 is %d, want 2", n)
	}
}

// TestPrivilegeErrorsWithBinaryLogging covers the binary-log rule without a server that logs: creating
// triggers then needs SUPER unless log_bin_trust_function_creators is on.
func TestPrivilegeErrorsWithBinaryLogging(t *testing.T) {
	all := grants{schema: map[string]bool{"CREATE": true, "INDEX": true, "TRIGGER": true, "INSERT": true,
		"UPDATE": true, "DELETE": true, "SELECT": true, "DROP": true}}
	p := upgradePlan{keymanager: keymanagerSteps}
	needs, triggers := p.needs()
	want := "missing database privileges: binary logging is on and log_bin_trust_function_creators is off, so " +
		"creating keymanager's triggers needs the SUPER privilege, which 'barbican'@'%' lacks; nothing was " +
		"changed. As a database administrator run\n  SET GLOBAL log_bin_trust_function_creators = 1;\n(and set " +
		"log_bin_trust_function_creators = 1 under [mysqld] in the server configuration so that it survives a " +
		"restart) or\n  GRANT SUPER ON *.* TO 'barbican'@'%';\nthen run the upgrade again"
	err := privilegeErrors("'barbican'@'%'", "barbican", all, needs, triggers, binlogState{logBin: true})
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if err := privilegeErrors("'barbican'@'%'", "barbican", all, needs, triggers,
		binlogState{logBin: true, trustCreators: true}); err != nil {
		t.Fatalf("log_bin_trust_function_creators=1 should be enough: %v", err)
	}
	super := all
	super.global = map[string]bool{"SUPER": true}
	if err := privilegeErrors("'barbican'@'%'", "barbican", super, needs, triggers, binlogState{logBin: true}); err != nil {
		t.Fatalf("SUPER should be enough: %v", err)
	}
	// Table-level TRIGGER grants on the counted tables count; none at all does not.
	tableLevel := grants{schema: map[string]bool{"CREATE": true, "INDEX": true, "INSERT": true, "UPDATE": true,
		"DELETE": true, "SELECT": true, "DROP": true}, table: map[string]map[string]bool{}}
	for _, c := range countedTables {
		tableLevel.table[c.table] = map[string]bool{"TRIGGER": true}
	}
	if err := privilegeErrors("'b'@'%'", "barbican", tableLevel, needs, triggers, binlogState{}); err != nil {
		t.Fatalf("TRIGGER on the counted tables should be enough: %v", err)
	}
}

func TestSchemaStatus(t *testing.T) {
	rawDialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		check := func(want SchemaStatus, atHead bool) {
			t.Helper()
			got, err := db.SchemaStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || got.AtHead() != atHead {
				t.Fatalf("SchemaStatus = %+v (at head %v), want %+v (at head %v)", got, got.AtHead(), want, atHead)
			}
		}
		check(SchemaStatus{Empty: true}, false)
		buildAt(t, db, HeadRevision)
		check(SchemaStatus{BarbicanRevision: HeadRevision}, false)
		if err := db.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		check(SchemaStatus{BarbicanRevision: HeadRevision, KeymanagerVersion: LatestKeymanagerVersion}, true)
	})
}

func TestSchemaStatusOfAnUnrelatedSQLiteFile(t *testing.T) {
	db := openRaw(t, "sqlite://"+filepath.Join(t.TempDir(), "other.db"))
	exec(t, db, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
	st, err := db.SchemaStatus(context.Background())
	if err != nil || st != (SchemaStatus{}) {
		t.Fatalf("SchemaStatus = %+v, %v; want a non-empty database without revision", st, err)
	}
}
