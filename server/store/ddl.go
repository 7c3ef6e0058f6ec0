package store

import (
	"fmt"
	"strings"
)

// quote quotes the identifiers SQLAlchemy quotes: the reserved word "key"
// and names that are not all lower case (container_consumer_metadata's URL).
// On SQLite the quotes stay in the stored CREATE statement, so quoting as
// SQLAlchemy does keeps sqlite_master identical to the reference's.
func quote(dialect, name string) string {
	if strings.ToLower(name) != "key" && strings.ToLower(name) == name {
		return name
	}
	if dialect == DialectMySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

func quoteList(dialect string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(dialect, n)
	}
	return strings.Join(q, ", ")
}

func columnType(dialect string, c column) string {
	switch c.kind {
	case kindString:
		return fmt.Sprintf("VARCHAR(%d)", c.size)
	case kindChar:
		return fmt.Sprintf("CHAR(%d)", c.size)
	case kindText:
		return "TEXT"
	case kindDateTime:
		return "DATETIME"
	case kindInt:
		return "INTEGER"
	case kindBool:
		if dialect == DialectMySQL {
			return "BOOL"
		}
		return "BOOLEAN"
	case kindEnum:
		// SQLAlchemy's non-native enum on SQLite is a VARCHAR as long as the
		// longest value ("certificate").
		if dialect == DialectMySQL {
			return "ENUM('generic','rsa','dsa','certificate')"
		}
		return "VARCHAR(11)"
	}
	panic("store: unknown column kind " + c.kind) // programming error in schema.go
}

// createTableSQL renders CREATE TABLE followed by its CREATE INDEX statements.
func createTableSQL(dialect string, t table) []string {
	return createTableAs(dialect, t, t.name)
}

func createTableAs(dialect string, t table, name string) []string {
	var lines []string
	for _, c := range t.columns {
		line := quote(dialect, c.name) + " " + columnType(dialect, c)
		if c.serverDefault != "" {
			line += " DEFAULT '" + c.serverDefault + "'"
		}
		if c.notNull {
			line += " NOT NULL"
		}
		lines = append(lines, line)
	}
	lines = append(lines, "PRIMARY KEY (id)")
	var uniques, fks []string
	for _, u := range t.uniques {
		line := "UNIQUE (" + quoteList(dialect, u.columns) + ")"
		if u.name != "" {
			line = "CONSTRAINT " + u.name + " " + line
		}
		uniques = append(uniques, line)
	}
	for _, fk := range t.fks {
		line := fmt.Sprintf("FOREIGN KEY(%s) REFERENCES %s (id)", fk.column, fk.ref)
		if fk.name != "" {
			line = "CONSTRAINT " + fk.name + " " + line
		}
		fks = append(fks, line)
	}
	// SQLAlchemy renders constraints in the order a revision lists them
	// (foreign keys first in every create_table of Barbican's), and alembic's
	// batch mode, rebuilding a table on SQLite, renders unique constraints
	// first. SQLite keeps the statement as written, so the order shows in
	// sqlite_master and in the numbering of its automatic indexes.
	if t.uniquesFirst {
		lines = append(append(lines, uniques...), fks...)
	} else {
		lines = append(append(lines, fks...), uniques...)
	}
	stmt := "CREATE TABLE " + name + " (\n\t" + strings.Join(lines, ",\n\t") + "\n)"
	if dialect == DialectMySQL {
		stmt += "ENGINE=InnoDB"
	}
	stmts := []string{stmt}
	for _, ix := range t.indexes {
		stmts = append(stmts, createIndexSQL(dialect, t.name, ix))
	}
	return stmts
}

func createIndexSQL(dialect, tableName string, ix index) string {
	kind := "INDEX"
	if ix.unique {
		kind = "UNIQUE INDEX"
	}
	return fmt.Sprintf("CREATE %s %s ON %s (%s)", kind, ix.name, tableName, quoteList(dialect, ix.columns))
}

func columnNames(t table) string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}
