// Package manage is `keymanager manage`, the barbican-manage equivalent.
package manage

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/store"
)

// AddCommandTo adds `manage` and its subcommands to parent.
func AddCommandTo(parent *cobra.Command) {
	cmd := &cobra.Command{
		Use:   "manage",
		Short: "Administer the key manager's database and keys (barbican-manage equivalent)",
	}
	cmd.AddCommand(dbCommand(), hsmCommand(), simpleCryptoCommand(), hsmClientCommand())
	parent.AddCommand(cmd)
}

func dbCommand() *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Database schema commands",
		Long: `Database schema commands. The schema is Barbican's (alembic head 8c74e2d7f1ff), so a database restored
from a Barbican dump is upgraded in place and one created here can be opened by the reference server.`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return cfg.Resolve(cmd.Flags(), os.LookupEnv)
		},
	}
	cmd.PersistentFlags().StringVar(&cfg.BarbicanConf, "barbican-conf", cfg.BarbicanConf,
		"an existing Barbican's barbican.conf to take the database URL from ([database] connection); --db-url and KEYMANAGER_DB_URL override it")
	cmd.PersistentFlags().StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the default SQLite database")
	cmd.PersistentFlags().StringVarP(&cfg.DBURL, "db-url", "d", cfg.DBURL,
		"database URL (sqlite:///path or mysql://user:pass@host:3306/db; default: SQLite under --data-dir)")

	upgrade := &cobra.Command{
		Use:   "upgrade",
		Short: "Create or upgrade the schema to the latest revision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil && cfg.DBURL == "" {
				return fmt.Errorf("creating the data directory: %w", err)
			}
			db, err := server.OpenDB(cmd.Context(), cfg, slog.Default())
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Upgrade(cmd.Context()); err != nil {
				return err
			}
			return printCurrent(cmd, db)
		},
	}
	current := &cobra.Command{
		Use:   "current",
		Short: "Print the schema revision of the database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := server.OpenDB(cmd.Context(), cfg, slog.Default())
			if err != nil {
				return err
			}
			defer db.Close()
			return printCurrent(cmd, db)
		},
	}
	cmd.AddCommand(upgrade, current, cleanCommand(&cfg), syncSecretStoresCommand(&cfg))
	return cmd
}

func printCurrent(cmd *cobra.Command, db *store.DB) error {
	revision, version, err := db.Current(cmd.Context())
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s (barbican alembic head), keymanager schema %d, %s\n", revision, version, db.Dialect())
	return nil
}
