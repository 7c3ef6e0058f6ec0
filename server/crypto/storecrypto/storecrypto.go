// Package storecrypto is Barbican's store_crypto secret store: the database holds the ciphertext and a crypto
// plugin (simple_crypto, PKCS#11) encrypts it under a per-project KEK. It holds the configured secret-store
// backends, chooses the one a project's new secrets go to, turns a plaintext into the complete encrypted_data
// and secret_store_metadata rows to insert, and a loaded secret back into its plaintext.
//
// Crypto runs before the caller opens its write transaction, so no database lock ever waits on an HSM.
package storecrypto

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// ErrNoData means the secret has no encrypted_data row to decrypt.
var ErrNoData = errors.New("secret has no encrypted data")

// ErrPluginUnavailable means a row names a crypto plugin this server is not configured with.
var ErrPluginUnavailable = errors.New("crypto plugin not available or misconfigured")

// activeKEKTTL bounds how long a project's active KEK is reused from memory: a KEK created elsewhere (another
// replica, `manage simple-crypto new-pkek`) is picked up after at most this long. Using an older active KEK in the
// meantime is harmless: every encrypted_data row records the KEK it was encrypted with.
const activeKEKTTL = 5 * time.Minute

// maxCachedProjects bounds the active-KEK cache.
const maxCachedProjects = 65536

// Backend is one configured secret store: a name (the secret_stores row's, in multiple-backend mode; empty means
// the plugin's friendly name) and the crypto plugin that encrypts its secrets under per-project KEKs.
type Backend struct {
	Name   string
	Plugin crypto.Plugin
}

// row is the secret_stores row that stands for b.
func (b *Backend) row(globalDefault bool) store.SecretStore {
	cryptoPlugin := b.Plugin.EntryPoint()
	return store.SecretStore{Name: b.Name, StorePlugin: crypto.StoreCryptoEntryPoint, CryptoPlugin: &cryptoPlugin,
		GlobalDefault: globalDefault}
}

// stands reports whether a secret_stores row stands for b.
func (b *Backend) stands(row *store.SecretStore) bool {
	return row.StorePlugin == crypto.StoreCryptoEntryPoint && row.CryptoPlugin != nil &&
		*row.CryptoPlugin == b.Plugin.EntryPoint()
}

// Options configure New.
type Options struct {
	// Backends are the configured secret stores; the first is the global default. At least one is required.
	Backends []Backend
	// MultipleBackends is Barbican's [secretstore] enable_multiple_secret_stores: projects may prefer a store
	// other than the global default.
	MultipleBackends bool
	// Now is the clock (UTC) of the rows Encrypt returns; nil is the system clock.
	Now func() time.Time
}

// Store encrypts and decrypts secret payloads through the configured backends.
type Store struct {
	db       *store.DB
	backends []*Backend
	multiple bool
	plugins  map[string]crypto.Plugin // by kek_data.plugin_name, for decryption
	now      func() time.Time

	flight singleflight.Group
	mu     sync.Mutex
	active map[activeKey]cachedKEK
}

// activeKey names a project's active KEK of one crypto plugin.
type activeKey struct{ plugin, projectExternalID string }

type cachedKEK struct {
	kek     crypto.KEK
	expires time.Time
}

// New returns the store_crypto secret store over the configured backends.
func New(db *store.DB, o Options) (*Store, error) {
	if len(o.Backends) == 0 {
		return nil, errors.New("store_crypto needs at least one secret-store backend")
	}
	if o.Now == nil {
		o.Now = store.SystemClock
	}
	s := &Store{db: db, multiple: o.MultipleBackends, plugins: map[string]crypto.Plugin{}, now: o.Now,
		active: map[activeKey]cachedKEK{}}
	names, plugins := map[string]bool{}, map[string]bool{}
	for i := range o.Backends {
		b := o.Backends[i]
		if b.Plugin == nil {
			return nil, fmt.Errorf("secret store %q has no crypto plugin", b.Name)
		}
		if b.Name == "" {
			b.Name = b.Plugin.Name()
		}
		if names[b.Name] {
			return nil, fmt.Errorf("secret store name %q is configured twice", b.Name)
		}
		if plugins[b.Plugin.EntryPoint()] {
			// secret_stores is unique on (store plugin, crypto plugin): two stores of one plugin cannot be told apart.
			return nil, fmt.Errorf("crypto plugin %s is configured for two secret stores", b.Plugin.EntryPoint())
		}
		names[b.Name], plugins[b.Plugin.EntryPoint()] = true, true
		s.backends = append(s.backends, &b)
		s.plugins[b.Plugin.ClassPath()] = b.Plugin
	}
	return s, nil
}

// GlobalDefault is the backend of every project without a preferred store.
func (s *Store) GlobalDefault() *Backend { return s.backends[0] }

// Backends lists the configured backends, the global default first.
func (s *Store) Backends() []*Backend { return s.backends }

// MultipleBackends reports whether projects may prefer a store (Barbican's enable_multiple_secret_stores).
func (s *Store) MultipleBackends() bool { return s.multiple }

// SecretStoreRows are the secret_stores rows the configuration stands for (store.Tx.SyncSecretStores).
func (s *Store) SecretStoreRows() []store.SecretStore {
	rows := make([]store.SecretStore, len(s.backends))
	for i, b := range s.backends {
		rows[i] = b.row(i == 0)
	}
	return rows
}

// For returns the backend new secrets of a project go to: the project's preferred store in multiple-backend
// mode when it has one, else the global default. projectID is the internal id; "" (a project without a row
// yet) has no preference.
func (s *Store) For(tx *store.Tx, projectID string) (*Backend, error) {
	if !s.multiple || projectID == "" {
		return s.GlobalDefault(), nil
	}
	row, err := tx.PreferredSecretStore(projectID)
	if errors.Is(err, store.ErrNotFound) {
		return s.GlobalDefault(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up the project's preferred secret store: %w", err)
	}
	if b := s.ForRow(row); b != nil {
		return b, nil
	}
	// The row names a store this server was not configured with (the configuration changed since): writing the
	// project's secrets elsewhere silently would be a surprise, so the request fails and the log says why.
	return nil, fmt.Errorf("the project's preferred secret store %q is not configured: %w", row.Name, ErrPluginUnavailable)
}

// ForRow returns the configured backend a secret_stores row stands for, or nil.
func (s *Store) ForRow(row *store.SecretStore) *Backend {
	for _, b := range s.backends {
		if b.stands(row) {
			return b
		}
	}
	return nil
}

// Request is one payload to encrypt.
type Request struct {
	// SecretID is the secret the rows belong to.
	SecretID string
	// ProjectExternalID is the Keystone id of the secret's project: project KEKs are per project.
	ProjectExternalID string
	Plaintext         []byte
	// ContentType is the normalised payload type.
	ContentType string
}

// Encrypt encrypts a payload with backend b and returns the complete rows to insert with the secret.
func (s *Store) Encrypt(ctx context.Context, b *Backend, req Request) (*store.SecretPayload, error) {
	kek, err := s.activeKEK(ctx, b, req.ProjectExternalID)
	if err != nil {
		return nil, err
	}
	cypher, kekMetaExtended, err := b.Plugin.Encrypt(ctx, kek, req.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("encrypting with %s: %w", b.Plugin.Name(), err)
	}
	return s.rows(req.SecretID, kek.ID, crypto.Encrypted{CypherText: cypher, KEKMetaExtended: kekMetaExtended},
		req.ContentType), nil
}

// rows are the encrypted_data and secret_store_metadata rows of one secret whose value a plugin encrypted under
// the KEK row kekID.
func (s *Store) rows(secretID, kekID string, enc crypto.Encrypted, contentType string) *store.SecretPayload {
	now := s.now()
	model := func() store.Model {
		return store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: store.StatusActive}
	}
	text := base64.StdEncoding.EncodeToString(enc.CypherText)
	ct := contentType
	datum := &store.EncryptedDatum{Model: model(), ContentType: &ct, SecretID: secretID, KEKID: kekID, CypherText: &text}
	if enc.KEKMetaExtended != "" {
		meta := enc.KEKMetaExtended
		datum.KEKMetaExtended = &meta
	}
	meta := []store.SecretStoreMetadatum{
		{Model: model(), Key: "content_type", Value: contentType, SecretID: secretID},
		{Model: model(), Key: "plugin_name", Value: crypto.StoreCryptoPluginName, SecretID: secretID},
	}
	return &store.SecretPayload{Data: datum, StoreMeta: meta}
}

// Decrypt returns the plaintext of a secret loaded with store.LoadOptions{Payload: true}, with the plugin its
// KEK row names (not the project's current store: a secret stays readable after the preference changes).
func (s *Store) Decrypt(ctx context.Context, v *store.SecretView) ([]byte, error) {
	if v.Data == nil || v.KEK == nil || v.Data.CypherText == nil {
		return nil, ErrNoData
	}
	p, ok := s.plugins[v.KEK.PluginName]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrPluginUnavailable, v.KEK.PluginName)
	}
	cypher, err := base64.StdEncoding.DecodeString(*v.Data.CypherText)
	if err != nil {
		return nil, fmt.Errorf("decoding cypher_text of secret %s: %w", v.ID, err)
	}
	meta := ""
	if v.Data.KEKMetaExtended != nil {
		meta = *v.Data.KEKMetaExtended
	}
	plaintext, err := p.Decrypt(ctx, toPluginKEK(v.KEK), cypher, meta)
	if err != nil {
		return nil, fmt.Errorf("decrypting secret %s: %w", v.ID, err)
	}
	return plaintext, nil
}

// activeKEK returns the project's active, bound KEK of b's plugin, creating it on first use.
func (s *Store) activeKEK(ctx context.Context, b *Backend, projectExternalID string) (crypto.KEK, error) {
	key := activeKey{plugin: b.Plugin.ClassPath(), projectExternalID: projectExternalID}
	now := s.now()
	s.mu.Lock()
	c, ok := s.active[key]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.kek, nil
	}
	// One lookup-or-create per project and plugin at a time in this process, so a burst of first writes creates
	// one KEK.
	v, err, _ := s.flight.Do(key.plugin+"\x00"+key.projectExternalID, func() (any, error) {
		return s.loadOrCreateKEK(ctx, b.Plugin, projectExternalID)
	})
	if err != nil {
		return crypto.KEK{}, err
	}
	kek := v.(crypto.KEK)
	s.mu.Lock()
	if len(s.active) >= maxCachedProjects {
		clear(s.active)
	}
	s.active[key] = cachedKEK{kek: kek, expires: now.Add(activeKEKTTL)}
	s.mu.Unlock()
	return kek, nil
}

func (s *Store) loadOrCreateKEK(ctx context.Context, p crypto.Plugin, projectExternalID string) (crypto.KEK, error) {
	tx := s.db.Read(ctx)
	projectID, err := tx.ProjectID(projectExternalID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return crypto.KEK{}, fmt.Errorf("loading the project: %w", err)
	}
	if projectID != "" {
		row, err := tx.ActiveKEK(projectID, p.ClassPath())
		switch {
		case err == nil && row.BindCompleted:
			return toPluginKEK(row), nil
		case err == nil:
			return s.bindExisting(ctx, p, row)
		case !errors.Is(err, store.ErrNotFound):
			return crypto.KEK{}, fmt.Errorf("loading the project KEK: %w", err)
		}
	}
	// The reference inserts an unbound row and binds it on first use. Binding before the insert gives the same
	// end state and cannot race: two writers never bind one row with two different pKEKs.
	label := "project-" + projectExternalID + "-key-" + store.NewID()
	kek := crypto.KEK{ID: store.NewID(), Label: label}
	if err := p.BindKEK(ctx, &kek); err != nil {
		return crypto.KEK{}, fmt.Errorf("binding a new project KEK with %s: %w", p.Name(), err)
	}
	kek.BindCompleted = true
	row := fromPluginKEK(kek, p.ClassPath(), s.now())
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		// The project's first secret: its row is created together with its KEK.
		id, err := tx.EnsureProject(projectExternalID)
		if err != nil {
			return err
		}
		row.ProjectID = id
		return tx.CreateKEK(row)
	})
	if err != nil {
		return crypto.KEK{}, fmt.Errorf("storing a new project KEK: %w", err)
	}
	return kek, nil
}

// bindExisting binds a row some other server created without binding it (the reference binds lazily).
func (s *Store) bindExisting(ctx context.Context, p crypto.Plugin, row *store.KEKDatum) (crypto.KEK, error) {
	kek := toPluginKEK(row)
	if err := p.BindKEK(ctx, &kek); err != nil {
		return crypto.KEK{}, fmt.Errorf("binding project KEK %s: %w", row.ID, err)
	}
	kek.BindCompleted = true
	bound := fromPluginKEK(kek, row.PluginName, s.now())
	bound.Model, bound.ProjectID = row.Model, row.ProjectID
	stored := bound
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		err := tx.SaveKEKBinding(bound)
		if errors.Is(err, store.ErrConflict) {
			// Another server bound the row first: its binding may already encrypt secrets, so it is the one used.
			stored, err = tx.KEK(row.ID)
		}
		return err
	})
	if err != nil {
		return crypto.KEK{}, fmt.Errorf("storing the binding of project KEK %s: %w", row.ID, err)
	}
	return toPluginKEK(stored), nil
}

func toPluginKEK(k *store.KEKDatum) crypto.KEK {
	out := crypto.KEK{ID: k.ID, BindCompleted: k.BindCompleted}
	if k.KEKLabel != nil {
		out.Label = *k.KEKLabel
	}
	if k.Algorithm != nil {
		out.Algorithm = *k.Algorithm
	}
	if k.BitLength != nil {
		out.BitLength = *k.BitLength
	}
	if k.Mode != nil {
		out.Mode = *k.Mode
	}
	if k.PluginMeta != nil {
		out.PluginMeta = *k.PluginMeta
	}
	return out
}

func fromPluginKEK(k crypto.KEK, pluginName string, now time.Time) *store.KEKDatum {
	label, alg, mode, meta, bits := k.Label, k.Algorithm, k.Mode, k.PluginMeta, k.BitLength
	return &store.KEKDatum{
		Model:         store.Model{ID: k.ID, CreatedAt: now, UpdatedAt: now, Status: store.StatusActive},
		PluginName:    pluginName,
		KEKLabel:      &label,
		Active:        true,
		BindCompleted: k.BindCompleted,
		Algorithm:     &alg,
		BitLength:     &bits,
		Mode:          &mode,
		PluginMeta:    &meta,
	}
}
