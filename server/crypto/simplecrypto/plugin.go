// Package simplecrypto is Barbican's simple_crypto plugin: project KEKs
// (pKEKs) are Fernet keys wrapped by a configured master KEK, and secrets are
// Fernet tokens under their project's pKEK. The formats are byte-compatible
// with barbican.plugin.crypto.simple_crypto, so databases move between the
// two servers in both directions.
package simplecrypto

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/fernet/fernet-go"

	"github.com/keymanager-io/keymanager/server/crypto"
)

// ClassPath is the kek_data.plugin_name Barbican records for simple_crypto.
const ClassPath = "barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin"

// EntryPoint is the plugin's name in barbican.conf and secret_stores.crypto_plugin.
const EntryPoint = "simple_crypto"

// Defaults for Options.
const (
	DefaultName      = "Software Only Crypto"
	DefaultCacheSize = 4096
)

// Algorithm, bit length and mode Barbican's bind_kek_metadata records for
// every simple_crypto pKEK (Fernet: AES-128-CBC).
const (
	boundAlgorithm = "aes"
	boundBitLength = 128
	boundMode      = "cbc"
)

// Options tunes a Plugin. The zero value selects the defaults.
type Options struct {
	// Name is the friendly plugin name ([simple_crypto_plugin] plugin_name).
	Name string
	// CacheSize is how many unwrapped pKEKs are kept; 0 selects
	// DefaultCacheSize and a negative value disables the cache.
	CacheSize int
}

// Plugin is the simple_crypto crypto plugin. It is safe for concurrent use.
type Plugin struct {
	name  string
	keks  []*fernet.Key // keks[0] wraps new pKEKs; all unwrap
	cache *pkekCache
}

var _ crypto.Plugin = (*Plugin)(nil)

// New returns a plugin that wraps new pKEKs under keks[0] and unwraps with
// any of keks (Barbican's MultiFernet), so retired KEKs can stay configured
// after the active one changes.
func New(keks []Key, opts Options) (*Plugin, error) {
	if len(keks) == 0 {
		return nil, ErrNoKEK
	}
	p := &Plugin{name: opts.Name, keks: make([]*fernet.Key, len(keks))}
	if p.name == "" {
		p.name = DefaultName
	}
	for i := range keks {
		k := keks[i].k // copy: the caller may zero its keys
		p.keks[i] = &k
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	p.cache = newPKEKCache(size)
	return p, nil
}

// ClassPath implements crypto.Plugin.
func (p *Plugin) ClassPath() string { return ClassPath }

// EntryPoint implements crypto.Plugin.
func (p *Plugin) EntryPoint() string { return EntryPoint }

// Name implements crypto.Plugin.
func (p *Plugin) Name() string { return p.name }

// BindKEK implements crypto.Plugin like Barbican's bind_kek_metadata: it
// records aes/128/cbc and, when plugin_meta is empty, generates a pKEK
// (Fernet.generate_key() text) and stores it wrapped as a Fernet token under
// the active master KEK. A row that is already bound is left alone.
func (p *Plugin) BindKEK(_ context.Context, kek *crypto.KEK) error {
	if kek == nil {
		return errors.New("bind simple_crypto KEK: no KEK row given")
	}
	if kek.BindCompleted && kek.PluginMeta != "" {
		return nil
	}
	if kek.PluginMeta == "" {
		meta, err := p.newWrappedPKEK()
		if err != nil {
			return fmt.Errorf("bind simple_crypto KEK %s: %w", kek.Label, err)
		}
		kek.PluginMeta = meta
	}
	kek.Algorithm, kek.BitLength, kek.Mode = boundAlgorithm, boundBitLength, boundMode
	kek.BindCompleted = true
	return nil
}

// newWrappedPKEK generates a pKEK, primes the cache with it (the first
// encryption follows immediately) and returns it wrapped.
func (p *Plugin) newWrappedPKEK() (string, error) {
	var pkek fernet.Key
	defer clear(pkek[:])
	if err := pkek.Generate(); err != nil {
		return "", fmt.Errorf("generate project KEK: %w", err)
	}
	// Barbican wraps the key's base64 text, not its raw bytes.
	var text [44]byte
	defer clear(text[:])
	base64.URLEncoding.Encode(text[:], pkek[:])
	tok, err := fernet.EncryptAndSign(text[:], p.keks[0])
	if err != nil {
		return "", fmt.Errorf("wrap project KEK: %w", err)
	}
	meta := string(tok)
	p.cache.put(cacheKeyOf(meta), &pkek)
	return meta, nil
}

// unwrap returns the pKEK of a bound KEK row, from the cache or by unwrapping
// plugin_meta with the master KEKs. The caller zeroes the result after use.
func (p *Plugin) unwrap(kek *crypto.KEK, pkek *fernet.Key) error {
	if kek.PluginMeta == "" {
		return fmt.Errorf("simple_crypto KEK %s: %w", kek.Label, crypto.ErrKEKNotBound)
	}
	id := cacheKeyOf(kek.PluginMeta)
	if p.cache.get(id, pkek) {
		return nil
	}
	if err := p.unwrapUncached(kek.PluginMeta, pkek); err != nil {
		return fmt.Errorf("simple_crypto KEK %s: %w", kek.Label, err)
	}
	p.cache.put(id, pkek)
	return nil
}

// unwrapUncached is Barbican's _get_kek: MultiFernet(master KEKs).decrypt.
func (p *Plugin) unwrapUncached(pluginMeta string, pkek *fernet.Key) error {
	text := decryptToken([]byte(pluginMeta), p.keks...)
	if text == nil {
		return crypto.ErrKEKUnwrap
	}
	defer clear(text)
	k, ok := decodeKey(text)
	if !ok {
		// Authenticated under a master KEK, so not corruption: something
		// other than a Fernet key was wrapped. Still unusable as a pKEK.
		return fmt.Errorf("%w: wrapped value is not a Fernet key", crypto.ErrKEKUnwrap)
	}
	*pkek = k
	clear(k[:])
	return nil
}

// Encrypt implements crypto.Plugin: the ciphertext is Fernet(pKEK).encrypt
// of the plaintext (token bytes) and kek_meta_extended is empty (NULL).
func (p *Plugin) Encrypt(_ context.Context, kek crypto.KEK, plaintext []byte) ([]byte, string, error) {
	var pkek fernet.Key
	defer clear(pkek[:])
	if err := p.unwrap(&kek, &pkek); err != nil {
		return nil, "", fmt.Errorf("encrypt: %w", err)
	}
	tok, err := fernet.EncryptAndSign(plaintext, &pkek)
	if err != nil {
		return nil, "", fmt.Errorf("encrypt under simple_crypto KEK %s: %w", kek.Label, err)
	}
	return tok, "", nil
}

// Decrypt implements crypto.Plugin: Fernet(pKEK).decrypt with no TTL.
func (p *Plugin) Decrypt(_ context.Context, kek crypto.KEK, cypherText []byte, _ string) ([]byte, error) {
	var pkek fernet.Key
	defer clear(pkek[:])
	if err := p.unwrap(&kek, &pkek); err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	msg := decryptToken(cypherText, &pkek)
	if msg == nil {
		return nil, fmt.Errorf("decrypt under simple_crypto KEK %s: %w", kek.Label, crypto.ErrDecrypt)
	}
	return msg, nil
}
