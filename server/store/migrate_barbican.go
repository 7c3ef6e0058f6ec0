package store

import "fmt"

// Barbican's alembic revisions keymanager knows, oldest first. HeadRevision
// is what a database created by Upgrade records in alembic_version.
const (
	RevisionOcataRebase     = "39cf2e645cba"
	RevisionSecretConsumers = "0f8c192a061f" //nolint:gosec // an alembic revision id, not a credential
	RevisionConsumersUnique = "8c74e2d7f1ff"
	HeadRevision            = RevisionConsumersUnique
)

// barbicanStep reproduces one alembic revision.
type barbicanStep struct {
	revision string
	stmts    func(dialect string) []string
	// needs are the MySQL privileges the revision uses (with the alembic_version bookkeeping).
	needs []need
}

var barbicanSteps = []barbicanStep{
	{RevisionOcataRebase, ocataRebaseSQL, []need{{"CREATE", ""}, {"INDEX", ""}, {"INSERT", "alembic_version"}}},
	{RevisionSecretConsumers, func(d string) []string { return createTableSQL(d, consumersTable) },
		[]need{{"CREATE", consumersTable.name}, {"INDEX", consumersTable.name}, {"UPDATE", "alembic_version"}}},
	{RevisionConsumersUnique, consumersUniqueSQL,
		[]need{{"ALTER", consumersTable.name}, {"INDEX", consumersTable.name}, {"UPDATE", "alembic_version"}}},
}

func alembicVersionTableSQL(dialect string) string {
	stmt := "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL,\n\t" +
		"CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"
	if dialect == DialectMySQL {
		stmt += "ENGINE=InnoDB"
	}
	return stmt
}

func ocataRebaseSQL(dialect string) []string {
	var stmts []string
	for _, t := range ocataTables {
		stmts = append(stmts, createTableSQL(dialect, t)...)
	}
	return stmts
}

// consumersUniqueSQL is revision 8c74e2d7f1ff. alembic's batch mode rebuilds
// the table on SQLite (which cannot alter constraints) and alters it in place
// on MySQL; both end with the same columns, constraints and indexes.
func consumersUniqueSQL(dialect string) []string {
	const name = "secret_consumer_metadata"
	if dialect == DialectSQLite {
		tmp := "_alembic_tmp_" + name
		t := consumersTableHead
		t.indexes = nil
		stmts := createTableAs(dialect, t, tmp)
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", tmp, columnNames(t), columnNames(t), name),
			"DROP TABLE "+name,
			fmt.Sprintf("ALTER TABLE %s RENAME TO %s", tmp, name))
		for _, ix := range consumersTableHead.indexes {
			stmts = append(stmts, createIndexSQL(dialect, name, ix))
		}
		return stmts
	}
	return []string{
		"ALTER TABLE " + name + " MODIFY project_id VARCHAR(36) NULL",
		"ALTER TABLE " + name + " DROP INDEX _secret_consumer_resource_uc",
		"ALTER TABLE " + name + " ADD CONSTRAINT _secret_consumer_resource_uc UNIQUE (secret_id, service, resource_type, resource_id)",
		"CREATE INDEX ix_secret_consumer_metadata_project_id ON " + name + " (project_id)",
		"ALTER TABLE " + name + " ADD CONSTRAINT fk_project_id FOREIGN KEY(project_id) REFERENCES projects (id)",
	}
}

// revisionIndex returns the position of rev in barbicanSteps, -1 for an
// empty database.
func revisionIndex(rev string) (int, error) {
	if rev == "" {
		return -1, nil
	}
	for i, s := range barbicanSteps {
		if s.revision == rev {
			return i, nil
		}
	}
	return 0, fmt.Errorf("database is at unknown Barbican alembic revision %q (known: %s, %s, %s): "+
		"upgrade it with barbican-manage first or restore a supported dump",
		rev, RevisionOcataRebase, RevisionSecretConsumers, RevisionConsumersUnique)
}
