// Package crypto is the crypto-plugin layer of Barbican's store_crypto secret
// store: the secret-store plugin keeps ciphertext in the database and asks a
// crypto plugin (simple_crypto, p11_crypto) to bind project KEKs and to
// encrypt and decrypt payloads under them.
//
// The types here mirror Barbican's KEKMetaDTO and CryptoPluginBase closely
// enough that rows written by the reference Barbican (kek_data,
// encrypted_data) are read unchanged, and vice versa.
package crypto

import (
	"context"
	"errors"
)

// StoreCryptoPluginName is the secret-store plugin class path that Barbican
// records in secret_store_metadata.plugin_name for secrets whose ciphertext
// lives in the database.
const StoreCryptoPluginName = "barbican.plugin.store_crypto.StoreCryptoAdapterPlugin"

// StoreCryptoEntryPoint is the store_crypto secret-store plugin's name in barbican.conf and in
// secret_stores.store_plugin.
const StoreCryptoEntryPoint = "store_crypto"

// KEK is a plugin's view of a kek_data row (a project KEK). Algorithm,
// BitLength, Mode and PluginMeta are filled by Plugin.BindKEK the first time
// the row is used; the caller persists them together with BindCompleted.
type KEK struct {
	ID, Label     string
	Algorithm     string
	BitLength     int
	Mode          string
	PluginMeta    string
	BindCompleted bool
}

// Plugin is a crypto plugin (barbican.plugin.crypto.*). Implementations are
// safe for concurrent use.
type Plugin interface {
	// ClassPath is the value stored in kek_data.plugin_name; it selects the
	// plugin again when a secret is decrypted.
	ClassPath() string
	// EntryPoint is the plugin's name in barbican.conf and in secret_stores.crypto_plugin, e.g.
	// "simple_crypto" or "p11_crypto".
	EntryPoint() string
	// Name is the friendly name shown by the secret-stores API, e.g.
	// "Software Only Crypto".
	Name() string
	// BindKEK fills algorithm, bit_length, mode and plugin_meta of a KEK row
	// that is not yet bound and sets BindCompleted; the caller saves the row.
	BindKEK(ctx context.Context, kek *KEK) error
	// Encrypt encrypts plaintext under the project KEK. cypherText is the
	// plugin's raw ciphertext (the caller stores its standard base64 in
	// encrypted_data.cypher_text); an empty kekMetaExtended means NULL.
	Encrypt(ctx context.Context, kek KEK, plaintext []byte) (cypherText []byte, kekMetaExtended string, err error)
	// Decrypt reverses Encrypt; the returned slice belongs to the caller, who
	// should zero it once the payload has been written out.
	Decrypt(ctx context.Context, kek KEK, cypherText []byte, kekMetaExtended string) ([]byte, error)
}

// KEKChecker is implemented by plugins that can tell, without a payload, whether the master keys configured now
// unwrap a bound project KEK. The server tries a sample of kek_data rows at start, so that a wrong or missing
// master key stops it there instead of answering 500 for every old secret.
type KEKChecker interface {
	CheckKEK(ctx context.Context, kek KEK) error
}

// MasterKeyNamer is implemented by plugins whose project KEK rows name the master keys that wrapped them
// (p11_crypto's MKEK and HMAC labels). It lets the start-time check tell a damaged row from a wrong setting: a
// row that fails where another row naming the same master keys passes is damaged on its own, since the keys and
// the way they are used evidently work.
type MasterKeyNamer interface {
	// MasterKeysOf names the master keys of the row; ok is false when the row names none it can read.
	MasterKeysOf(kek KEK) (name string, ok bool)
}

// Pinger is implemented by plugins whose backend can be down (an HSM): readiness asks it.
type Pinger interface {
	Ping(ctx context.Context) error
}

var (
	// ErrKEKUnwrap means that no configured master key unwraps the project
	// KEK: the server is misconfigured (wrong or missing KEK / master key),
	// not the request.
	ErrKEKUnwrap = errors.New("project KEK cannot be unwrapped by any configured master key")
	// ErrDecrypt means that the ciphertext does not authenticate under the
	// project KEK (corrupt row, or a row bound to another KEK).
	ErrDecrypt = errors.New("ciphertext does not authenticate under the project KEK")
	// ErrKEKNotBound means Encrypt or Decrypt was called with a KEK row that
	// BindKEK has not filled yet (Barbican: "KEK not yet created").
	ErrKEKNotBound = errors.New("project KEK is not bound yet")
	// ErrUnavailable means the plugin's backend is busy or unreachable for now (every HSM session in use past
	// the wait): the request may be retried, and the API answers 503.
	ErrUnavailable = errors.New("the secret store is unavailable, retry later")
)
