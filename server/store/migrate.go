package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"gorm.io/gorm"
)

// mysqlMigrationLock serialises Upgrade across servers sharing a MariaDB
// (e.g. several replicas starting at once).
const mysqlMigrationLock = "keymanager_migrate"

// Upgrade brings the database to Barbican's head revision and applies
// keymanager's additive steps. On a database the reference Barbican already
// manages it only applies the Barbican revisions still missing; an unknown
// revision is an error. On MySQL it first checks that the account holds every
// privilege the pending steps use, so a missing one stops it before anything
// changed. MySQL DDL is not transactional: each statement commits, so
// keymanager's steps are written to be re-run after an interruption (see
// MIGRATIONS.md).
func (db *DB) Upgrade(ctx context.Context) error {
	return db.withMigrator(ctx, func(m *migrator) error {
		p, err := m.plan(ctx)
		if err != nil {
			return err
		}
		if p.done() {
			return db.refreshSchemaState(ctx)
		}
		if db.dialect == DialectMySQL {
			if err := m.checkPrivileges(ctx, p); err != nil {
				return err
			}
		}
		for _, i := range p.barbican {
			step := barbicanSteps[i]
			stmts := step.stmts(db.dialect)
			if i == 0 {
				if !p.alembicTable {
					stmts = append([]string{alembicVersionTableSQL(db.dialect)}, stmts...)
				}
				stmts = append(stmts, "INSERT INTO alembic_version (version_num) VALUES ('"+step.revision+"')")
			} else {
				stmts = append(stmts, "UPDATE alembic_version SET version_num='"+step.revision+
					"' WHERE version_num='"+barbicanSteps[i-1].revision+"'")
			}
			if err := m.run(ctx, stmts); err != nil {
				return fmt.Errorf("apply Barbican revision %s: %w", step.revision, err)
			}
			db.log.InfoContext(ctx, "Applied Barbican schema revision", slog.String("revision", step.revision))
		}
		if p.migrationsTable {
			if err := m.run(ctx, []string{keymanagerMigrationsTableSQL(db.dialect)}); err != nil {
				return fmt.Errorf("create keymanager_migrations: %w", err)
			}
		}
		for _, step := range p.keymanager {
			if err := m.applyStep(ctx, step); err != nil {
				return fmt.Errorf("apply keymanager migration %d (%s): %w", step.version, step.name, err)
			}
			db.log.InfoContext(ctx, "Applied keymanager schema step", slog.Int("version", step.version), slog.String("name", step.name))
		}
		return db.refreshSchemaState(ctx)
	})
}

// applyStep runs the statements of a keymanager step that are still needed, then fills its tables and records
// the step in one transaction.
func (m *migrator) applyStep(ctx context.Context, step keymanagerStep) error {
	var ddl, fill []string
	for _, op := range step.ops(m.dialect) {
		if op.fill {
			fill = append(fill, op.sql)
			continue
		}
		if op.creates.kind != "" {
			exists, err := m.objectExists(ctx, op.creates)
			if err != nil {
				return err
			}
			if exists {
				continue
			}
		}
		ddl = append(ddl, op.sql)
	}
	fill = append(fill, fmt.Sprintf("INSERT INTO keymanager_migrations (version, applied_at) VALUES (%d, '%s')",
		step.version, formatTime(m.db.clock())))
	if m.dialect == DialectSQLite {
		// SQLite DDL is transactional: the whole step is one transaction.
		return m.run(ctx, append(ddl, fill...))
	}
	if err := m.run(ctx, ddl); err != nil {
		return err
	}
	return m.runTx(ctx, fill)
}

// Current returns the Barbican alembic revision ("" for an empty database)
// and the latest applied keymanager step (0 for none).
func (db *DB) Current(ctx context.Context) (barbicanRevision string, keymanagerVersion int, err error) {
	m := &migrator{dialect: db.dialect, g: db.reader}
	barbicanRevision, err = m.alembicRevision(ctx)
	if err != nil {
		return "", 0, err
	}
	ok, err := m.tableExists(ctx, "keymanager_migrations")
	if err != nil || !ok {
		return barbicanRevision, 0, err
	}
	var v sql.NullInt64
	if err := db.reader.WithContext(ctx).Raw("SELECT MAX(version) FROM keymanager_migrations").Scan(&v).Error; err != nil {
		return "", 0, fmt.Errorf("read keymanager_migrations: %w", classify(err))
	}
	return barbicanRevision, int(v.Int64), nil
}

// migrator runs schema statements: on SQLite each step is one transaction
// through the writer; on MySQL statements run on one connection holding a
// named lock.
type migrator struct {
	dialect string
	g       *gorm.DB
	db      *DB
}

func (db *DB) withMigrator(ctx context.Context, fn func(m *migrator) error) (err error) {
	if db.dialect == DialectSQLite {
		return fn(&migrator{dialect: db.dialect, g: db.writer, db: db})
	}
	sqlDB, err := db.reader.DB()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 300)", mysqlMigrationLock).Scan(&got); err != nil {
		return fmt.Errorf("migrate: take lock: %w", classify(err))
	}
	if got.Int64 != 1 {
		return fmt.Errorf("migrate: another server holds the migration lock: %w", ErrUnavailable)
	}
	defer func() {
		_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", mysqlMigrationLock)
		err = errors.Join(err, rerr)
	}()
	// A Context forces gorm to clone the Statement, so setting ConnPool
	// below does not leak into db.reader.
	g := db.reader.Session(&gorm.Session{NewDB: true, Context: ctx})
	g.Statement.ConnPool = conn
	return fn(&migrator{dialect: db.dialect, g: g, db: db})
}

func (m *migrator) run(ctx context.Context, stmts []string) error {
	if m.dialect == DialectSQLite {
		return m.db.Write(ctx, func(tx *Tx) error {
			for _, s := range stmts {
				if err := tx.g.Exec(s).Error; err != nil {
					return fmt.Errorf("%s: %w", firstLine(s), err)
				}
			}
			return nil
		})
	}
	for _, s := range stmts {
		if err := m.g.WithContext(ctx).Exec(s).Error; err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), classify(err))
		}
	}
	return nil
}

func (m *migrator) tableExists(ctx context.Context, name string) (bool, error) {
	var n int64
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if m.dialect == DialectMySQL {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	}
	if err := m.g.WithContext(ctx).Raw(q, name).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("look up table %s: %w", name, classify(err))
	}
	return n > 0, nil
}

func (m *migrator) alembicRevision(ctx context.Context) (string, error) {
	ok, err := m.tableExists(ctx, "alembic_version")
	if err != nil || !ok {
		return "", err
	}
	var revs []string
	if err := m.g.WithContext(ctx).Raw("SELECT version_num FROM alembic_version").Scan(&revs).Error; err != nil {
		return "", fmt.Errorf("read alembic_version: %w", classify(err))
	}
	switch len(revs) {
	case 0:
		return "", nil
	case 1:
		return revs[0], nil
	default:
		return "", fmt.Errorf("alembic_version holds %d revisions (branched history is not supported)", len(revs))
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
