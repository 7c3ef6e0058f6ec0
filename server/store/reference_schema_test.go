package store

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// These tests compare the schema keymanager's Upgrade creates with the one the
// reference Barbican's own `barbican-manage db upgrade` creates (Debian's
// Barbican 15, through hack/reference-barbican.sh), object by object, as the
// database reports it. Our schema may differ only by the additive objects
// MIGRATIONS.md documents, listed here by name.

// keymanagerTables and keymanagerObjects are everything Upgrade may add to
// Barbican's schema: its bookkeeping and counter tables (with their columns
// and indexes), the list indexes on secrets, the pending-orders index and the counter triggers.
var (
	keymanagerTables  = []string{"keymanager_migrations", projectCountsTable}
	keymanagerObjects = append([]string{"keymanager_ix_secrets_list", "keymanager_ix_secrets_expiration",
		"keymanager_ix_orders_pending", "keymanager_ix_encrypted_data_secret", "keymanager_ix_store_metadata_secret"},
		counterTriggerNames()...)
)

// counterTriggerNames are step 3's triggers: of one dialect, or of both for "".
func counterTriggerNames(dialects ...string) []string {
	if len(dialects) == 0 {
		dialects = []string{DialectSQLite, DialectMySQL}
	}
	var names []string
	for _, d := range dialects {
		for _, op := range projectCountersSQL(d) {
			if op.creates.kind == "trigger" && !slices.Contains(names, op.creates.name) {
				names = append(names, op.creates.name)
			}
		}
	}
	return names
}

// schemaItem is one fact about a schema object, as text the database gave.
type schemaItem struct {
	table string // the table the fact belongs to
	name  string // the index, constraint or trigger it is about; "" for the table and its columns
	fact  string
}

func (i schemaItem) String() string { return i.fact }

// additive reports whether the item is one of keymanager's documented additions.
func (i schemaItem) additive() bool {
	for _, n := range keymanagerTables {
		if i.table == n {
			return true
		}
	}
	for _, n := range keymanagerObjects {
		if i.name == n {
			return true
		}
	}
	return false
}

type dbSchema []schemaItem

func (s dbSchema) facts() map[string]schemaItem {
	m := make(map[string]schemaItem, len(s))
	for _, it := range s {
		m[it.fact] = it
	}
	return m
}

// diff returns the facts only in s (extra) and only in want (missing), sorted.
func (s dbSchema) diff(want dbSchema) (extra, missing []schemaItem) {
	have, wanted := s.facts(), want.facts()
	for f, it := range have {
		if _, ok := wanted[f]; !ok {
			extra = append(extra, it)
		}
	}
	for f, it := range wanted {
		if _, ok := have[f]; !ok {
			missing = append(missing, it)
		}
	}
	byFact := func(items []schemaItem) {
		sort.Slice(items, func(a, b int) bool { return items[a].fact < items[b].fact })
	}
	byFact(extra)
	byFact(missing)
	return extra, missing
}

// withoutAdditions drops keymanager's documented additions.
func (s dbSchema) withoutAdditions() dbSchema {
	var out dbSchema
	for _, it := range s {
		if !it.additive() {
			out = append(out, it)
		}
	}
	return out
}

// assertSameSchema fails with every fact only one of the two schemas has.
func assertSameSchema(t *testing.T, gotName string, got dbSchema, wantName string, want dbSchema) {
	t.Helper()
	extra, missing := got.diff(want)
	if len(extra)+len(missing) == 0 {
		return
	}
	var b strings.Builder
	for _, it := range missing {
		fmt.Fprintf(&b, "\n  - %s", it)
	}
	for _, it := range extra {
		fmt.Fprintf(&b, "\n  + %s", it)
	}
	t.Errorf("%s differs from %s (- only in the latter, + only in the former):%s", gotName, wantName, b.String())
}

// assertAdditionsPresent checks that every documented addition is really
// there, so that the allowance above cannot outlive what it allows.
func assertAdditionsPresent(t *testing.T, s dbSchema, dialect string) {
	t.Helper()
	found := map[string]bool{}
	for _, it := range s {
		if it.additive() {
			found[it.table] = true
			found[it.name] = true
		}
	}
	required := append(append([]string{"keymanager_ix_secrets_list", "keymanager_ix_secrets_expiration",
		"keymanager_ix_orders_pending", "keymanager_ix_encrypted_data_secret", "keymanager_ix_store_metadata_secret"},
		keymanagerTables...), counterTriggerNames(dialect)...)
	for _, n := range required {
		if !found[n] {
			t.Errorf("documented addition %s is missing from keymanager's schema", n)
		}
	}
}

// queryStrings runs q and returns each row's columns as strings ("NULL" for
// SQL NULL), so that facts print the way the database reported them.
func queryStrings(t *testing.T, db *DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.reader.Raw(q, args...).Rows()
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("%s: columns: %v", q, err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: scan: %v", q, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(v)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// mysqlSchema reads a MariaDB database's tables, columns (in order, with
// types, nullability, defaults, character sets), indexes, foreign keys, check
// constraints and triggers from information_schema, and the alembic_version
// rows.
func mysqlSchema(t *testing.T, db *DB) dbSchema {
	t.Helper()
	var s dbSchema
	add := func(table, name, format string, args ...any) {
		s = append(s, schemaItem{table: table, name: name, fact: fmt.Sprintf(format, args...)})
	}
	for _, r := range queryStrings(t, db, `SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, CREATE_OPTIONS
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`) {
		add(r[0], "", "table %s: %s engine=%s collation=%s options=%q", r[0], r[1], r[2], r[3], r[4])
	}
	// COLUMN_KEY is left out: it only summarises the indexes, which are compared one by one below, and an
	// added index (keymanager_ix_orders_pending) would show as a change of the column it starts with.
	for _, r := range queryStrings(t, db, `SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE,
		COLUMN_DEFAULT, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`) {
		add(r[0], "", "column %s.%s: #%s %s nullable=%s default=%s charset=%s collation=%s extra=%q",
			r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
	}
	indexes := map[[2]string][]string{}
	unique := map[[2]string]string{}
	for _, r := range queryStrings(t, db, `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, INDEX_TYPE, SUB_PART
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`) {
		k := [2]string{r[0], r[1]}
		col := r[3]
		if r[5] != "NULL" {
			col += "(" + r[5] + ")"
		}
		indexes[k] = append(indexes[k], col)
		unique[k] = fmt.Sprintf("non_unique=%s type=%s", r[2], r[4])
	}
	for k, cols := range indexes {
		add(k[0], k[1], "index %s.%s (%s) %s", k[0], k[1], strings.Join(cols, ", "), unique[k])
	}
	fkCols := map[[2]string][]string{}
	for _, r := range queryStrings(t, db, `SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME,
		REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`) {
		k := [2]string{r[0], r[1]}
		fkCols[k] = append(fkCols[k], fmt.Sprintf("%s -> %s.%s", r[2], r[3], r[4]))
	}
	for _, r := range queryStrings(t, db, `SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, MATCH_OPTION
		FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()`) {
		k := [2]string{r[0], r[1]}
		add(r[0], r[1], "foreign key %s.%s (%s) on update %s on delete %s match %s",
			r[0], r[1], strings.Join(fkCols[k], ", "), r[2], r[3], r[4])
	}
	for _, r := range queryStrings(t, db, `SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE
		FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()`) {
		add(r[0], r[1], "check %s.%s: %s", r[0], r[1], r[2])
	}
	for _, r := range queryStrings(t, db, `SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION
		FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`) {
		add(r[0], r[1], "trigger %s.%s: %s %s", r[0], r[1], r[2], r[3])
	}
	return append(s, alembicRows(t, db)...)
}

func alembicRows(t *testing.T, db *DB) dbSchema {
	t.Helper()
	var s dbSchema
	for _, r := range queryStrings(t, db, "SELECT version_num FROM alembic_version") {
		s = append(s, schemaItem{table: "alembic_version", fact: "alembic_version row " + r[0]})
	}
	if len(s) != 1 {
		t.Errorf("alembic_version should hold exactly one row, holds %d", len(s))
	}
	return s
}

var sqlSpace = regexp.MustCompile(`\s+`)

// normaliseSQL makes a CREATE statement's text comparable: SQLite keeps it as
// written, and SQLAlchemy writes ", \n\t" where we write ",\n\t".
func normaliseSQL(sql string) string {
	sql = sqlSpace.ReplaceAllString(sql, " ")
	for _, r := range []struct{ from, to string }{{" ,", ","}, {"( ", "("}, {" )", ")"}} {
		sql = strings.ReplaceAll(sql, r.from, r.to)
	}
	return strings.TrimSpace(sql)
}

// sqliteSchema reads a SQLite database's statements from sqlite_master (which
// carry constraint names SQLite does not otherwise report) and what the
// table_info, index_list, index_info and foreign_key_list pragmas say of them.
func sqliteSchema(t *testing.T, db *DB) dbSchema {
	t.Helper()
	var s dbSchema
	add := func(table, name, format string, args ...any) {
		s = append(s, schemaItem{table: table, name: name, fact: fmt.Sprintf(format, args...)})
	}
	var tables []string
	for _, r := range queryStrings(t, db, `SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master
		WHERE name NOT LIKE 'sqlite_%'`) {
		name := r[1]
		if r[0] == "table" {
			tables = append(tables, name)
			name = ""
		}
		add(r[2], name, "%s %s on %s: %s", r[0], r[1], r[2], normaliseSQL(r[3]))
	}
	for _, tbl := range tables {
		for _, r := range queryStrings(t, db, `SELECT cid, name, type, "notnull", COALESCE(dflt_value, 'NULL'), pk
			FROM pragma_table_info(?)`, tbl) {
			add(tbl, "", "column %s.%s: #%s %s notnull=%s default=%s pk=%s", tbl, r[1], r[0], r[2], r[3], r[4], r[5])
		}
		for _, r := range queryStrings(t, db, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, tbl) {
			var cols []string
			for _, c := range queryStrings(t, db, `SELECT COALESCE(name, '<expr>') FROM pragma_index_info(?) ORDER BY seqno`, r[0]) {
				cols = append(cols, c[0])
			}
			add(tbl, r[0], "index %s.%s (%s) unique=%s origin=%s partial=%s", tbl, r[0], strings.Join(cols, ", "), r[1], r[2], r[3])
		}
		fks := map[string][]string{}
		fkRule := map[string]string{}
		for _, r := range queryStrings(t, db, `SELECT id, "table", "from", "to", on_update, on_delete, "match"
			FROM pragma_foreign_key_list(?) ORDER BY id, seq`, tbl) {
			fks[r[0]] = append(fks[r[0]], fmt.Sprintf("%s -> %s.%s", r[2], r[1], r[3]))
			fkRule[r[0]] = fmt.Sprintf("on update %s on delete %s match %s", r[4], r[5], r[6])
		}
		for id, cols := range fks {
			// SQLite numbers a table's foreign keys in reverse order of
			// declaration; the statement above pins the order and names.
			add(tbl, "", "foreign key %s #%s (%s) %s", tbl, id, strings.Join(cols, ", "), fkRule[id])
		}
	}
	return append(s, alembicRows(t, db)...)
}

// checkAgainstReference runs the comparison on one dialect: newDB returns a
// fresh empty database's URL, read its schema.
func checkAgainstReference(t *testing.T, newDB func(t *testing.T) string, read func(*testing.T, *DB) dbSchema) {
	ctx := context.Background()
	refURL := newDB(t)
	testbed.UpgradeWithReferenceBarbican(t, refURL)
	refDB := openRaw(t, refURL)
	reference := read(t, refDB)

	ourDB := openTestDB(t, newDB(t))
	ours := read(t, ourDB)

	t.Run("Upgrade creates the reference schema plus the documented additions", func(t *testing.T) {
		assertAdditionsPresent(t, ours, ourDB.dialect)
		assertSameSchema(t, "the schema Upgrade creates (without the additions)", ours.withoutAdditions(),
			"the one barbican-manage db upgrade creates", reference)
	})
	t.Run("Upgrade on the reference's database adds only the documented additions", func(t *testing.T) {
		if err := refDB.Upgrade(ctx); err != nil {
			t.Fatalf("Upgrade on a database barbican-manage created: %v", err)
		}
		taken := read(t, refDB)
		assertSameSchema(t, "the reference's schema after Upgrade (without the additions)", taken.withoutAdditions(),
			"the reference's schema before", reference)
		// And the result is what a fresh keymanager database looks like,
		// additions included.
		assertSameSchema(t, "the reference's schema after Upgrade", taken, "the schema Upgrade creates", ours)
	})
}

func TestSchemaMatchesReferenceBarbicanOnMariaDB(t *testing.T) {
	t.Parallel()
	checkAgainstReference(t, func(t *testing.T) string { return testbed.NewMySQLDatabase(t) }, mysqlSchema)
}

func TestSchemaMatchesReferenceBarbicanOnSQLite(t *testing.T) {
	t.Parallel()
	n := 0
	checkAgainstReference(t, func(t *testing.T) string {
		n++
		return "sqlite://" + filepath.Join(t.TempDir(), fmt.Sprintf("schema%d.db", n))
	}, sqliteSchema)
}
