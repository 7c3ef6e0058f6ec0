// Package storecrypto is Barbican's store_crypto secret store: the database holds the ciphertext and a crypto
// plugin (simple_crypto, later PKCS#11) encrypts it under a per-project KEK. It turns a plaintext into the
// encrypted_data and secret_store_metadata rows to insert, and a loaded secret back into its plaintext.
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
	"gorm.io/gorm"

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

// Store encrypts and decrypts secret payloads through the configured crypto plugins.
type Store struct {
	db      *store.DB
	encrypt crypto.Plugin            // plugin for new data
	plugins map[string]crypto.Plugin // by kek_data.plugin_name, for decryption
	now     func() time.Time

	flight singleflight.Group
	mu     sync.Mutex
	active map[string]cachedKEK // project id -> active bound KEK of the encrypting plugin
}

type cachedKEK struct {
	kek     crypto.KEK
	expires time.Time
}

// New returns a store_crypto store that encrypts new data with the first plugin and decrypts with any of them.
func New(db *store.DB, plugins ...crypto.Plugin) (*Store, error) {
	if len(plugins) == 0 {
		return nil, errors.New("store_crypto needs at least one crypto plugin")
	}
	s := &Store{db: db, encrypt: plugins[0], plugins: map[string]crypto.Plugin{}, now: time.Now,
		active: map[string]cachedKEK{}}
	for _, p := range plugins {
		s.plugins[p.ClassPath()] = p
	}
	return s, nil
}

// Encrypt encrypts plaintext for a project and returns the encrypted_data row (without secret id) and the
// secret_store_metadata entries to insert with the secret. contentType is the normalised payload type.
func (s *Store) Encrypt(ctx context.Context, projectID, projectExternalID string, plaintext []byte,
	contentType string) (*store.EncryptedDatum, map[string]string, error) {
	kek, err := s.activeKEK(ctx, projectID, projectExternalID)
	if err != nil {
		return nil, nil, err
	}
	cypher, kekMetaExtended, err := s.encrypt.Encrypt(ctx, kek, plaintext)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting with %s: %w", s.encrypt.Name(), err)
	}
	text := base64.StdEncoding.EncodeToString(cypher)
	ct := contentType
	datum := &store.EncryptedDatum{ContentType: &ct, KEKID: kek.ID, CypherText: &text}
	if kekMetaExtended != "" {
		datum.KEKMetaExtended = &kekMetaExtended
	}
	meta := map[string]string{"plugin_name": crypto.StoreCryptoPluginName, "content_type": contentType}
	return datum, meta, nil
}

// Decrypt returns the plaintext of a secret loaded with store.LoadOptions{Payload: true}.
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

// activeKEK returns the project's active, bound KEK of the encrypting plugin, creating it on first use.
func (s *Store) activeKEK(ctx context.Context, projectID, projectExternalID string) (crypto.KEK, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.active[projectID]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.kek, nil
	}
	// One lookup-or-create per project at a time in this process, so a burst of first writes creates one KEK.
	v, err, _ := s.flight.Do(projectID, func() (any, error) {
		return s.loadOrCreateKEK(ctx, projectID, projectExternalID)
	})
	if err != nil {
		return crypto.KEK{}, err
	}
	kek := v.(crypto.KEK)
	s.mu.Lock()
	if len(s.active) >= maxCachedProjects {
		clear(s.active)
	}
	s.active[projectID] = cachedKEK{kek: kek, expires: now.Add(activeKEKTTL)}
	s.mu.Unlock()
	return kek, nil
}

func (s *Store) loadOrCreateKEK(ctx context.Context, projectID, projectExternalID string) (crypto.KEK, error) {
	row, err := s.db.ActiveKEK(ctx, projectID, s.encrypt.ClassPath())
	switch {
	case err == nil && row.BindCompleted:
		return toPluginKEK(row), nil
	case err == nil:
		return s.bindExisting(ctx, row)
	case !errors.Is(err, store.ErrNotFound):
		return crypto.KEK{}, fmt.Errorf("loading the project KEK: %w", err)
	}
	// The reference inserts an unbound row and binds it on first use. Binding before the insert gives the same
	// end state and cannot race: two writers never bind one row with two different pKEKs.
	now := s.now().UTC()
	label := "project-" + projectExternalID + "-key-" + store.NewID()
	kek := crypto.KEK{ID: store.NewID(), Label: label}
	if err := s.encrypt.BindKEK(ctx, &kek); err != nil {
		return crypto.KEK{}, fmt.Errorf("binding a new project KEK with %s: %w", s.encrypt.Name(), err)
	}
	kek.BindCompleted = true
	row = fromPluginKEK(kek, projectID, s.encrypt.ClassPath(), now)
	if err := s.db.Write(ctx, func(tx *gorm.DB) error { return store.CreateKEK(tx, row) }); err != nil {
		return crypto.KEK{}, fmt.Errorf("storing a new project KEK: %w", err)
	}
	return kek, nil
}

// bindExisting binds a row some other server created without binding it (the reference binds lazily).
func (s *Store) bindExisting(ctx context.Context, row *store.KEKDatum) (crypto.KEK, error) {
	kek := toPluginKEK(row)
	if err := s.encrypt.BindKEK(ctx, &kek); err != nil {
		return crypto.KEK{}, fmt.Errorf("binding project KEK %s: %w", row.ID, err)
	}
	kek.BindCompleted = true
	bound := fromPluginKEK(kek, row.ProjectID, row.PluginName, s.now().UTC())
	bound.Model = row.Model
	if err := s.db.Write(ctx, func(tx *gorm.DB) error { return store.SaveKEKBinding(tx, bound) }); err != nil {
		return crypto.KEK{}, fmt.Errorf("storing the binding of project KEK %s: %w", row.ID, err)
	}
	// Re-read: if another server bound the row concurrently, its binding is the one that counts.
	stored, err := s.db.KEK(ctx, row.ID)
	if err != nil {
		return crypto.KEK{}, fmt.Errorf("re-reading project KEK %s: %w", row.ID, err)
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

func fromPluginKEK(k crypto.KEK, projectID, pluginName string, now time.Time) *store.KEKDatum {
	label, alg, mode, meta, bits := k.Label, k.Algorithm, k.Mode, k.PluginMeta, k.BitLength
	return &store.KEKDatum{
		Model:         store.Model{ID: k.ID, CreatedAt: now, UpdatedAt: now, Status: "ACTIVE"},
		PluginName:    pluginName,
		KEKLabel:      &label,
		ProjectID:     projectID,
		Active:        true,
		BindCompleted: k.BindCompleted,
		Algorithm:     &alg,
		BitLength:     &bits,
		Mode:          &mode,
		PluginMeta:    &meta,
	}
}
