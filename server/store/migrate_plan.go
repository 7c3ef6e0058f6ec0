package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// upgradePlan is what Upgrade still has to do, worked out before it changes anything so that the privileges of
// every pending step can be checked first.
type upgradePlan struct {
	revision        string // Barbican alembic revision found ("" for none)
	alembicTable    bool   // alembic_version exists
	barbican        []int  // positions in barbicanSteps still to apply
	migrationsTable bool   // keymanager_migrations must be created
	keymanager      []keymanagerStep
}

func (p upgradePlan) done() bool {
	return len(p.barbican) == 0 && !p.migrationsTable && len(p.keymanager) == 0
}

func (m *migrator) plan(ctx context.Context) (upgradePlan, error) {
	var p upgradePlan
	var err error
	if p.alembicTable, err = m.tableExists(ctx, "alembic_version"); err != nil {
		return p, err
	}
	if p.revision, err = m.alembicRevision(ctx); err != nil {
		return p, err
	}
	from, err := revisionIndex(p.revision)
	if err != nil {
		return p, err
	}
	if from < 0 {
		exists, err := m.tableExists(ctx, "secrets")
		if err != nil {
			return p, err
		}
		if exists {
			return p, errors.New("database has Barbican tables but no revision in alembic_version: refusing to " +
				"guess its schema. If an earlier `manage db upgrade` of an empty database was interrupted, drop " +
				"and recreate the database and run it again; if the tables came from elsewhere, stamp them with " +
				"barbican-manage first")
		}
	}
	for i := from + 1; i < len(barbicanSteps); i++ {
		p.barbican = append(p.barbican, i)
	}
	ok, err := m.tableExists(ctx, "keymanager_migrations")
	if err != nil {
		return p, err
	}
	p.migrationsTable = !ok
	done := map[int]bool{}
	if ok {
		var applied []int
		if err := m.g.WithContext(ctx).Raw("SELECT version FROM keymanager_migrations").Scan(&applied).Error; err != nil {
			return p, fmt.Errorf("read keymanager_migrations: %w", classify(err))
		}
		for _, v := range applied {
			done[v] = true
		}
	}
	for _, step := range keymanagerSteps {
		if !done[step.version] {
			p.keymanager = append(p.keymanager, step)
		}
	}
	return p, nil
}

// objectExists reports whether a table, index or trigger exists in the current database.
func (m *migrator) objectExists(ctx context.Context, o schemaObject) (bool, error) {
	if o.kind == "table" {
		return m.tableExists(ctx, o.name)
	}
	var q string
	args := []any{o.name}
	switch {
	case m.dialect == DialectSQLite:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = ? AND name = ?"
		args = []any{o.kind, o.name}
	case o.kind == "index":
		q = "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?"
		args = []any{o.table, o.name}
	case o.kind == "trigger":
		q = "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name = ?"
	default:
		return false, fmt.Errorf("look up %s %s: unknown kind of schema object", o.kind, o.name)
	}
	var n int64
	if err := m.g.WithContext(ctx).Raw(q, args...).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("look up %s %s: %w", o.kind, o.name, classify(err))
	}
	return n > 0, nil
}

// runTx runs DML statements in one transaction on the migrator's MySQL connection (on SQLite run already
// makes one transaction of its statements).
func (m *migrator) runTx(ctx context.Context, stmts []string) (err error) {
	if m.dialect == DialectSQLite {
		return m.run(ctx, stmts)
	}
	if err := m.run(ctx, []string{"START TRANSACTION"}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			rerr := m.g.WithContext(context.WithoutCancel(ctx)).Exec("ROLLBACK").Error
			err = errors.Join(err, rerr)
		}
	}()
	if err := m.run(ctx, stmts); err != nil {
		return err
	}
	return m.run(ctx, []string{"COMMIT"})
}

// SchemaStatus is how a database stands against the schema this build serves.
type SchemaStatus struct {
	// Empty is true when the database holds no table at all.
	Empty bool
	// BarbicanRevision is the alembic revision, "" when there is none.
	BarbicanRevision string
	// KeymanagerVersion is the latest applied keymanager step, 0 for none.
	KeymanagerVersion int
}

// AtHead reports whether Upgrade has nothing left to do.
func (s SchemaStatus) AtHead() bool {
	return s.BarbicanRevision == HeadRevision && s.KeymanagerVersion >= LatestKeymanagerVersion
}

// SchemaStatus reads the schema's state without changing anything.
func (db *DB) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	var st SchemaStatus
	var err error
	st.BarbicanRevision, st.KeymanagerVersion, err = db.Current(ctx)
	if err != nil {
		return st, err
	}
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
	if db.dialect == DialectMySQL {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
	}
	var n int64
	if err := db.reader.WithContext(ctx).Raw(q).Scan(&n).Error; err != nil {
		return st, fmt.Errorf("count the tables of %s: %w", db.url, classify(err))
	}
	st.Empty = n == 0
	return st, nil
}

// counterStepApplied reports whether keymanager step 2 completed: its table may exist without its counts after
// an interrupted upgrade on MySQL, and totals must not be read from it then.
func (db *DB) counterStepApplied(ctx context.Context, m *migrator) (bool, error) {
	ok, err := m.tableExists(ctx, "keymanager_migrations")
	if err != nil || !ok {
		return false, err
	}
	var n sql.NullInt64
	if err := m.g.WithContext(ctx).Raw("SELECT COUNT(*) FROM keymanager_migrations WHERE version = ?", counterStepVersion).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("read keymanager_migrations: %w", classify(err))
	}
	return n.Int64 > 0, nil
}
