// Package p11crypto is Barbican's p11_crypto plugin over keymanager's hsm package: project KEKs (pKEKs) are AES
// keys generated in the HSM, wrapped by a master KEK (MKEK) and signed by a master HMAC key, and secrets are
// encrypted under them in the HSM. kek_data.plugin_meta and encrypted_data.kek_meta_extended are written and
// read exactly as the reference writes them (spec §7.4), so a database moves between the two servers with the
// same HSM and the same labels.
package p11crypto

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/crypto"
)

// ClassPath is the kek_data.plugin_name Barbican records for p11_crypto.
const ClassPath = "barbican.plugin.crypto.p11_crypto.P11CryptoPlugin"

// EntryPoint is the plugin's name in barbican.conf and secret_stores.crypto_plugin.
const EntryPoint = "p11_crypto"

// DefaultName is [p11_crypto_plugin] plugin_name's default.
const DefaultName = "PKCS11 HSM"

// What bind_kek_metadata records for every p11_crypto pKEK.
const (
	boundAlgorithm = "AES"
	boundMode      = "CBC"
)

// Plugin is the p11_crypto crypto plugin. It is safe for concurrent use.
type Plugin struct {
	name     string
	module   *hsm.Module
	settings hsm.Settings

	// decoded keeps parsed plugin_meta values: parsing JSON and base64 on every request cost a fifth of a
	// cached decrypt. Bounded by starting over when full.
	mu      sync.Mutex
	decoded map[string]hsm.WrappedKey
}

// maxDecoded bounds Plugin.decoded (about one entry per active project).
const maxDecoded = 8192

var (
	_ crypto.Plugin         = (*Plugin)(nil)
	_ crypto.Generator      = (*Plugin)(nil)
	_ crypto.KEKChecker     = (*Plugin)(nil)
	_ crypto.MasterKeyNamer = (*Plugin)(nil)
	_ crypto.Pinger         = (*Plugin)(nil)
)

// New returns the plugin over an open module; settings name the master keys new pKEKs go under and the
// mechanisms. The module stays the caller's to close.
func New(module *hsm.Module, settings hsm.Settings, name string) (*Plugin, error) {
	if settings.MKEKLabel == "" || settings.HMACLabel == "" {
		return nil, errors.New("p11_crypto needs the MKEK and HMAC key labels (--p11-mkek-label, --p11-hmac-label)")
	}
	if settings.PKEKLength != 16 && settings.PKEKLength != 24 && settings.PKEKLength != 32 {
		return nil, fmt.Errorf("p11_crypto pKEK length %d: want 16, 24 or 32 bytes", settings.PKEKLength)
	}
	if name == "" {
		name = DefaultName
	}
	return &Plugin{name: name, module: module, settings: settings, decoded: map[string]hsm.WrappedKey{}}, nil
}

// ClassPath implements crypto.Plugin.
func (p *Plugin) ClassPath() string { return ClassPath }

// EntryPoint implements crypto.Plugin.
func (p *Plugin) EntryPoint() string { return EntryPoint }

// Name implements crypto.Plugin.
func (p *Plugin) Name() string { return p.name }

// Module is the HSM module the plugin uses.
func (p *Plugin) Module() *hsm.Module { return p.module }

// Settings are the plugin's key and mechanism settings.
func (p *Plugin) Settings() hsm.Settings { return p.settings }

// cacheID names a pKEK in the HSM module's cache: the row's label, as the reference keys its cache.
func cacheID(kek crypto.KEK) string {
	if kek.Label != "" {
		return kek.Label
	}
	return kek.ID
}

// BindKEK implements crypto.Plugin like bind_kek_metadata: a new pKEK is generated in the HSM, wrapped under
// the configured MKEK, signed with the configured HMAC key, and recorded as AES / pkek_length×8 / CBC.
func (p *Plugin) BindKEK(ctx context.Context, kek *crypto.KEK) error {
	if kek == nil {
		return errors.New("bind p11_crypto KEK: no KEK row given")
	}
	if kek.BindCompleted && kek.PluginMeta != "" {
		return nil
	}
	if kek.PluginMeta == "" {
		w, err := p.module.NewPKEK(ctx, cacheID(*kek), p.settings)
		if err != nil {
			return fmt.Errorf("bind p11_crypto KEK %s: %w", kek.Label, classify(err))
		}
		if kek.PluginMeta, err = encodePluginMeta(w); err != nil {
			return fmt.Errorf("bind p11_crypto KEK %s: %w", kek.Label, err)
		}
		kek.Algorithm, kek.BitLength, kek.Mode = boundAlgorithm, p.settings.PKEKLength*8, boundMode
	}
	kek.BindCompleted = true
	return nil
}

// wrapped reads a bound row's plugin_meta.
func (p *Plugin) wrapped(kek crypto.KEK) (hsm.WrappedKey, error) {
	if kek.PluginMeta == "" {
		return hsm.WrappedKey{}, fmt.Errorf("p11_crypto KEK %s: %w", kek.Label, crypto.ErrKEKNotBound)
	}
	p.mu.Lock()
	w, ok := p.decoded[kek.PluginMeta]
	p.mu.Unlock()
	if ok {
		return w, nil
	}
	w, err := decodePluginMeta(kek.PluginMeta)
	if err != nil {
		return w, fmt.Errorf("p11_crypto KEK %s: %w", kek.Label, err)
	}
	p.mu.Lock()
	if len(p.decoded) >= maxDecoded {
		clear(p.decoded)
	}
	p.decoded[kek.PluginMeta] = w
	p.mu.Unlock()
	return w, nil
}

// Encrypt implements crypto.Plugin with the configured encryption mechanism; kek_meta_extended records the IV
// and the mechanism.
func (p *Plugin) Encrypt(ctx context.Context, kek crypto.KEK, plaintext []byte) ([]byte, string, error) {
	w, err := p.wrapped(kek)
	if err != nil {
		return nil, "", fmt.Errorf("encrypt: %w", err)
	}
	ct, err := p.module.Encrypt(ctx, cacheID(kek), w, p.settings, plaintext)
	if err != nil {
		return nil, "", fmt.Errorf("encrypt under p11_crypto KEK %s: %w", kek.Label, classify(err))
	}
	meta, err := encodeKEKMetaExtended(ct)
	if err != nil {
		return nil, "", err
	}
	return ct.Data, meta, nil
}

// Decrypt implements crypto.Plugin with the mechanism and IV the secret's kek_meta_extended records.
func (p *Plugin) Decrypt(ctx context.Context, kek crypto.KEK, cypherText []byte, kekMetaExtended string) ([]byte, error) {
	w, err := p.wrapped(kek)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	ct, err := decodeKEKMetaExtended(kekMetaExtended, cypherText)
	if err != nil {
		return nil, fmt.Errorf("decrypt under p11_crypto KEK %s: %w", kek.Label, err)
	}
	pt, err := p.module.Decrypt(ctx, cacheID(kek), w, p.settings, ct)
	if err != nil {
		return nil, fmt.Errorf("decrypt under p11_crypto KEK %s: %w", kek.Label, classify(err))
	}
	return pt, nil
}

// CheckKEK implements crypto.KEKChecker: the row's HMAC verifies and its pKEK unwraps under the keys it names.
func (p *Plugin) CheckKEK(ctx context.Context, kek crypto.KEK) error {
	w, err := p.wrapped(kek)
	if err != nil {
		return err
	}
	if err := p.module.CheckPKEK(ctx, w, p.settings); err != nil {
		return fmt.Errorf("p11_crypto KEK %s (wrapped by %q, signed by %q): %w", kek.Label, w.MKEKLabel, w.HMACLabel,
			classify(err))
	}
	return nil
}

// MasterKeysOf implements crypto.MasterKeyNamer with the MKEK and HMAC labels the row records.
func (p *Plugin) MasterKeysOf(kek crypto.KEK) (string, bool) {
	w, err := p.wrapped(kek)
	if err != nil {
		return "", false
	}
	return w.MKEKLabel + "/" + w.HMACLabel, true
}

// Ping implements crypto.Pinger: the token answers on a session. Every session busy past the wait counts as
// up: the HSM is evidently serving, and a readiness probe must not take a busy pod out of service.
func (p *Plugin) Ping(ctx context.Context) error {
	if err := p.module.Ping(ctx); err != nil && !errors.Is(err, hsm.ErrNoSession) {
		return err
	}
	return nil
}

// SupportsGeneration implements crypto.Generator as the reference's supports(): any symmetric key, no key pair.
func (p *Plugin) SupportsGeneration(kind crypto.GenerateKind, _ crypto.GenerateSpec) bool {
	return kind == crypto.SymmetricGeneration
}

// GenerateSymmetric implements crypto.Generator: the key's bytes come from the HSM's generator and are
// encrypted in the same session.
func (p *Plugin) GenerateSymmetric(ctx context.Context, kek crypto.KEK, spec crypto.GenerateSpec) (crypto.Encrypted, error) {
	if spec.BitLength <= 0 || spec.BitLength%8 != 0 {
		return crypto.Encrypted{}, fmt.Errorf("generate a %d-bit key: want a positive multiple of 8", spec.BitLength)
	}
	w, err := p.wrapped(kek)
	if err != nil {
		return crypto.Encrypted{}, fmt.Errorf("generate: %w", err)
	}
	ct, err := p.module.EncryptRandom(ctx, cacheID(kek), w, p.settings, spec.BitLength/8)
	if err != nil {
		return crypto.Encrypted{}, fmt.Errorf("generate under p11_crypto KEK %s: %w", kek.Label, classify(err))
	}
	meta, err := encodeKEKMetaExtended(ct)
	if err != nil {
		return crypto.Encrypted{}, err
	}
	return crypto.Encrypted{CypherText: ct.Data, KEKMetaExtended: meta}, nil
}

// GenerateAsymmetric implements crypto.Generator: p11_crypto generates no key pairs (the reference neither).
func (p *Plugin) GenerateAsymmetric(context.Context, crypto.KEK, crypto.GenerateSpec) (crypto.KeyPair, error) {
	return crypto.KeyPair{}, errors.New("p11_crypto does not generate key pairs")
}

// classify maps the HSM's errors onto the crypto layer's: a busy pool is ErrUnavailable (503), keys that are
// missing or do not verify are ErrKEKUnwrap (the server's configuration), a ciphertext that does not decrypt is
// ErrDecrypt.
func classify(err error) error {
	switch {
	case errors.Is(err, hsm.ErrNoSession):
		return fmt.Errorf("%w: %w", crypto.ErrUnavailable, err)
	case errors.Is(err, hsm.ErrKeyNotFound), errors.Is(err, hsm.ErrKeyAmbiguous), errors.Is(err, hsm.ErrHMAC):
		return fmt.Errorf("%w: %w", crypto.ErrKEKUnwrap, err)
	case errors.Is(err, hsm.ErrCiphertext):
		return fmt.Errorf("%w: %w", crypto.ErrDecrypt, err)
	}
	return err
}
