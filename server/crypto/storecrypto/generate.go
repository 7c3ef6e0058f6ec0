package storecrypto

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// RequestError is a key generation the secret store refuses because of what was asked: one of Barbican's HTTP
// exceptions, status 400, whose client message orders report.
type RequestError struct{ Message string }

func (e *RequestError) Error() string { return e.Message }

// The refusals of key generation, with the reference's client messages.
var (
	// ErrGeneratePluginNotFound: no secret store generates this algorithm (SecretGenerateSupportedPluginNotFound).
	ErrGeneratePluginNotFound = &RequestError{Message: "Secret generate supported plugin not found."}
	// ErrAlgorithmNotSupported: store_crypto's crypto layer has no such algorithm, or not for this kind of key
	// (SecretAlgorithmNotSupportedException).
	ErrAlgorithmNotSupported = &RequestError{Message: "Requested algorithm is not supported"}
)

// ErrGenerationUnsupported means that no crypto plugin of the project's store generates a key of this algorithm,
// length and mode. The reference treats it (CryptoPluginUnsupportedOperation) as a server error, not the
// request's: its order fails with a 500.
var ErrGenerationUnsupported = errors.New("no enabled crypto plugin supports generating this key")

// generateAlgorithms are the algorithms store_crypto offers to generate (its generate_supports); the crypto layer
// then knows fewer (crypto.KindOf).
var generateAlgorithms = []string{"diffie_hellman", "dsa", "rsa", "ec", "aes", "des", "desede",
	"hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512"}

// GenerateRequest is a key to generate for a project's new secret(s).
type GenerateRequest struct {
	ProjectExternalID string
	Spec              crypto.GenerateSpec
	// ContentType is recorded for every generated secret, as given (the order's payload_content_type).
	ContentType string
}

// KeyPairIDs are the ids of the secrets a key pair is stored as; Passphrase is used only when the request has a
// passphrase.
type KeyPairIDs struct{ Private, Public, Passphrase string }

// KeyPairPayload are the rows of a generated key pair's secrets; Passphrase is nil without a passphrase.
type KeyPairPayload struct{ Private, Public, Passphrase *store.SecretPayload }

// GenerateSymmetric generates a symmetric key with backend b and returns the rows of the secret secretID.
func (s *Store) GenerateSymmetric(ctx context.Context, b *Backend, secretID string, req GenerateRequest) (*store.SecretPayload, error) {
	gen, kek, err := s.generator(ctx, b, crypto.SymmetricGeneration, req)
	if err != nil {
		return nil, err
	}
	enc, err := gen.GenerateSymmetric(ctx, kek, req.Spec)
	if err != nil {
		return nil, fmt.Errorf("generating a symmetric key with %s: %w", b.Plugin.Name(), err)
	}
	return s.rows(secretID, kek.ID, enc, req.ContentType), nil
}

// GenerateAsymmetric generates a key pair with backend b and returns the rows of its secrets.
func (s *Store) GenerateAsymmetric(ctx context.Context, b *Backend, ids KeyPairIDs, req GenerateRequest) (*KeyPairPayload, error) {
	// The reference asks its plugins about a key pair without the mode.
	req.Spec.Mode = ""
	gen, kek, err := s.generator(ctx, b, crypto.AsymmetricGeneration, req)
	if err != nil {
		return nil, err
	}
	pair, err := gen.GenerateAsymmetric(ctx, kek, req.Spec)
	if err != nil {
		return nil, fmt.Errorf("generating a key pair with %s: %w", b.Plugin.Name(), err)
	}
	out := &KeyPairPayload{
		Private: s.rows(ids.Private, kek.ID, pair.Private, req.ContentType),
		Public:  s.rows(ids.Public, kek.ID, pair.Public, req.ContentType),
	}
	if pair.Passphrase != nil {
		out.Passphrase = s.rows(ids.Passphrase, kek.ID, *pair.Passphrase, req.ContentType)
	}
	return out, nil
}

// generator applies the reference's checks in its order -- the store's algorithms, the kind the algorithm needs,
// a crypto plugin that supports the key -- and returns the plugin with the project's active KEK.
func (s *Store) generator(ctx context.Context, b *Backend, kind crypto.GenerateKind, req GenerateRequest) (crypto.Generator, crypto.KEK, error) {
	if !slices.Contains(generateAlgorithms, strings.ToLower(req.Spec.Algorithm)) {
		return nil, crypto.KEK{}, ErrGeneratePluginNotFound
	}
	if k, ok := crypto.KindOf(req.Spec.Algorithm); !ok || k != kind {
		return nil, crypto.KEK{}, ErrAlgorithmNotSupported
	}
	gen, ok := b.Plugin.(crypto.Generator)
	if !ok || !gen.SupportsGeneration(kind, req.Spec) {
		return nil, crypto.KEK{}, fmt.Errorf("%w: %s with %d bits in mode %q on %s", ErrGenerationUnsupported,
			req.Spec.Algorithm, req.Spec.BitLength, req.Spec.Mode, b.Plugin.Name())
	}
	kek, err := s.activeKEK(ctx, b, req.ProjectExternalID)
	if err != nil {
		return nil, crypto.KEK{}, err
	}
	return gen, kek, nil
}
