package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// How many project KEKs of each configured plugin are unwrapped at start: the newest (what the last writers
// used) and a few at random (older rotations). Bounded, so a start costs the same on any database size.
const (
	sampleNewestKEKs = 3
	sampleRandomKEKs = 5
)

// barbicanDefaultKEK is the [simple_crypto_plugin] kek default of Barbican releases before 2025
// (base64 of "thirty_two_byte_keyblahblahblahh"): published, so it is no secret, but data may be under it.
const barbicanDefaultKEK = "dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg="

// refuseUnconfiguredPlugins refuses a database with live project KEKs of a crypto plugin this server does not
// have. Serving it would answer 500 for every secret under them and — worse — silently put the next secret of
// such a project under another plugin.
func refuseUnconfiguredPlugins(census []store.PluginKEKs, configured map[string]bool) error {
	var errs []error
	for _, c := range census {
		if configured[c.PluginName] || c.Live == 0 {
			continue
		}
		what, fix := "a crypto plugin keymanager does not implement",
			"keep serving this database with Barbican, or move its secrets to simple_crypto there first"
		switch c.PluginName {
		case p11crypto.ClassPath:
			what, fix = "PKCS#11, an HSM",
				"Configure the PKCS#11 store: --secret-store name=hsm,plugin=p11_crypto (with global_default if it was "+
					"Barbican's) and the HSM's --p11-library-path, token selector, PIN (KEYMANAGER_P11_PIN or "+
					"--p11-login-pin-file) and --p11-mkek-label/--p11-hmac-label, or --barbican-conf with its "+
					"[p11_crypto_plugin] section"
		case simplecrypto.ClassPath:
			what, fix = "simple_crypto, a software KEK",
				"Configure a simple_crypto store beside the others: --secret-store name=software,plugin=simple_crypto, "+
					"with the KEK that wrapped them"
		}
		errs = append(errs, fmt.Errorf("the database holds %d project KEKs of %s (%s) in %d projects, and this "+
			"server has no such crypto plugin configured: their secrets could not be decrypted, and new secrets "+
			"of those projects would go under another plugin. %s. Refusing to start",
			c.Live, c.PluginName, what, c.Projects, fix))
	}
	return errors.Join(errs...)
}

func censusOf(census []store.PluginKEKs, plugin string) store.PluginKEKs {
	for _, c := range census {
		if c.PluginName == plugin {
			return c
		}
	}
	return store.PluginKEKs{PluginName: plugin}
}

// loadKEKs returns the simple_crypto master KEKs: the configured values, else the KEK file. The file is
// generated only while the database holds no simple_crypto project KEK at all: a new KEK unwraps none of the
// existing ones, so generating it would turn every old secret into a 500 and put new ones under a key nobody
// backed up. The keys never reach a log line or an error.
func loadKEKs(cfg config.Config, log *slog.Logger, db *store.DB, existing store.PluginKEKs) ([]simplecrypto.Key, error) {
	if len(cfg.KEKs) > 0 {
		log.Info("using the configured simple_crypto KEKs", slog.String("source", cfg.KEKSource),
			slog.Int("count", len(cfg.KEKs)))
		return cfg.KEKs, nil
	}
	path := cfg.KEKPath()
	keys, err := simplecrypto.ReadKEKFile(path)
	if err == nil {
		return keys, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading the KEK file: %w", err)
	}
	if existing.Total > 0 {
		hint := ""
		if cfg.BarbicanConf != "" && cfg.KEKFile == "" {
			hint = fmt.Sprintf(". %s has no [simple_crypto_plugin] kek line: a Barbican released before 2025 then "+
				"used its built-in default KEK %s (public, so rotate away from it afterwards); if that wrapped them, "+
				"give it with %s", cfg.BarbicanConf, barbicanDefaultKEK, config.EnvKEK)
		}
		return nil, fmt.Errorf("the database holds %d simple_crypto project KEKs (kek_data rows of %s) but no "+
			"KEK is configured and the KEK file %s does not exist. A new KEK would unwrap none of them, so none is "+
			"generated. Configure the KEK(s) that wrapped them — the [simple_crypto_plugin] kek values of the "+
			"Barbican configuration, active first: --barbican-conf /etc/barbican/barbican.conf, %s='<kek>[,<older "+
			"kek>]', or --kek-file FILE (one key per line)%s", existing.Total, simplecrypto.ClassPath, path, config.EnvKEK, hint)
	}
	keys, created, err := simplecrypto.LoadOrCreateKEKFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading the KEK file: %w", err)
	}
	if created {
		log.Warn("generated a new simple_crypto KEK; back it up; without it no secret can be decrypted",
			slog.String("kek_file", path))
		if db.Dialect() != store.DialectSQLite {
			// Another replica, or this one restarted with an empty data directory, would generate a different
			// KEK for the same database.
			log.Warn("the KEK was generated into a local file for a database other servers can share: give every "+
				"server of this database this same KEK (KEYMANAGER_KEK or --kek-file on persistent storage)",
				slog.String("kek_file", path), slog.String("database", db.String()))
		}
	}
	return keys, nil
}

// checkKEKs unwraps a sample of the plugin's project KEKs with the configured master keys and refuses to start
// when the configuration is wrong: a wrong or incomplete KEK list, or a wrong token or HMAC setting, would
// otherwise surface as a 500 on every old secret.
//
// A row that fails while another sampled row naming the same master keys passes (crypto.MasterKeyNamer) is
// damaged on its own, not misconfigured: it is reported and the server starts. Refusing there would let one
// corrupt row stop every pod that restarts — a rollout or a key rotation would never complete — and would
// recover nothing, since that row's secrets cannot be read whatever the server does. simple_crypto rows do not
// say which KEK wrapped them, so there any failure may be a retired KEK left out, and it refuses.
func checkKEKs(ctx context.Context, db *store.DB, plugin crypto.Plugin, log *slog.Logger) error {
	checker, ok := plugin.(crypto.KEKChecker)
	if !ok {
		return nil
	}
	sample, err := db.SampleKEKs(ctx, plugin.ClassPath(), sampleNewestKEKs, sampleRandomKEKs)
	if err != nil {
		return fmt.Errorf("checking the configured KEKs: %w", err)
	}
	type failure struct {
		id, masterKeys, cause string
	}
	var failures []failure
	working := map[string]bool{} // master keys that unwrap at least one sampled row
	namer, _ := plugin.(crypto.MasterKeyNamer)
	for i := range sample {
		row := &sample[i]
		kek := crypto.KEK{ID: row.ID, BindCompleted: row.BindCompleted}
		if row.KEKLabel != nil {
			kek.Label = *row.KEKLabel
		}
		if row.PluginMeta != nil {
			kek.PluginMeta = *row.PluginMeta
		}
		var masterKeys string
		if namer != nil {
			masterKeys, _ = namer.MasterKeysOf(kek)
		}
		if err := checker.CheckKEK(ctx, kek); err != nil {
			if !errors.Is(err, crypto.ErrKEKUnwrap) {
				return fmt.Errorf("checking project KEK %s: %w", row.ID, err)
			}
			failures = append(failures, failure{id: row.ID, masterKeys: masterKeys, cause: err.Error()})
			continue
		}
		if masterKeys != "" {
			working[masterKeys] = true
		}
	}
	var failed, causes, damaged []string
	for _, f := range failures {
		if f.masterKeys != "" && working[f.masterKeys] {
			damaged = append(damaged, f.id)
			continue
		}
		failed = append(failed, f.id)
		causes = append(causes, f.cause)
	}
	if len(failed) > 0 && plugin.ClassPath() == p11crypto.ClassPath {
		return fmt.Errorf("the HSM does not unwrap %d of %d sampled p11_crypto project KEKs (kek_data ids %s): %s. "+
			"Check the token selection and --p11-hmac-key-type / --p11-hmac-mechanism (the row's labels choose the "+
			"keys, these settings how they are used). Refusing to start",
			len(failed), len(sample), strings.Join(failed, ", "), strings.Join(causes, "; "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("the configured %s KEKs do not unwrap %d of %d sampled project KEKs (kek_data ids %s): "+
			"the secrets under them could not be decrypted. Configure every KEK of the Barbican configuration "+
			"([simple_crypto_plugin] kek, active first, retired ones after it). Refusing to start",
			plugin.Name(), len(failed), len(sample), strings.Join(failed, ", "))
	}
	if len(damaged) > 0 {
		log.Error("project KEKs are damaged: they fail under master keys that unwrap other project KEKs, so the "+
			"configuration is right and these rows are not; the secrets of their projects cannot be read. Restore "+
			"the rows' plugin_meta from a backup", slog.String("plugin", plugin.Name()),
			slog.String("kek_data_ids", strings.Join(damaged, ", ")), slog.Int("sampled", len(sample)))
	}
	if len(sample) > 0 {
		log.Info("the configured KEKs unwrap the sampled project KEKs", slog.String("plugin", plugin.Name()),
			slog.Int("sampled", len(sample)), slog.Int("damaged", len(damaged)))
	}
	return nil
}

// plugins are the crypto plugins of the configured secret stores; p11 is nil without a p11_crypto store and
// simple nil when no store uses simple_crypto.
type plugins struct {
	simple *simplecrypto.Plugin
	p11    *p11crypto.Plugin
}

// Close releases the HSM (C_Finalize), if one was opened.
func (p *plugins) Close() error {
	if p == nil || p.p11 == nil {
		return nil
	}
	return p.p11.Module().Close()
}

// storesUse reports whether a configured secret store uses the crypto plugin named entryPoint; without stores
// configured there is one, of simple_crypto.
func storesUse(cfg config.Config, entryPoint string) bool {
	if len(cfg.SecretStores.Stores) == 0 {
		return entryPoint == simplecrypto.EntryPoint
	}
	return slices.ContainsFunc(cfg.SecretStores.Stores, func(s config.SecretStore) bool { return s.CryptoPlugin == entryPoint })
}

// cryptoPlugins builds the crypto plugins of the configured stores after checking that they fit the data already
// in the database: every plugin with live project KEKs is configured, and its master keys unwrap them. hsmObserve
// receives the latency of HSM operations (nil for none).
func cryptoPlugins(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger,
	hsmObserve func(string, time.Duration, error)) (_ *plugins, err error) {
	census, err := db.KEKCensus(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the project KEKs: %w", err)
	}
	configured := map[string]bool{simplecrypto.ClassPath: storesUse(cfg, simplecrypto.EntryPoint),
		p11crypto.ClassPath: storesUse(cfg, p11crypto.EntryPoint)}
	if err := refuseUnconfiguredPlugins(census, configured); err != nil {
		return nil, err
	}
	out := &plugins{}
	defer func() {
		if err != nil {
			_ = out.Close()
		}
	}()
	if configured[p11crypto.ClassPath] {
		if out.p11, err = newP11Plugin(ctx, cfg, db, log, hsmObserve); err != nil {
			return nil, err
		}
		if err := checkKEKs(ctx, db, out.p11, log); err != nil {
			return nil, err
		}
	}
	if !configured[simplecrypto.ClassPath] {
		return out, nil
	}
	keks, err := loadKEKs(cfg, log, db, censusOf(census, simplecrypto.ClassPath))
	if err != nil {
		return nil, err
	}
	if out.simple, err = simplecrypto.New(keks, simplecrypto.Options{}); err != nil {
		return nil, fmt.Errorf("configuring simple_crypto: %w", err)
	}
	if err := checkKEKs(ctx, db, out.simple, log); err != nil {
		return nil, err
	}
	return out, nil
}
