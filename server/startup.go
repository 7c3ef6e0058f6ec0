package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/store"
)

// warnExposedNoAuth repeats at every start what --insecure-noauth-any-address accepted, so the choice stays
// visible in the logs of a deployment that made it once and forgot.
func warnExposedNoAuth(cfg config.Config, log *slog.Logger) {
	if cfg.ListenIsLoopback() {
		return
	}
	log.Warn("serving no-auth on a non-loopback address (--insecure-noauth-any-address): every client that "+
		"reaches it acts as the project and roles it names in headers, and as admin without X-Roles; "+
		"keep it on a trusted network", slog.String("listen", cfg.Listen))
}

// prepareSchema applies --db-auto-migrate. auto changes a schema only where that cannot surprise anyone: the
// embedded SQLite file and a database with no table at all. Any other database that is not at this build's
// head — typically a Barbican database just restored — is left as it is and the server refuses to start with
// the command that upgrades it, so that altering it is a decision taken with a backup at hand.
func prepareSchema(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger) error {
	if cfg.DBAutoMigrate == config.AutoMigrateOn {
		return upgrade(ctx, db)
	}
	st, err := db.SchemaStatus(ctx)
	if err != nil {
		return fmt.Errorf("reading the database schema: %w", err)
	}
	if st.AtHead() {
		return nil
	}
	if cfg.DBAutoMigrate == config.AutoMigrateAuto && (db.Dialect() == store.DialectSQLite || st.Empty) {
		return upgrade(ctx, db)
	}
	where := fmt.Sprintf("the database %s is at Barbican schema revision %s and keymanager schema step %d, "+
		"not at this version's %s and step %d", db, revisionName(st.BarbicanRevision), st.KeymanagerVersion,
		store.HeadRevision, store.LatestKeymanagerVersion)
	if cfg.DBAutoMigrate == config.AutoMigrateOff {
		if st.BarbicanRevision == "" {
			return fmt.Errorf("%s, and --db-auto-migrate=false forbids creating it; run\n  %s", where,
				upgradeCommand(cfg, db))
		}
		log.Warn("serving a database that is not at this version's schema (--db-auto-migrate=false); run the "+
			"upgrade command", slog.String("schema", where), slog.String("command", upgradeCommand(cfg, db)))
		return nil
	}
	return fmt.Errorf("%s; keymanager does not change the schema of an existing database on start. Back the "+
		"database up, then run\n  %s\nand start again (or start with --db-auto-migrate=true)", where,
		upgradeCommand(cfg, db))
}

func upgrade(ctx context.Context, db *store.DB) error {
	if err := db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrading the database schema: %w", err)
	}
	return nil
}

func revisionName(rev string) string {
	if rev == "" {
		return "(none)"
	}
	return rev
}

// upgradeCommand is the command that upgrades the database this server was configured with. The URL is the
// redacted one; the note says what to put back.
func upgradeCommand(cfg config.Config, db *store.DB) string {
	url := db.String()
	switch {
	case cfg.DBURLFromBarbicanConf:
		return "keymanager manage db upgrade --barbican-conf '" + cfg.BarbicanConf + "'"
	case cfg.DBURL == "":
		return "keymanager manage db upgrade --data-dir '" + cfg.DataDir + "'"
	}
	cmd := "keymanager manage db upgrade --db-url '" + url + "'"
	if strings.Contains(url, ":xxxxx@") {
		cmd += "   # with the database password in place of xxxxx, or the URL in KEYMANAGER_DB_URL instead of --db-url"
	}
	return cmd
}
