package manage

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/store"
)

// cleanCommand is `manage db clean`, barbican-manage's db clean with its option names, in batches.
func cleanCommand(cfg *config.Config) *cobra.Command {
	var o store.CleanOptions
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Purge soft-deleted rows older than --min-days (barbican-manage db clean)",
		Long: `Hard-delete rows that were soft-deleted at least --min-days ago and that nothing refers to any more,
children before parents, in transactions of --batch-size rows so that no table stays locked for long. Rows an
order still refers to are kept. Project KEKs are purged only when soft-deleted (the API never does that).

--soft-delete-expired-secrets first soft-deletes live secrets whose expiration has passed (they are purged by a
later clean, or by this one with --min-days 0). --clean-unassociated-projects finally removes project rows that
nothing refers to. --dry-run prints what each step would remove and changes nothing.`,
		Example: `  keymanager manage db clean --dry-run
  keymanager manage db clean --min-days 30 --soft-delete-expired-secrets --clean-unassociated-projects`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := server.OpenDB(cmd.Context(), *cfg, slog.Default())
			if err != nil {
				return err
			}
			defer db.Close()
			out := cmd.OutOrStdout()
			if o.DryRun {
				fmt.Fprintln(out, "dry run: the rows each step would change; nothing is changed")
			} else {
				o.Progress = func(step string, rows int) { fmt.Fprintf(out, "  %s: %d rows so far\n", step, rows) }
			}
			steps, err := db.Clean(cmd.Context(), o)
			total := 0
			for _, s := range steps {
				total += s.Rows
				fmt.Fprintf(out, "%-38s %8d rows\n", s.Name+":", s.Rows)
			}
			fmt.Fprintf(out, "%-38s %8d rows\n", "total:", total)
			return err
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.MinDays, "min-days", "m", 90, "purge rows soft-deleted at least this many days ago (0: all)")
	f.BoolVarP(&o.SoftDeleteExpired, "soft-delete-expired-secrets", "e", false, "first soft-delete secrets whose expiration has passed")
	f.BoolVarP(&o.CleanProjects, "clean-unassociated-projects", "p", false, "remove projects that no row refers to")
	f.BoolVar(&o.DryRun, "dry-run", false, "print what would be removed, change nothing")
	f.IntVar(&o.BatchSize, "batch-size", 500, "rows per transaction")
	return cmd
}
