package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CleanOptions configure Clean, Barbican's `db clean`.
type CleanOptions struct {
	// MinDays keeps rows soft-deleted less than this many days ago; 0 or less purges every soft-deleted row.
	MinDays int
	// SoftDeleteExpired first soft-deletes live secrets whose expiration has passed (--soft-delete-expired-secrets).
	SoftDeleteExpired bool
	// CleanProjects finally removes projects that no row refers to any more (--clean-unassociated-projects).
	CleanProjects bool
	// DryRun counts what would be removed and changes nothing.
	DryRun bool
	// BatchSize is the number of rows per transaction (default 500): no table stays locked for long, and an
	// interrupted clean leaves only whole batches done.
	BatchSize int
	// Progress, when set, hears each step's running count.
	Progress func(step string, rows int)
}

// CleanStep is what one step of Clean did (or, in a dry run, would do).
type CleanStep struct {
	Name string
	Rows int
}

// purgeStep hard-deletes soft-deleted rows of one table that nothing still needs. blockers are NOT EXISTS
// conditions naming the rows that keep one alive: rows of other tables that are not purged in this run (live, or
// soft-deleted after the threshold). Because every row a blocker names that is purgeable goes in an earlier
// step, a dry run counts exactly what the run would delete.
type purgeStep struct {
	table    string
	blockers []string
}

// kept is the condition of a row that this run does not purge.
func kept(alias string) string {
	return "(" + alias + ".deleted = 0 OR " + alias + ".deleted_at > ?)"
}

// child is a blocker: a kept row of table whose column points at the row being purged.
func child(table, column, parent string) string {
	return "NOT EXISTS (SELECT 1 FROM " + table + " c WHERE c." + column + " = " + parent + ".id AND " + kept("c") + ")"
}

// purgeSteps are Barbican's purge order (children before parents), each parent kept while a kept child or an
// order still refers to it, so no foreign key is ever violated.
var purgeSteps = []purgeStep{
	{table: "transport_keys"},
	{table: "order_barbican_metadata"},
	{table: "order_retry_tasks"},
	{table: "order_plugin_metadata"},
	{table: "orders", blockers: []string{child("order_retry_tasks", "order_id", "orders"),
		child("order_plugin_metadata", "order_id", "orders"), child("order_barbican_metadata", "order_id", "orders")}},
	{table: "encrypted_data"},
	{table: "secret_user_metadata"},
	{table: "secret_store_metadata"},
	{table: "container_secret"},
	{table: "secret_consumer_metadata"},
	{table: "secrets", blockers: []string{child("orders", "secret_id", "secrets"),
		child("encrypted_data", "secret_id", "secrets"), child("secret_store_metadata", "secret_id", "secrets"),
		child("secret_user_metadata", "secret_id", "secrets"), child("container_secret", "secret_id", "secrets"),
		child("secret_consumer_metadata", "secret_id", "secrets"),
		"NOT EXISTS (SELECT 1 FROM secret_acls a WHERE a.secret_id = secrets.id)"}},
	{table: "container_consumer_metadata"},
	{table: "containers", blockers: []string{child("orders", "container_id", "containers"),
		child("container_secret", "container_id", "containers"),
		child("container_consumer_metadata", "container_id", "containers"),
		"NOT EXISTS (SELECT 1 FROM container_acls a WHERE a.container_id = containers.id)"}},
	{table: "kek_data", blockers: []string{child("encrypted_data", "kek_id", "kek_data")}},
}

// projectUsers are the tables whose rows keep a project (their project_id column).
var projectUsers = []string{"orders", "kek_data", "secret_consumer_metadata", "secrets", "container_consumer_metadata",
	"containers", "preferred_certificate_authorities", "project_certificate_authorities", "certificate_authorities",
	"project_quotas", "project_secret_store"}

// Clean is Barbican's `db clean`, in batches: optionally soft-delete expired secrets, hard-delete soft-deleted
// rows older than MinDays that nothing refers to any more, and optionally remove projects nothing refers to. The
// unassociated projects go last (Barbican removes them first), so a project emptied by this run goes too.
func (db *DB) Clean(ctx context.Context, o CleanOptions) ([]CleanStep, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	now := db.clock()
	threshold := now
	if o.MinDays > 0 {
		threshold = now.Add(-time.Duration(o.MinDays) * 24 * time.Hour)
	}
	var steps []CleanStep
	run := func(name, selectIDs string, args []any, apply func(tx *Tx, ids []string) error) error {
		n, err := db.cleanStep(ctx, o, name, selectIDs, args, apply)
		steps = append(steps, CleanStep{Name: name, Rows: n})
		return err
	}
	if o.SoftDeleteExpired {
		err := run("soft-delete expired secrets",
			"SELECT id FROM secrets WHERE deleted = 0 AND expiration <= ?", []any{formatTime(now)},
			func(tx *Tx, ids []string) error {
				for _, id := range ids {
					if err := tx.DeleteSecret(id); err != nil {
						return err
					}
				}
				return nil
			})
		if err != nil {
			return steps, err
		}
	}
	for _, p := range purgeSteps {
		where := []string{p.table + ".deleted = 1", p.table + ".deleted_at <= ?"}
		args := []any{formatTime(threshold)}
		for _, b := range p.blockers {
			where = append(where, b)
			for range strings.Count(b, "?") {
				args = append(args, formatTime(threshold))
			}
		}
		cond := strings.Join(where, " AND ")
		err := run("purge "+p.table, "SELECT id FROM "+p.table+" WHERE "+cond, args,
			func(tx *Tx, ids []string) error {
				// The condition is applied again: a row that gained a reference since it was selected stays.
				_, err := tx.exec("DELETE FROM "+p.table+" WHERE id IN ? AND "+cond, append([]any{ids}, args...)...)
				return err
			})
		if err != nil {
			return steps, err
		}
	}
	if o.CleanProjects {
		where := make([]string, len(projectUsers))
		for i, t := range projectUsers {
			where[i] = "NOT EXISTS (SELECT 1 FROM " + t + " u WHERE u.project_id = projects.id)"
		}
		cond := strings.Join(where, " AND ")
		err := run("remove unassociated projects", "SELECT id FROM projects WHERE "+cond, nil,
			func(tx *Tx, ids []string) error {
				if _, err := tx.exec("DELETE FROM projects WHERE id IN ? AND "+cond, ids); err != nil {
					return err
				}
				if tx.db.counterReady.Load() {
					_, err := tx.exec("DELETE FROM "+projectCountsTable+" WHERE project_id IN ?", ids)
					return err
				}
				return nil
			})
		if err != nil {
			return steps, err
		}
	}
	return steps, nil
}

// cleanStep selects up to a batch of ids and applies apply to them in one transaction, until none are left; a
// dry run counts instead. It returns the number of rows handled.
func (db *DB) cleanStep(ctx context.Context, o CleanOptions, name, selectIDs string, args []any,
	apply func(tx *Tx, ids []string) error) (int, error) {
	if o.DryRun {
		n, err := db.Read(ctx).count("SELECT COUNT(*) FROM ("+selectIDs+") t", args...)
		if err != nil {
			return 0, fmt.Errorf("%s: count: %w", name, err)
		}
		return n, nil
	}
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		var ids []string
		err := db.Write(ctx, func(tx *Tx) error {
			ids = ids[:0]
			if err := tx.scan(&ids, selectIDs+" LIMIT ?", append(append([]any{}, args...), o.BatchSize)...); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			return apply(tx, ids)
		})
		if err != nil {
			return done, fmt.Errorf("%s: %w", name, err)
		}
		done += len(ids)
		if o.Progress != nil && len(ids) > 0 {
			o.Progress(name, done)
		}
		if len(ids) < o.BatchSize {
			return done, nil
		}
	}
}
