package store

// keymanager's additive schema steps, tracked in keymanager_migrations. Each
// is harmless to the reference Barbican (extra indexes, an extra table and
// triggers it never looks at) and documented in MIGRATIONS.md. Never edit a
// released step; append a new one.

type keymanagerStep struct {
	version int
	name    string
	stmts   func(dialect string) []string
}

var keymanagerSteps = []keymanagerStep{
	{1, "secrets list and expiration indexes", listIndexesSQL},
	{2, "project secret counter", secretCounterSQL},
	{3, "pending orders index", pendingOrdersIndexSQL},
}

// LatestKeymanagerVersion is the version Upgrade brings keymanager's own
// steps to.
var LatestKeymanagerVersion = keymanagerSteps[len(keymanagerSteps)-1].version

const countsTable = "keymanager_project_secret_counts"

func keymanagerMigrationsTableSQL(dialect string) string {
	stmt := "CREATE TABLE keymanager_migrations (\n\tversion INTEGER NOT NULL,\n\t" +
		"applied_at DATETIME NOT NULL,\n\tPRIMARY KEY (version)\n)"
	if dialect == DialectMySQL {
		stmt += "ENGINE=InnoDB"
	}
	return stmt
}

func listIndexesSQL(string) []string {
	return []string{
		"CREATE INDEX keymanager_ix_secrets_list ON secrets (project_id, deleted, created_at, id)",
		"CREATE INDEX keymanager_ix_secrets_expiration ON secrets (project_id, deleted, expiration)",
	}
}

// pendingOrdersIndexSQL serves the order workers' poll for PENDING orders, oldest first, without a scan of every
// order ever made.
func pendingOrdersIndexSQL(string) []string {
	return []string{"CREATE INDEX keymanager_ix_orders_pending ON orders (status, deleted, created_at)"}
}

func secretCounterSQL(dialect string) []string {
	create := "CREATE TABLE " + countsTable + " (\n\tproject_id VARCHAR(36) NOT NULL,\n\t" +
		"live BIGINT NOT NULL DEFAULT 0,\n\tPRIMARY KEY (project_id)\n)"
	backfill := "INSERT INTO " + countsTable + " (project_id, live) " +
		"SELECT project_id, COUNT(*) FROM secrets WHERE deleted = 0 GROUP BY project_id"
	if dialect == DialectMySQL {
		return []string{
			create + "ENGINE=InnoDB",
			`CREATE TRIGGER keymanager_secrets_count_insert AFTER INSERT ON secrets FOR EACH ROW
BEGIN
  IF NEW.deleted = 0 THEN
    INSERT INTO ` + countsTable + ` (project_id, live) VALUES (NEW.project_id, 1)
      ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END`,
			// Only a change of liveness or project touches the counter, so
			// ordinary updates (updated_at bumps) take no extra lock.
			`CREATE TRIGGER keymanager_secrets_count_update AFTER UPDATE ON secrets FOR EACH ROW
BEGIN
  IF OLD.deleted = 0 AND NOT (NEW.deleted = 0 AND NEW.project_id = OLD.project_id) THEN
    UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id;
  END IF;
  IF NEW.deleted = 0 AND NOT (OLD.deleted = 0 AND NEW.project_id = OLD.project_id) THEN
    INSERT INTO ` + countsTable + ` (project_id, live) VALUES (NEW.project_id, 1)
      ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END`,
			`CREATE TRIGGER keymanager_secrets_count_delete AFTER DELETE ON secrets FOR EACH ROW
BEGIN
  IF OLD.deleted = 0 THEN
    UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id;
  END IF;
END`,
			backfill,
		}
	}
	return []string{
		create,
		`CREATE TRIGGER keymanager_secrets_count_insert AFTER INSERT ON secrets WHEN NEW.deleted = 0
BEGIN
  INSERT OR IGNORE INTO ` + countsTable + ` (project_id, live) VALUES (NEW.project_id, 0);
  UPDATE ` + countsTable + ` SET live = live + 1 WHERE project_id = NEW.project_id;
END`,
		`CREATE TRIGGER keymanager_secrets_count_update AFTER UPDATE OF deleted, project_id ON secrets
WHEN (OLD.deleted = 0) <> (NEW.deleted = 0) OR OLD.project_id <> NEW.project_id
BEGIN
  UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id AND OLD.deleted = 0;
  INSERT OR IGNORE INTO ` + countsTable + ` (project_id, live) SELECT NEW.project_id, 0 WHERE NEW.deleted = 0;
  UPDATE ` + countsTable + ` SET live = live + 1 WHERE project_id = NEW.project_id AND NEW.deleted = 0;
END`,
		`CREATE TRIGGER keymanager_secrets_count_delete AFTER DELETE ON secrets WHEN OLD.deleted = 0
BEGIN
  UPDATE ` + countsTable + ` SET live = live - 1 WHERE project_id = OLD.project_id;
END`,
		backfill,
	}
}
