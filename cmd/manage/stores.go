package manage

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
)

// syncSecretStoresCommand is `manage db sync-secret-stores` (barbican-manage db sync_secret_stores).
func syncSecretStoresCommand(cfg *config.Config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync-secret-stores",
		Short: "Bring the secret_stores table in line with the configured secret stores",
		Long: `Synchronise the secret_stores table with the configured stores, as the server does at start in
multiple-store mode (barbican-manage db sync_secret_stores): a store without a row gets one, the global-default flag
follows the configuration, and a row no longer configured is removed unless a project still prefers it (then the
command fails and names the store). The stores are opened as the server opens them, keys included.`,
		Example: `  keymanager manage db sync-secret-stores --barbican-conf /etc/barbican/barbican.conf
  keymanager manage db sync-secret-stores --enable-multiple-secret-stores \
      --secret-store name=software,plugin=simple_crypto,global_default --db-url mysql://…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := server.SyncSecretStores(cmd.Context(), *cfg, slog.Default())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, r := range rows {
				def := ""
				if r.GlobalDefault {
					def = " (global default)"
				}
				crypto := ""
				if r.CryptoPlugin != nil {
					crypto = "/" + *r.CryptoPlugin
				}
				fmt.Fprintf(out, "%s  %s  %s%s%s\n", r.ID, r.Name, r.StorePlugin, crypto, def)
			}
			return nil
		},
	}
	cfg.AddStoreFlags(cmd.Flags())
	return cmd
}
