package store

// keymanager's additive schema steps, tracked in keymanager_migrations. Each
// is harmless to the reference Barbican (extra indexes, an extra table and
// triggers it never looks at) and documented in MIGRATIONS.md. Never edit a
// released step; append a new one.
//
// Every step can be re-run after it stopped half-way: MySQL commits each DDL
// statement on its own, so a crash (or a missing privilege) can leave some of
// a step's objects behind. A statement that creates a named object is skipped
// when the object exists, and what fills tables runs in one transaction with
// the keymanager_migrations row that marks the step done.

type keymanagerStep struct {
	version int
	name    string
	ops     func(dialect string) []schemaOp
	// needs are the MySQL privileges the step uses, checked before the upgrade changes anything.
	needs []need
	// triggers: with binary logging on, MySQL also wants SUPER or log_bin_trust_function_creators.
	triggers bool
}

var keymanagerSteps = []keymanagerStep{
	{version: 1, name: "secrets list and expiration indexes", ops: listIndexesSQL,
		needs: []need{{"INDEX", "secrets"}}},
	// Step 2 is superseded by step 3, which drops what it made; it still runs first on a database that has
	// neither, so that every database went through the same steps.
	{version: 2, name: "project secret counter", ops: secretCounterSQL, triggers: true,
		needs: []need{{"CREATE", countsTable}, {"TRIGGER", "secrets"}, {"SELECT", "secrets"},
			{"INSERT", countsTable}, {"UPDATE", countsTable}, {"DELETE", countsTable}}},
	{version: counterStepVersion, name: "project counters of every quota resource, sharded", ops: projectCountersSQL,
		triggers: true, needs: counterStepNeeds()},
	{version: 4, name: "pending orders index", ops: pendingOrdersIndexSQL, needs: []need{{"INDEX", "orders"}}},
	{version: 5, name: "payload row indexes", ops: payloadIndexesSQL,
		needs: []need{{"INDEX", "encrypted_data"}, {"INDEX", "secret_store_metadata"}}},
}

// LatestKeymanagerVersion is the version Upgrade brings keymanager's own
// steps to.
var LatestKeymanagerVersion = keymanagerSteps[len(keymanagerSteps)-1].version

// countsTable is step 2's secret counter (see legacyCountsTable).
const countsTable = legacyCountsTable

// schemaObject names what a statement creates, so that a re-run can skip it.
type schemaObject struct {
	kind  string // "table", "index" or "trigger"
	name  string
	table string // the table of an index or trigger
}

// schemaOp is one statement of a step. creates is the object the statement makes (zero: it always runs). The
// ops of a step with fill set run in one transaction together with the row recording the step.
type schemaOp struct {
	sql     string
	creates schemaObject
	fill    bool
}

// need is a MySQL privilege on a table ("" for the whole database).
type need struct {
	privilege string
	table     string
}

var migrationsTableNeeds = []need{{"CREATE", "keymanager_migrations"}, {"INSERT", "keymanager_migrations"},
	{"SELECT", "keymanager_migrations"}}

func keymanagerMigrationsTableSQL(dialect string) string {
	stmt := "CREATE TABLE keymanager_migrations (\n\tversion INTEGER NOT NULL,\n\t" +
		"applied_at DATETIME NOT NULL,\n\tPRIMARY KEY (version)\n)"
	if dialect == DialectMySQL {
		stmt += "ENGINE=InnoDB"
	}
	return stmt
}

func listIndexesSQL(string) []schemaOp {
	return []schemaOp{
		{sql: "CREATE INDEX keymanager_ix_secrets_list ON secrets (project_id, deleted, created_at, id)",
			creates: schemaObject{"index", "keymanager_ix_secrets_list", "secrets"}},
		{sql: "CREATE INDEX keymanager_ix_secrets_expiration ON secrets (project_id, deleted, expiration)",
			creates: schemaObject{"index", "keymanager_ix_secrets_expiration", "secrets"}},
	}
}

// pendingOrdersIndexSQL serves the order workers' poll for PENDING orders, oldest first, without a scan of every
// order ever made.
func pendingOrdersIndexSQL(string) []schemaOp {
	return []schemaOp{{sql: "CREATE INDEX keymanager_ix_orders_pending ON orders (status, deleted, created_at)",
		creates: schemaObject{"index", "keymanager_ix_orders_pending", "orders"}}}
}

func secretCounterSQL(dialect string) []schemaOp {
	create := "CREATE TABLE " + countsTable + " (\n\tproject_id VARCHAR(36) NOT NULL,\n\t" +
		"live BIGINT NOT NULL DEFAULT 0,\n\tPRIMARY KEY (project_id)\n)"
	// The backfill recounts from scratch, so counts left by triggers of an interrupted earlier run are replaced,
	// not added to.
	backfill := []schemaOp{
		{sql: "DELETE FROM " + countsTable, fill: true},
		{sql: "INSERT INTO " + countsTable + " (project_id, live) " +
			"SELECT project_id, COUNT(*) FROM secrets WHERE deleted = 0 GROUP BY project_id", fill: true},
	}
	table := schemaObject{"table", countsTable, ""}
	trigger := func(name string) schemaObject { return schemaObject{"trigger", name, "secrets"} }
	if dialect == DialectMySQL {
		return append([]schemaOp{
			{sql: create + "ENGINE=InnoDB", creates: table},
			{sql: `CREATE TRIGGER keymanager_secrets_count_insert AFTER INSERT ON secrets FOR EACH ROW
BEGIN
  IF NEW.deleted = 0 THEN
    INSERT INTO ` + countsTable + ` (project_id, live) VALUES (NEW.project_id, 1)
      ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END`, creates: trigger("keymanager_secrets_count_insert")},
			// Only a change of liveness or project touches the counter, so
			// ordinary updates (updated_at bumps) take no extra lock.
			{sql: `CREATE TRIGGER keymanager_secrets_count_update AFTER UPDATE ON secrets FOR EACH ROW
BEGIN
  IF OLD.deleted = 0 AND NOT (NEW.deleted = 0 AND NEW.project_id = OLD.project_id) THEN
    UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id;
  END IF;
  IF NEW.deleted = 0 AND NOT (OLD.deleted = 0 AND NEW.project_id = OLD.project_id) THEN
    INSERT INTO ` + countsTable + ` (project_id, live) VALUES (NEW.project_id, 1)
      ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END`, creates: trigger("keymanager_secrets_count_update")},
			{sql: `CREATE TRIGGER keymanager_secrets_count_delete AFTER DELETE ON secrets FOR EACH ROW
BEGIN
  IF OLD.deleted = 0 THEN
    UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id;
  END IF;
END`, creates: trigger("keymanager_secrets_count_delete")},
		}, backfill...)
	}
	return append([]schemaOp{
		{sql: create, creates: table},
		{sql: `CREATE TRIGGER keymanager_secrets_count_insert AFTER INSERT ON secrets WHEN NEW.deleted = 0
BEGIN
  INSERT OR IGNORE INTO ` + countsTable + ` (project_id, live) VALUES (NEW.project_id, 0);
  UPDATE ` + countsTable + ` SET live = live + 1 WHERE project_id = NEW.project_id;
END`, creates: trigger("keymanager_secrets_count_insert")},
		{sql: `CREATE TRIGGER keymanager_secrets_count_update AFTER UPDATE OF deleted, project_id ON secrets
WHEN (OLD.deleted = 0) <> (NEW.deleted = 0) OR OLD.project_id <> NEW.project_id
BEGIN
  UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id AND OLD.deleted = 0;
  INSERT OR IGNORE INTO ` + countsTable + ` (project_id, live) SELECT NEW.project_id, 0 WHERE NEW.deleted = 0;
  UPDATE ` + countsTable + ` SET live = live + 1 WHERE project_id = NEW.project_id AND NEW.deleted = 0;
END`, creates: trigger("keymanager_secrets_count_update")},
		{sql: `CREATE TRIGGER keymanager_secrets_count_delete AFTER DELETE ON secrets WHEN OLD.deleted = 0
BEGIN
  UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id;
END`, creates: trigger("keymanager_secrets_count_delete")},
	}, backfill...)
}

// payloadIndexesSQL serve a secret's read: its content type (the first live content_type store-metadata row)
// and its payload (the first live encrypted_data row) are picked by ORDER BY created_at, id LIMIT 1, which
// Barbican's single-column secret_id indexes leave to a sort per secret read -- and every read of a secret, a
// payload or a list page does one to three of them.
func payloadIndexesSQL(dialect string) []schemaOp {
	return []schemaOp{
		{sql: "CREATE INDEX keymanager_ix_encrypted_data_secret ON encrypted_data (secret_id, deleted, created_at, id)",
			creates: schemaObject{"index", "keymanager_ix_encrypted_data_secret", "encrypted_data"}},
		{sql: "CREATE INDEX keymanager_ix_store_metadata_secret ON secret_store_metadata (secret_id, " +
			quote(dialect, "key") + ", deleted, created_at, id)",
			creates: schemaObject{"index", "keymanager_ix_store_metadata_secret", "secret_store_metadata"}},
	}
}
