package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/store"
)

// eachDatabase runs f with the URL of a fresh SQLite file and of a fresh MariaDB database.
func eachDatabase(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite://"+t.TempDir()+"/km.db") })
	t.Run("mysql", func(t *testing.T) { f(t, testbed.NewMySQLDatabase(t)) })
}

// rawDB opens dbURL with database/sql, bypassing keymanager, as an administrator's client would.
func rawDB(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite3", strings.TrimPrefix(dbURL, "sqlite://")
	if strings.HasPrefix(dbURL, "mysql://") {
		var err error
		if dsn, err = testbed.DSN(dbURL); err != nil {
			t.Fatal(err)
		}
		driver = "mysql"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func execSQL(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// barbicanDatabase gives dbURL Barbican's schema at its head and nothing of keymanager's, as a database
// restored from a Barbican dump: it upgrades, then drops keymanager's additions as MIGRATIONS.md says.
func barbicanDatabase(t *testing.T, dbURL string) {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Drop every keymanager addition, whatever the steps are: what is left is Barbican's schema.
	raw := rawDB(t, dbURL)
	mysql := strings.HasPrefix(dbURL, "mysql://")
	objects := "SELECT type, name, tbl_name FROM sqlite_master WHERE name LIKE 'keymanager%' ORDER BY type = 'table'"
	if mysql {
		objects = "SELECT 'trigger', trigger_name, event_object_table FROM information_schema.triggers " +
			"WHERE trigger_schema = DATABASE() AND trigger_name LIKE 'keymanager%' UNION ALL SELECT DISTINCT 'index', " +
			"index_name, table_name FROM information_schema.statistics WHERE table_schema = DATABASE() " +
			"AND index_name LIKE 'keymanager%' UNION ALL SELECT 'table', table_name, table_name " +
			"FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'keymanager%'"
	}
	rows, err := raw.QueryContext(context.Background(), objects)
	if err != nil {
		t.Fatal(err)
	}
	var drops []string
	for rows.Next() {
		var kind, name, table string
		if err := rows.Scan(&kind, &name, &table); err != nil {
			t.Fatal(err)
		}
		stmt := "DROP " + strings.ToUpper(kind) + " " + name
		if kind == "index" && mysql {
			stmt += " ON " + table
		}
		drops = append(drops, stmt)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	execSQL(t, raw, drops...)
}

// schemaStatus reads the schema state of dbURL.
func schemaStatus(t *testing.T, dbURL string) store.SchemaStatus {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.SchemaStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// redacted is dbURL as keymanager prints it.
func redacted(t *testing.T, dbURL string) string {
	t.Helper()
	if !strings.HasPrefix(dbURL, "mysql://") {
		return dbURL
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Redacted()
}

// keymanagerDatabase gives dbURL this version's full schema.
func keymanagerDatabase(t *testing.T, dbURL string) {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// insertKEK adds a project and its kek_data row as the reference Barbican writes them; created orders rows
// (the sample starts with the newest).
func insertKEK(t *testing.T, db *sql.DB, id, plugin, created, pluginMeta string, deleted bool) {
	t.Helper()
	del := 0
	if deleted {
		del = 1
	}
	ts := "'" + created + "'"
	execSQL(t, db,
		"INSERT INTO projects (id, created_at, updated_at, deleted, status, external_id) VALUES ('p-"+id+"', "+
			ts+", "+ts+", 0, 'ACTIVE', 'ext-"+id+"')",
		fmt.Sprintf("INSERT INTO kek_data (id, created_at, updated_at, deleted, status, plugin_name, kek_label, "+
			"project_id, active, bind_completed, algorithm, bit_length, mode, plugin_meta) VALUES ('%s', %s, %s, %d, "+
			"'ACTIVE', '%s', 'project-ext-%s-key-%s', 'p-%s', 1, 1, 'aes', 128, 'cbc', '%s')",
			id, ts, ts, del, plugin, id, id, id, pluginMeta))
}
