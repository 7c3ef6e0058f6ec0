package manage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/internal/rewrapsummary"
	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
)

// hsmCommand is `manage hsm` (barbican-manage hsm): the master keys and the rewrap of project KEKs.
func hsmCommand() *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "hsm",
		Short: "PKCS#11 master keys (MKEK, HMAC key) and project KEK rewrap",
		Long: `Manage the master keys of the PKCS#11 store in the HSM and rewrap project KEKs after a rotation.
Every command takes the --p11-* settings of 'keymanager serve' (or --barbican-conf with a [p11_crypto_plugin]
section) and the PIN from KEYMANAGER_P11_PIN or --p11-login-pin-file. barbican-manage's options are accepted too
(--library-path, --passphrase, --slot-id, --label, --length, --key-type, --mechanism), so runbooks keep working;
--passphrase puts the PIN where ps shows it, prefer the variable.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&cfg.BarbicanConf, "barbican-conf", cfg.BarbicanConf, "an existing Barbican's barbican.conf to take [p11_crypto_plugin] and the database from")
	pf.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the default SQLite database")
	pf.StringVarP(&cfg.DBURL, "db-url", "d", cfg.DBURL, "database URL (rewrap-pkek)")
	cfg.P11.MaxSessions = 2 // a Job needs few sessions, and its share of the HSM's budget is reserved
	cfg.P11.AddP11Flags(pf)

	cmd.AddCommand(
		keyCommand(&cfg, "gen-mkek", "Generate the master KEK", mkekKey, generateKey),
		keyCommand(&cfg, "check-mkek", "Check that the master KEK exists", mkekKey, checkKey),
		keyCommand(&cfg, "gen-hmac", "Generate the master HMAC key", hmacKey, generateKey),
		keyCommand(&cfg, "check-hmac", "Check that the master HMAC key exists", hmacKey, checkKey),
		ensureKeysCommand(&cfg),
		rewrapCommand(&cfg),
	)
	return cmd
}

// aliases are barbican-manage hsm's options, applied over the resolved configuration when given.
type aliases struct {
	libraryPath, passphrase, label, keyType, mechanism string
	tokenSerial                                        string
	tokenLabels                                        []string
	slotID                                             uint
	length                                             int
}

func (a *aliases) add(fs *pflag.FlagSet, keyOptions bool) {
	fs.StringVar(&a.libraryPath, "library-path", "", "barbican-manage's name of --p11-library-path")
	fs.StringVar(&a.passphrase, "passphrase", "", "barbican-manage's token PIN option (visible in ps: prefer "+config.EnvP11PIN+")")
	fs.UintVar(&a.slotID, "slot-id", 0, "barbican-manage's name of --p11-slot-id")
	fs.StringVar(&a.tokenSerial, "token-serial-number", "", "barbican-manage's name of --p11-token-serial-number")
	fs.StringSliceVar(&a.tokenLabels, "token-labels", nil, "barbican-manage's name of --p11-token-labels")
	if keyOptions {
		fs.StringVar(&a.label, "label", "", "the key's label (--p11-mkek-label or --p11-hmac-label)")
		fs.IntVar(&a.length, "length", 0, "the key's length in bytes (--p11-mkek-length)")
		fs.StringVar(&a.keyType, "key-type", "", "the HMAC key's type (--p11-hmac-key-type)")
		fs.StringVar(&a.mechanism, "mechanism", "", "the HMAC key's keygen mechanism (--p11-hmac-keygen-mechanism)")
	}
}

// apply sets what was given; which says whose label --label is.
func (a *aliases) apply(fs *pflag.FlagSet, p *config.P11, which keyKind, stderr io.Writer) {
	changed := func(name string) bool { f := fs.Lookup(name); return f != nil && f.Changed }
	if changed("library-path") {
		p.LibraryPath = a.libraryPath
	}
	if changed("passphrase") {
		fmt.Fprintln(stderr, "warning: --passphrase shows the PIN to every user of this machine (ps); use "+config.EnvP11PIN+" or --p11-login-pin-file")
		p.PIN = hsm.PIN(a.passphrase)
	}
	if changed("slot-id") {
		p.SlotID = a.slotID
	}
	if changed("token-serial-number") {
		p.TokenSerial = a.tokenSerial
	}
	if changed("token-labels") {
		p.TokenLabels = a.tokenLabels
	}
	if changed("label") {
		if which == hmacKey {
			p.HMACLabel = a.label
		} else {
			p.MKEKLabel = a.label
		}
	}
	if changed("length") {
		p.MKEKLength = a.length
	}
	if changed("key-type") {
		p.HMACKeyType = a.keyType
	}
	if changed("mechanism") {
		p.HMACKeygenMechanism = a.mechanism
	}
}

type keyKind int

const (
	noKey keyKind = iota
	mkekKey
	hmacKey
)

func (k keyKind) String() string {
	if k == hmacKey {
		return "HMAC key"
	}
	return "MKEK"
}

// spec is the master key of this kind as configured.
func (k keyKind) spec(p config.P11) (hsm.MasterKeySpec, error) {
	if k == hmacKey {
		if p.HMACLabel == "" {
			return hsm.MasterKeySpec{}, errors.New("no HMAC key label: give --p11-hmac-label (or --label)")
		}
		return p.HMACSpec()
	}
	if p.MKEKLabel == "" {
		return hsm.MasterKeySpec{}, errors.New("no MKEK label: give --p11-mkek-label (or --label)")
	}
	return p.MKEKSpec(), nil
}

// prepare resolves the configuration of a subcommand (barbican.conf < environment < flags < aliases).
func prepare(cmd *cobra.Command, cfg *config.Config, a *aliases, which keyKind) error {
	if err := cfg.Resolve(cmd.Flags(), os.LookupEnv); err != nil {
		return err
	}
	a.apply(cmd.Flags(), &cfg.P11, which, cmd.ErrOrStderr())
	return nil
}

func openModule(ctx context.Context, p config.P11) (*hsm.Module, error) {
	return server.OpenHSM(ctx, p, nil)
}

type keyAction func(ctx context.Context, m *hsm.Module, kind keyKind, spec hsm.MasterKeySpec, out io.Writer) error

func generateKey(ctx context.Context, m *hsm.Module, kind keyKind, spec hsm.MasterKeySpec, out io.Writer) error {
	var err error
	if kind == hmacKey {
		err = m.GenerateHMACKey(ctx, spec)
	} else {
		err = m.GenerateMKEK(ctx, spec)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s successfully generated: label %s, %d bytes, %s\n", kind, spec.Label, spec.Length, spec.KeyType)
	return nil
}

func checkKey(ctx context.Context, m *hsm.Module, kind keyKind, spec hsm.MasterKeySpec, out io.Writer) error {
	if err := m.FindKey(ctx, spec); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s found: label %s, %s\n", kind, spec.Label, spec.KeyType)
	return nil
}

func keyCommand(cfg *config.Config, use, short string, kind keyKind, action keyAction) *cobra.Command {
	var a aliases
	cmd := &cobra.Command{
		Use:     use,
		Aliases: []string{strings.ReplaceAll(use, "-", "_")}, // barbican-manage's spelling, e.g. gen_mkek
		Short:   short,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prepare(cmd, cfg, &a, kind); err != nil {
				return err
			}
			spec, err := kind.spec(cfg.P11)
			if err != nil {
				return err
			}
			m, err := openModule(cmd.Context(), cfg.P11)
			if err != nil {
				return err
			}
			defer m.Close()
			return action(cmd.Context(), m, kind, spec, cmd.OutOrStdout())
		},
	}
	a.add(cmd.Flags(), true)
	return cmd
}

// ensureKeysCommand is what the operator's key Job runs: check each master key, generate the missing ones.
func ensureKeysCommand(cfg *config.Config) *cobra.Command {
	var a aliases
	cmd := &cobra.Command{
		Use:   "ensure-keys",
		Short: "Check the MKEK and the HMAC key, generating any that is missing (idempotent)",
		Long: `Check that the configured MKEK and HMAC key exist, and generate the ones that do not; exit 0 when both
exist afterwards. Running it again changes nothing. A label held by several keys is an error, never resolved by
generating another.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prepare(cmd, cfg, &a, noKey); err != nil {
				return err
			}
			m, err := openModule(cmd.Context(), cfg.P11)
			if err != nil {
				return err
			}
			defer m.Close()
			for _, kind := range []keyKind{mkekKey, hmacKey} {
				spec, err := kind.spec(cfg.P11)
				if err != nil {
					return err
				}
				err = checkKey(cmd.Context(), m, kind, spec, cmd.OutOrStdout())
				if errors.Is(err, hsm.ErrKeyNotFound) {
					err = generateKey(cmd.Context(), m, kind, spec, cmd.OutOrStdout())
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	a.add(cmd.Flags(), false)
	return cmd
}

// rewrapCommand is `manage hsm rewrap-pkek` (barbican-manage hsm rewrap_pkek), failing loudly.
func rewrapCommand(cfg *config.Config) *cobra.Command {
	var a aliases
	var dryRun, verify bool
	var workers int
	var summaryFile string
	cmd := &cobra.Command{
		Use:     "rewrap-pkek",
		Aliases: []string{"rewrap_pkek"},
		Short:   "Rewrap every project KEK under the configured MKEK and HMAC labels",
		Long: `Rewrap every p11_crypto project KEK that is not under the configured MKEK and HMAC labels: its HMAC is
verified with the key its row names, it is unwrapped by the MKEK its row names, wrapped and signed with the
configured keys, the new HMAC is verified, and the row is replaced in a transaction of its own. Secrets are not
re-encrypted. Interrupted, it leaves every row complete; run it again to finish. It prints its progress
(done/total) and how many rows remain on other labels, and exits non-zero if any row failed or remains.
The old keys must stay in the HSM until it reports 0 remaining. --dry-run checks that every row on other labels
can be rewrapped; --verify checks that none is left (a rotation's last step): both change nothing.`,
		Example: `  KEYMANAGER_P11_PIN=… keymanager manage hsm rewrap-pkek --db-url mysql://… \
      --p11-library-path /opt/tw_proteccio/lib/libnethsm.so --p11-token-labels barbican \
      --p11-mkek-label barbican_mkek_11 --p11-hmac-label barbican_hmac_11`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prepare(cmd, cfg, &a, noKey); err != nil {
				return err
			}
			return rewrap(cmd, *cfg, rewrapMode{dryRun: dryRun || verify, verify: verify, summaryFile: summaryFile}, workers)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "verify and unwrap every row that would be rewrapped, change nothing")
	cmd.Flags().BoolVar(&verify, "verify", false, "change nothing, and exit non-zero unless every project KEK is under the configured labels (what a rotation checks last)")
	summaryFlag(cmd.Flags(), &summaryFile)
	cmd.Flags().IntVar(&workers, "workers", 2, "rows rewrapped at once (each holds an HSM session; at most --hsm-max-sessions)")
	a.add(cmd.Flags(), false)
	return cmd
}

func rewrap(cmd *cobra.Command, cfg config.Config, mode rewrapMode, workers int) error {
	dryRun, verify := mode.dryRun, mode.verify
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	if cfg.P11.MKEKLabel == "" || cfg.P11.HMACLabel == "" {
		return errors.New("give the labels to rewrap to: --p11-mkek-label and --p11-hmac-label")
	}
	db, err := server.OpenDB(ctx, cfg, slog.Default())
	if err != nil {
		return err
	}
	defer db.Close()
	plugin, err := server.OpenP11Plugin(ctx, cfg.P11, nil)
	if err != nil {
		return err
	}
	defer plugin.Module().Close()
	spec, err := cfg.P11.HMACSpec()
	if err != nil {
		return err
	}
	for _, k := range []hsm.MasterKeySpec{cfg.P11.MKEKSpec(), spec} {
		if err := plugin.Module().FindKey(ctx, k); err != nil {
			return fmt.Errorf("the key to rewrap under, %q: %w (generate it first: keymanager manage hsm ensure-keys)", k.Label, err)
		}
	}
	res, err := p11crypto.Rewrap(ctx, db, plugin, p11crypto.RewrapOptions{
		DryRun:   dryRun,
		Workers:  min(max(workers, 1), cfg.P11.MaxSessions),
		Progress: progressPrinter(out),
		Failed:   func(id string, err error) { fmt.Fprintf(cmd.ErrOrStderr(), "kek_data %s: %v\n", id, err) },
	})
	if err != nil {
		return err
	}
	verb := "rewrapped"
	if dryRun {
		verb = "would rewrap (verified)"
	}
	fmt.Fprintf(out, "%s %d of %d project KEKs to %s/%s; %d failed, %d changed by someone else\n", verb,
		res.Rewrapped, res.Total, cfg.P11.MKEKLabel, cfg.P11.HMACLabel, res.Failed, res.Skipped)
	fmt.Fprintf(out, "%d project KEKs remain on other labels\n", res.Remaining)
	mode.writeSummary(cmd.ErrOrStderr(), rewrapsummary.Summary{Total: int64(res.Total), Rewrapped: int64(res.Rewrapped),
		Failed: int64(res.Failed), Remaining: int64(res.Remaining)})
	switch {
	case res.Failed > 0:
		return fmt.Errorf("%d project KEKs could not be rewrapped (listed above); %d remain on other labels", res.Failed, res.Remaining)
	case res.Remaining > 0 && verify:
		return fmt.Errorf("%w: %d project KEKs are not under %s/%s; run rewrap-pkek", p11crypto.ErrRewrapIncomplete,
			res.Remaining, cfg.P11.MKEKLabel, cfg.P11.HMACLabel)
	case res.Remaining > 0 && !dryRun:
		return fmt.Errorf("%w: %d; run the command again", p11crypto.ErrRewrapIncomplete, res.Remaining)
	}
	return nil
}

// progressPrinter prints done/total lines: about a hundred for a large table, one per row for a small one.
func progressPrinter(out io.Writer) func(done, total int) {
	step := 0
	return func(done, total int) {
		if done == total || total < 100 || done*100/total != step {
			step = done * 100 / max(total, 1)
			fmt.Fprintf(out, "%d/%d\n", done, total)
		}
	}
}
