package crypto

import (
	"context"
	"slices"
	"strings"
)

// GenerateKind is what an order asks a crypto plugin to generate (Barbican's PluginSupportTypes
// SYMMETRIC_KEY_GENERATION and ASYMMETRIC_KEY_GENERATION).
type GenerateKind int

// The kinds of key generation.
const (
	SymmetricGeneration GenerateKind = iota + 1
	AsymmetricGeneration
)

// The algorithms and key lengths Barbican's crypto layer knows (PluginSupportTypes). They decide which kind of
// generation an algorithm needs, and simple_crypto generates exactly these.
var (
	SymmetricAlgorithms  = []string{"aes", "des", "3des", "hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512"}
	SymmetricKeyLengths  = []int{64, 128, 192, 256}
	AsymmetricAlgorithms = []string{"rsa", "dsa"}
	AsymmetricKeyLengths = []int{1024, 2048, 4096}
)

// KindOf returns the generation kind of an algorithm (case-insensitive), or false when the crypto layer knows
// none (Barbican's _determine_generation_type).
func KindOf(algorithm string) (GenerateKind, bool) {
	alg := strings.ToLower(algorithm)
	switch {
	case slices.Contains(SymmetricAlgorithms, alg):
		return SymmetricGeneration, true
	case slices.Contains(AsymmetricAlgorithms, alg):
		return AsymmetricGeneration, true
	}
	return 0, false
}

// GenerateSpec describes a key to generate (Barbican's GenerateDTO). Passphrase is only for key pairs: when
// not empty, the private key is encrypted with it and it is returned encrypted as a third value.
type GenerateSpec struct {
	Algorithm  string
	BitLength  int
	Mode       string
	Passphrase []byte
}

// Encrypted is one value a plugin generated, already encrypted under the project KEK (Barbican's ResponseDTO):
// the caller stores the standard base64 of CypherText in encrypted_data.cypher_text; an empty KEKMetaExtended
// means NULL.
type Encrypted struct {
	CypherText      []byte
	KEKMetaExtended string
}

// KeyPair is a generated asymmetric key: the private key, the public key and, when the spec had a passphrase,
// the passphrase, each encrypted on its own.
type KeyPair struct {
	Private, Public Encrypted
	Passphrase      *Encrypted
}

// Generator is a crypto plugin that generates keys, as Barbican's generate_symmetric and generate_asymmetric:
// generation and encryption are one call, so that key material may be created where it is encrypted (an HSM)
// and never cross the plugin boundary in clear.
type Generator interface {
	// SupportsGeneration reports whether the plugin generates keys of this kind, algorithm, length and mode
	// (Barbican's supports(); the passphrase plays no part).
	SupportsGeneration(kind GenerateKind, spec GenerateSpec) bool
	// GenerateSymmetric generates bit_length/8 random bytes and encrypts them under the project KEK.
	GenerateSymmetric(ctx context.Context, kek KEK, spec GenerateSpec) (Encrypted, error)
	// GenerateAsymmetric generates a key pair and encrypts its parts under the project KEK.
	GenerateAsymmetric(ctx context.Context, kek KEK, spec GenerateSpec) (KeyPair, error)
}
