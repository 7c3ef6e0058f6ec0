package simplecrypto

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/keygen"
)

var _ crypto.Generator = (*Plugin)(nil)

// SupportsGeneration implements crypto.Generator like simple_crypto's supports(): the symmetric algorithms at
// 64, 128, 192 or 256 bits (twice that in XTS mode, which halves the effective key) and RSA or DSA at 1024,
// 2048 or 4096 bits. As in the reference, the kind asked for does not narrow the lists; the caller has already
// matched the algorithm to the kind.
func (p *Plugin) SupportsGeneration(_ crypto.GenerateKind, spec crypto.GenerateSpec) bool {
	alg := strings.ToLower(spec.Algorithm)
	bits := spec.BitLength
	switch {
	case slices.Contains(crypto.SymmetricAlgorithms, alg):
		if strings.EqualFold(spec.Mode, "xts") {
			if bits%2 != 0 {
				return false
			}
			bits /= 2
		}
		return slices.Contains(crypto.SymmetricKeyLengths, bits)
	case slices.Contains(crypto.AsymmetricAlgorithms, alg):
		return slices.Contains(crypto.AsymmetricKeyLengths, bits)
	}
	return false
}

// GenerateSymmetric implements crypto.Generator: bit_length/8 random bytes, encrypted under the project KEK.
func (p *Plugin) GenerateSymmetric(ctx context.Context, kek crypto.KEK, spec crypto.GenerateSpec) (crypto.Encrypted, error) {
	if spec.BitLength <= 0 || spec.BitLength%8 != 0 {
		return crypto.Encrypted{}, fmt.Errorf("generate symmetric key: bit length %d is not a positive multiple of 8", spec.BitLength)
	}
	key := make([]byte, spec.BitLength/8)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return crypto.Encrypted{}, fmt.Errorf("generate symmetric key: %w", err)
	}
	return p.encrypted(ctx, kek, key)
}

// GenerateAsymmetric implements crypto.Generator with the reference's formats (package keygen): RSA as PEM,
// DSA as DER, the private key encrypted with the passphrase when there is one, which is then encrypted as a
// third value.
func (p *Plugin) GenerateAsymmetric(ctx context.Context, kek crypto.KEK, spec crypto.GenerateSpec) (crypto.KeyPair, error) {
	private, public, err := keygen.Pair(spec.Algorithm, spec.BitLength, spec.Passphrase)
	if err != nil {
		return crypto.KeyPair{}, fmt.Errorf("generate key pair: %w", err)
	}
	defer clear(private)
	var pair crypto.KeyPair
	if pair.Private, err = p.encrypted(ctx, kek, private); err != nil {
		return crypto.KeyPair{}, err
	}
	if pair.Public, err = p.encrypted(ctx, kek, public); err != nil {
		return crypto.KeyPair{}, err
	}
	if len(spec.Passphrase) > 0 {
		passphrase, err := p.encrypted(ctx, kek, spec.Passphrase)
		if err != nil {
			return crypto.KeyPair{}, err
		}
		pair.Passphrase = &passphrase
	}
	return pair, nil
}

func (p *Plugin) encrypted(ctx context.Context, kek crypto.KEK, plaintext []byte) (crypto.Encrypted, error) {
	cypher, meta, err := p.Encrypt(ctx, kek, plaintext)
	if err != nil {
		return crypto.Encrypted{}, err
	}
	return crypto.Encrypted{CypherText: cypher, KEKMetaExtended: meta}, nil
}
