package simplecrypto

import (
	"context"
	"errors"
	"fmt"

	"github.com/fernet/fernet-go"

	"github.com/keymanager-io/keymanager/server/crypto"
)

// RewrapPKEK re-wraps a kek_data.plugin_meta under the active master KEK, as
// `barbican-manage simple_crypto rewrap_pkek` does with
// MultiFernet(keks).rotate: the pKEK itself, and so every secret under it, is
// unchanged, and the token keeps its original timestamp.
func (p *Plugin) RewrapPKEK(pluginMeta string) (string, error) {
	tok, err := rotateToken([]byte(pluginMeta), p.keks...)
	if errors.Is(err, errInvalidToken) {
		return "", fmt.Errorf("rewrap project KEK: %w", crypto.ErrKEKUnwrap)
	}
	if err != nil {
		return "", fmt.Errorf("rewrap project KEK: %w", err)
	}
	return string(tok), nil
}

// WrappedByActiveKEK reports whether plugin_meta is already wrapped by the
// active master KEK, so a rotation can skip it (and verify that nothing is
// left under a retired KEK).
func (p *Plugin) WrappedByActiveKEK(pluginMeta string) bool {
	text := decryptToken([]byte(pluginMeta), p.keks[0])
	clear(text)
	return text != nil
}

// RewrapSecret moves a secret's ciphertext from one project KEK to another,
// as Barbican's rewrap (`simple_crypto rewrap_secrets`) does with
// MultiFernet([new, old]).rotate: a token already under newKEK is re-encrypted
// in place, and the original timestamp is kept.
func (p *Plugin) RewrapSecret(_ context.Context, oldKEK, newKEK crypto.KEK, cypherText []byte) ([]byte, error) {
	var oldPKEK, newPKEK fernet.Key
	defer clear(oldPKEK[:])
	defer clear(newPKEK[:])
	if err := p.unwrap(&oldKEK, &oldPKEK); err != nil {
		return nil, fmt.Errorf("rewrap secret: %w", err)
	}
	if err := p.unwrap(&newKEK, &newPKEK); err != nil {
		return nil, fmt.Errorf("rewrap secret: %w", err)
	}
	tok, err := rotateToken(cypherText, &newPKEK, &oldPKEK)
	if errors.Is(err, errInvalidToken) {
		return nil, fmt.Errorf("rewrap secret from simple_crypto KEK %s: %w", oldKEK.Label, crypto.ErrDecrypt)
	}
	if err != nil {
		return nil, fmt.Errorf("rewrap secret: %w", err)
	}
	return tok, nil
}
