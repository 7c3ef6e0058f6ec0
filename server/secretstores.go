package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// newSecretStores builds the secret stores the configuration names (--secret-store, or the [secretstore:<suffix>]
// sections of --barbican-conf): store_crypto over the simple_crypto plugin is the one this build has, so a store
// of any other plugin is refused by name rather than served by another. Without stores configured there is one,
// simple_crypto. The global default comes first.
func newSecretStores(cfg config.Config, db *store.DB, plugins *plugins) (*storecrypto.Store, error) {
	opts := storecrypto.Options{MultipleBackends: cfg.SecretStores.EnableMultiple, Now: clock}
	configured := cfg.SecretStores.Stores
	if len(configured) == 0 {
		opts.Backends = []storecrypto.Backend{{Plugin: plugins.simple}}
		return storecrypto.New(db, opts)
	}
	defaults := 0
	for _, s := range configured {
		if s.GlobalDefault {
			defaults++
		}
	}
	if cfg.SecretStores.EnableMultiple && defaults != 1 {
		return nil, fmt.Errorf("multiple secret stores: exactly one store must be the global default, %d are: "+
			"mark one with ,global_default in --secret-store (global_default = True in its [secretstore:<suffix>] section)", defaults)
	}
	for _, s := range configured {
		if s.SecretStorePlugin != "store_crypto" {
			return nil, fmt.Errorf("secret store %q uses the secret store plugin %q, which keymanager does not "+
				"implement: only store_crypto (with simple_crypto) is available", s.Suffix, s.SecretStorePlugin)
		}
		var plugin crypto.Plugin
		switch {
		case s.CryptoPlugin == simplecrypto.EntryPoint && plugins.simple != nil:
			plugin = plugins.simple
		case s.CryptoPlugin == p11crypto.EntryPoint && plugins.p11 != nil:
			plugin = plugins.p11
		default:
			return nil, fmt.Errorf("secret store %q uses the crypto plugin %q, which keymanager does not have: "+
				"simple_crypto and p11_crypto are available", s.Suffix, s.CryptoPlugin)
		}
		b := storecrypto.Backend{Plugin: plugin}
		if s.GlobalDefault {
			opts.Backends = append([]storecrypto.Backend{b}, opts.Backends...)
		} else {
			opts.Backends = append(opts.Backends, b)
		}
	}
	if !opts.MultipleBackends {
		// Barbican uses one store then; the global default (or the first) is it.
		opts.Backends = opts.Backends[:1]
	}
	return storecrypto.New(db, opts)
}

// syncSecretStores brings the secret_stores rows in line with the configured stores in multiple-backend mode,
// as Barbican does at start; a store still preferred by a project is not removed and stops the start.
func syncSecretStores(ctx context.Context, db *store.DB, secrets *storecrypto.Store, log *slog.Logger) ([]store.SecretStore, error) {
	var rows []store.SecretStore
	err := db.Write(ctx, func(tx *store.Tx) error {
		var err error
		rows, err = tx.SyncSecretStores(secrets.SecretStoreRows())
		return err
	})
	if errors.Is(err, store.ErrStoreInUse) {
		return nil, fmt.Errorf("synchronising the secret stores: %w; configure that store again, or remove the "+
			"projects' preference first (DELETE /v1/secret-stores/{id}/preferred as each project)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("synchronising the secret stores: %w", err)
	}
	for _, r := range rows {
		log.Info("secret store", slog.String("name", r.Name), slog.String("id", r.ID),
			slog.Bool("global_default", r.GlobalDefault))
	}
	return rows, nil
}

// SyncSecretStores is `manage db sync-secret-stores`: it opens the database and the configured stores (with
// their keys, as the server would) and synchronises secret_stores.
func SyncSecretStores(ctx context.Context, cfg config.Config, log *slog.Logger) ([]store.SecretStore, error) {
	if !cfg.SecretStores.EnableMultiple {
		return nil, errors.New("multiple secret stores are not enabled: nothing to synchronise " +
			"(--enable-multiple-secret-stores, or [secretstore] enable_multiple_secret_stores = True)")
	}
	db, err := OpenDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	plugins, err := cryptoPlugins(ctx, cfg, db, log, nil)
	if err != nil {
		return nil, err
	}
	defer plugins.Close()
	secrets, err := newSecretStores(cfg, db, plugins)
	if err != nil {
		return nil, err
	}
	return syncSecretStores(ctx, db, secrets, log)
}
