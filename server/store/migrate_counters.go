package store

import (
	"fmt"
	"strings"
)

// Step 3 replaces step 2's per-project secret counter by one counter table for every resource a quota limits,
// kept exact by triggers, so that a quota check and a list total never count rows:
//
//	keymanager_project_counts (project_id, resource, shard, live)
//
// A project's count is the sum of its shards. On MariaDB a row's shard comes from the last hex digit of its id,
// so concurrent creates in one project update different counter rows instead of queueing on one row lock until
// each commit (the contention step 2's single row had); the decrement of a row hits the shard its increment
// did. SQLite's single writer has no such contention: one shard.

// projectCountsTable holds the counters.
const projectCountsTable = "keymanager_project_counts"

// counterStepVersion is the step that creates and fills projectCountsTable.
const counterStepVersion = 3

// counterShards is the number of counter rows per project and resource on MariaDB.
const counterShards = 8

// Counted resources, as projectCountsTable.resource names them.
const (
	CountSecrets            = "secrets"
	CountContainers         = "containers"
	CountOrders             = "orders"
	CountSecretConsumers    = "secret_consumers"
	CountContainerConsumers = "container_consumers"
)

// countedTables are the tables counted, by resource. Every one has id, project_id (nullable for consumers) and
// deleted; a row counts while it is not deleted and has a project.
var countedTables = []struct{ resource, table string }{
	{CountSecrets, "secrets"},
	{CountContainers, "containers"},
	{CountOrders, "orders"},
	{CountSecretConsumers, "secret_consumer_metadata"},
	{CountContainerConsumers, "container_consumer_metadata"},
}

// legacyCountsTable and its triggers are step 2's, removed by step 3.
const legacyCountsTable = "keymanager_project_secret_counts"

var legacyCountTriggers = []string{"keymanager_secrets_count_insert", "keymanager_secrets_count_update",
	"keymanager_secrets_count_delete"}

// shardOf is the shard expression of a row id (alias NEW or OLD) in a dialect.
func shardOf(dialect, row string) string {
	if dialect == DialectMySQL {
		return fmt.Sprintf("CONV(RIGHT(%s.id, 1), 16, 10) %% %d", row, counterShards)
	}
	return "0"
}

func projectCountersSQL(dialect string) []schemaOp {
	create := "CREATE TABLE " + projectCountsTable + " (\n\tproject_id VARCHAR(36) NOT NULL,\n\t" +
		"resource VARCHAR(32) NOT NULL,\n\tshard INTEGER NOT NULL,\n\tlive BIGINT NOT NULL DEFAULT 0,\n\t" +
		"PRIMARY KEY (project_id, resource, shard)\n)"
	if dialect == DialectMySQL {
		create += "ENGINE=InnoDB"
	}
	ops := []schemaOp{{sql: create, creates: schemaObject{"table", projectCountsTable, ""}}}
	for _, c := range countedTables {
		ops = append(ops, counterTriggers(dialect, c.resource, c.table)...)
	}
	for _, name := range legacyCountTriggers {
		ops = append(ops, schemaOp{sql: "DROP TRIGGER IF EXISTS " + name})
	}
	ops = append(ops, schemaOp{sql: "DROP TABLE IF EXISTS " + legacyCountsTable})
	// The fill recounts from scratch, so counts left by triggers of an interrupted earlier run are replaced.
	ops = append(ops, schemaOp{sql: "DELETE FROM " + projectCountsTable, fill: true})
	shard, groupBy := "0", "project_id"
	if dialect == DialectMySQL {
		shard = strings.ReplaceAll(shardOf(dialect, "t"), "t.id", "id")
		groupBy += ", " + shard
	}
	for _, c := range countedTables {
		ops = append(ops, schemaOp{fill: true, sql: "INSERT INTO " + projectCountsTable +
			" (project_id, resource, shard, live) SELECT project_id, '" + c.resource + "', " + shard + ", COUNT(*) FROM " +
			c.table + " WHERE deleted = 0 AND project_id IS NOT NULL GROUP BY " + groupBy})
	}
	return ops
}

// counterTriggers keep one resource's counters: a row counts in its project while deleted = 0; an update that
// changes liveness or project moves it.
func counterTriggers(dialect, resource, table string) []schemaOp {
	name := func(event string) string { return "keymanager_count_" + resource + "_" + event }
	trigger := func(event string) schemaObject { return schemaObject{"trigger", name(event), table} }
	key := func(row string) string {
		return "project_id = " + row + ".project_id AND resource = '" + resource + "' AND shard = " + shardOf(dialect, row)
	}
	if dialect == DialectMySQL {
		inc := func(row string) string {
			return "INSERT INTO " + projectCountsTable + " (project_id, resource, shard, live) VALUES (" + row +
				".project_id, '" + resource + "', " + shardOf(dialect, row) + ", 1) ON DUPLICATE KEY UPDATE live = live + 1;"
		}
		dec := func(row string) string {
			return "UPDATE " + projectCountsTable + " SET live = live - 1 WHERE " + key(row) + ";"
		}
		return []schemaOp{
			{sql: "CREATE TRIGGER " + name("insert") + " AFTER INSERT ON " + table + " FOR EACH ROW\nBEGIN\n" +
				"  IF NEW.deleted = 0 AND NEW.project_id IS NOT NULL THEN\n    " + inc("NEW") + "\n  END IF;\nEND",
				creates: trigger("insert")},
			// Only a change of liveness or project touches a counter, so ordinary updates take no extra lock.
			{sql: "CREATE TRIGGER " + name("update") + " AFTER UPDATE ON " + table + " FOR EACH ROW\nBEGIN\n" +
				"  IF OLD.deleted = 0 AND OLD.project_id IS NOT NULL AND NOT (NEW.deleted = 0 AND NEW.project_id <=> OLD.project_id) THEN\n    " +
				dec("OLD") + "\n  END IF;\n" +
				"  IF NEW.deleted = 0 AND NEW.project_id IS NOT NULL AND NOT (OLD.deleted = 0 AND OLD.project_id <=> NEW.project_id) THEN\n    " +
				inc("NEW") + "\n  END IF;\nEND",
				creates: trigger("update")},
			{sql: "CREATE TRIGGER " + name("delete") + " AFTER DELETE ON " + table + " FOR EACH ROW\nBEGIN\n" +
				"  IF OLD.deleted = 0 AND OLD.project_id IS NOT NULL THEN\n    " + dec("OLD") + "\n  END IF;\nEND",
				creates: trigger("delete")},
		}
	}
	inc := "INSERT OR IGNORE INTO " + projectCountsTable + " (project_id, resource, shard, live) VALUES (NEW.project_id, '" +
		resource + "', 0, 0);\n  UPDATE " + projectCountsTable + " SET live = live + 1 WHERE " + key("NEW") + ";"
	dec := "UPDATE " + projectCountsTable + " SET live = live - 1 WHERE " + key("OLD") + ";"
	return []schemaOp{
		{sql: "CREATE TRIGGER " + name("insert") + " AFTER INSERT ON " + table +
			" WHEN NEW.deleted = 0 AND NEW.project_id IS NOT NULL\nBEGIN\n  " + inc + "\nEND", creates: trigger("insert")},
		{sql: "CREATE TRIGGER " + name("update_out") + " AFTER UPDATE OF deleted, project_id ON " + table +
			" WHEN OLD.deleted = 0 AND OLD.project_id IS NOT NULL AND NOT (NEW.deleted = 0 AND NEW.project_id IS OLD.project_id)\nBEGIN\n  " +
			dec + "\nEND", creates: trigger("update_out")},
		{sql: "CREATE TRIGGER " + name("update_in") + " AFTER UPDATE OF deleted, project_id ON " + table +
			" WHEN NEW.deleted = 0 AND NEW.project_id IS NOT NULL AND NOT (OLD.deleted = 0 AND OLD.project_id IS NEW.project_id)\nBEGIN\n  " +
			inc + "\nEND", creates: trigger("update_in")},
		{sql: "CREATE TRIGGER " + name("delete") + " AFTER DELETE ON " + table +
			" WHEN OLD.deleted = 0 AND OLD.project_id IS NOT NULL\nBEGIN\n  " + dec + "\nEND", creates: trigger("delete")},
	}
}

// counterStepNeeds are the MySQL privileges of step 3.
func counterStepNeeds() []need {
	needs := []need{{"CREATE", projectCountsTable}, {"INSERT", projectCountsTable}, {"UPDATE", projectCountsTable},
		{"DELETE", projectCountsTable}, {"DROP", legacyCountsTable}}
	for _, c := range countedTables {
		needs = append(needs, need{"TRIGGER", c.table}, need{"SELECT", c.table})
	}
	return needs
}

// ProjectCount is the number of live rows of a counted resource in a project (for secrets, expired ones
// included), read from the trigger-kept counters: a handful of rows whatever the project's size. ErrNotFound
// before step 3 is applied.
func (tx *Tx) ProjectCount(projectID, resource string) (int, error) {
	if !tx.db.counterReady.Load() {
		return 0, fmt.Errorf("project counters: %w", ErrNotFound)
	}
	n, err := tx.count("SELECT COALESCE(SUM(live), 0) FROM "+projectCountsTable+" WHERE project_id = ? AND resource = ?",
		projectID, resource)
	if err != nil {
		return 0, fmt.Errorf("read the %s counter: %w", resource, err)
	}
	return n, nil
}
