package manage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keymanager-io/keymanager/internal/rewrapsummary"
	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// simpleCryptoCommand is `manage simple-crypto` (barbican-manage simple_crypto).
func simpleCryptoCommand() *cobra.Command {
	cfg := config.Default()
	var dryRun, verify bool
	var summaryFile string
	cmd := &cobra.Command{
		Use:     "simple-crypto",
		Aliases: []string{"simple_crypto"},
		Short:   "simple_crypto master KEK commands",
	}
	rewrap := &cobra.Command{
		Use:     "rewrap",
		Aliases: []string{"rewrap_pkek"}, // barbican-manage simple_crypto rewrap_pkek
		Short:   "Rewrap every simple_crypto project KEK under the active master KEK",
		Long: `Rewrap every simple_crypto project KEK that the active master KEK (the first of --kek-file, KEYMANAGER_KEK
or [simple_crypto_plugin] kek) does not wrap yet: it is unwrapped with whichever configured KEK wraps it and wrapped
again under the active one (barbican-manage simple_crypto rewrap_pkek), each row in a transaction of its own, replaced
only if nobody changed it meanwhile. Secrets are not re-encrypted. Prints progress (done/total) and how many rows
remain under other KEKs; exits non-zero if any row failed or remains. Retire the old KEK only after 0 remain.
--dry-run checks that every row under another KEK can be rewrapped; --verify checks that none is left (a
rotation's last step): both change nothing. --summary-file writes the counts as one line of JSON.`,
		Example: `  KEYMANAGER_KEK='<new kek>,<old kek>' keymanager manage simple-crypto rewrap --db-url mysql://…`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Resolve(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			return rewrapSimpleCrypto(cmd, cfg, rewrapMode{dryRun: dryRun || verify, verify: verify, summaryFile: summaryFile})
		},
	}
	f := rewrap.Flags()
	f.StringVar(&cfg.BarbicanConf, "barbican-conf", cfg.BarbicanConf, "an existing Barbican's barbican.conf to take the database and the KEKs from")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the default SQLite database and KEK file")
	f.StringVarP(&cfg.DBURL, "db-url", "d", cfg.DBURL, "database URL")
	f.StringVar(&cfg.KEKFile, "kek-file", cfg.KEKFile, "simple_crypto KEKs, one per line, the first one active (the one to rewrap under)")
	f.BoolVar(&dryRun, "dry-run", false, "count and check the rows to rewrap, change nothing")
	f.BoolVar(&verify, "verify", false, "change nothing, and exit non-zero unless every project KEK is under the active KEK (what a rotation checks last)")
	summaryFlag(f, &summaryFile)
	cmd.AddCommand(rewrap)
	return cmd
}

func rewrapSimpleCrypto(cmd *cobra.Command, cfg config.Config, mode rewrapMode) error {
	dryRun := mode.dryRun
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	keys := cfg.KEKs
	if len(keys) == 0 {
		var err error
		if keys, err = simplecrypto.ReadKEKFile(cfg.KEKPath()); err != nil {
			return fmt.Errorf("the KEKs to rewrap with: %w", err)
		}
	}
	plugin, err := simplecrypto.New(keys, simplecrypto.Options{CacheSize: -1})
	if err != nil {
		return err
	}
	db, err := server.OpenDB(ctx, cfg, slog.Default())
	if err != nil {
		return err
	}
	defer db.Close()
	var todo []store.KEKMeta
	if err := db.EachKEKMeta(ctx, simplecrypto.ClassPath, func(r store.KEKMeta) error {
		if !plugin.WrappedByActiveKEK(r.PluginMeta) {
			todo = append(todo, r)
		}
		return nil
	}); err != nil {
		return err
	}
	var done, failed, skipped int
	progress := progressPrinter(out)
	for _, r := range todo {
		next, err := plugin.RewrapPKEK(r.PluginMeta)
		replaced := false
		if err == nil && !dryRun {
			err = db.Write(ctx, func(tx *store.Tx) error {
				var err error
				replaced, err = tx.ReplaceKEKMeta(r.ID, r.PluginMeta, next)
				return err
			})
		}
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "kek_data %s: %v\n", r.ID, err)
		case replaced || dryRun:
			done++
		default:
			skipped++
		}
		progress(done+failed+skipped, len(todo))
	}
	remaining := 0
	if err := db.EachKEKMeta(ctx, simplecrypto.ClassPath, func(r store.KEKMeta) error {
		if !plugin.WrappedByActiveKEK(r.PluginMeta) {
			remaining++
		}
		return nil
	}); err != nil {
		return err
	}
	verb := "rewrapped"
	if dryRun {
		verb = "would rewrap (checked)"
	}
	fmt.Fprintf(out, "%s %d of %d project KEKs; %d failed, %d changed by someone else\n", verb, done, len(todo), failed, skipped)
	fmt.Fprintf(out, "%d project KEKs remain under other KEKs\n", remaining)
	mode.writeSummary(cmd.ErrOrStderr(), rewrapsummary.Summary{Total: int64(len(todo)), Rewrapped: int64(done), Failed: int64(failed), Remaining: int64(remaining)})
	switch {
	case failed > 0:
		return fmt.Errorf("%d project KEKs could not be rewrapped (listed above): is every old KEK configured after the active one?", failed)
	case remaining > 0 && mode.verify:
		return fmt.Errorf("%d project KEKs are not under the active KEK; run simple-crypto rewrap", remaining)
	case remaining > 0 && !dryRun:
		return errors.New("project KEKs remain under other KEKs; run the command again")
	}
	return nil
}

// rewrapMode is how a rewrap command runs: dryRun changes nothing, verify also fails while any row remains
// under another key, and summaryFile (when set) receives the counts.
type rewrapMode struct {
	dryRun, verify bool
	summaryFile    string
}

// writeSummary writes the counts when asked to. A summary that cannot be written is reported and does not
// fail the command: the rows are rewrapped (or checked) either way, and the counts are only informative.
func (m rewrapMode) writeSummary(errOut io.Writer, s rewrapsummary.Summary) {
	if m.summaryFile == "" {
		return
	}
	if err := rewrapsummary.Write(m.summaryFile, s); err != nil {
		fmt.Fprintf(errOut, "warning: %v\n", err)
	}
}

func summaryFlag(f *pflag.FlagSet, path *string) {
	f.StringVar(path, "summary-file", "", "write the counts (total, rewrapped, failed, remaining) as one line of JSON to this file "+
		"(a Job sets /dev/termination-log, where Kubernetes reads the container's termination message)")
}
