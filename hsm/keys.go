package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ErrKeyNotFound means no key of that label and type is on the token.
var ErrKeyNotFound = errors.New("key not found")

// ErrKeyAmbiguous means several keys of that label and type are on the token; Barbican refuses to guess.
var ErrKeyAmbiguous = errors.New("more than one key found")

// masterKeyID names a master key: its label and key type.
type masterKeyID struct {
	label   string
	keyType uint
}

// call runs one library call with the library lock (when the library must not be called concurrently).
func (s *Session) call(fn func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error) error {
	s.m.lock()
	defer s.m.unlock()
	return fn(s.m.lib.ctx, s.handle)
}

// findKey looks a secret key up by label and key type; exactly one must match.
func (s *Session) findKey(id masterKeyID) (pkcs11.ObjectHandle, error) {
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, id.keyType),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, id.label),
	}
	var found []pkcs11.ObjectHandle
	err := s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		if err := ctx.FindObjectsInit(h, template); err != nil {
			return err
		}
		objs, _, err := ctx.FindObjects(h, 2)
		if ferr := ctx.FindObjectsFinal(h); err == nil {
			err = ferr
		}
		found = objs
		return err
	})
	switch {
	case err != nil:
		return 0, fmt.Errorf("finding the key labelled %q: %w", id.label, err)
	case len(found) == 0:
		return 0, fmt.Errorf("%w: no key labelled %q of type %#x on the token", ErrKeyNotFound, id.label, id.keyType)
	case len(found) > 1:
		return 0, fmt.Errorf("%w for label %q", ErrKeyAmbiguous, id.label)
	}
	return found[0], nil
}

// masterKey returns a master key's handle, looked up once per generation.
func (s *Session) masterKey(label string, keyType uint) (pkcs11.ObjectHandle, error) {
	id := masterKeyID{label, keyType}
	m := s.m
	m.mu.Lock()
	h, ok := m.keys[id]
	gen := m.gen
	m.mu.Unlock()
	if ok && gen == s.gen {
		return h, nil
	}
	h, err := s.findKey(id)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	if m.gen == s.gen {
		m.keys[id] = h
	}
	m.mu.Unlock()
	return h, nil
}

// MasterKeySpec describes a master key to find or generate.
type MasterKeySpec struct {
	Label string
	// Length in bytes (CKA_VALUE_LEN); only generation uses it.
	Length int
	// KeyType is the CKA_KEY_TYPE (the MKEK is always CKK_AES).
	KeyType Mechanism
	// KeyGen is the generation mechanism.
	KeyGen Mechanism
}

// MKEKSpec is the master KEK: an AES key of length bytes.
func MKEKSpec(label string, length int) MasterKeySpec {
	return MasterKeySpec{Label: label, Length: length, KeyType: KeyTypes[0], KeyGen: KeyGenMechanisms[0]}
}

// FindKey checks that exactly one key of the spec's label and type is on the token.
func (m *Module) FindKey(ctx context.Context, spec MasterKeySpec) error {
	return m.Do(ctx, "find_key", func(s *Session) error {
		_, err := s.masterKey(spec.Label, spec.KeyType.Value)
		return err
	})
}

// GenerateMKEK generates the master KEK as a token object with Barbican's attributes: private, sensitive, not
// extractable, for encryption and wrapping only.
func (m *Module) GenerateMKEK(ctx context.Context, spec MasterKeySpec) error {
	return m.generateMaster(ctx, spec, true)
}

// GenerateHMACKey generates the master HMAC key as a token object: private, sensitive, not extractable, for
// signing and verifying only, of the spec's key type and keygen mechanism (the nCipher vendor ones included).
func (m *Module) GenerateHMACKey(ctx context.Context, spec MasterKeySpec) error {
	return m.generateMaster(ctx, spec, false)
}

func (m *Module) generateMaster(ctx context.Context, spec MasterKeySpec, wrapping bool) error {
	if spec.Label == "" {
		return errors.New("a master key needs a label")
	}
	if spec.Length <= 0 {
		return fmt.Errorf("master key length %d: want a positive number of bytes", spec.Length)
	}
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, spec.KeyType.Value),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, spec.Length),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, wrapping),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, wrapping),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, !wrapping),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, !wrapping),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, wrapping),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, wrapping),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label),
	}
	return m.Do(ctx, "generate_master_key", func(s *Session) error {
		// Generating a second key under a label would make the label unusable (ErrKeyAmbiguous).
		if _, err := s.findKey(masterKeyID{spec.Label, spec.KeyType.Value}); err == nil {
			return fmt.Errorf("a key labelled %q already exists", spec.Label)
		} else if !errors.Is(err, ErrKeyNotFound) {
			return err
		}
		return s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
			_, err := ctx.GenerateKey(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(spec.KeyGen.Value, nil)}, template)
			if err != nil {
				return fmt.Errorf("generating the key labelled %q with %s: %w", spec.Label, spec.KeyGen.Name, err)
			}
			return nil
		})
	})
}

func (s *Session) random(n int) ([]byte, error) {
	var out []byte
	err := s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		var err error
		out, err = ctx.GenerateRandom(h, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("generating %d random bytes: %w", n, err)
	}
	return out, nil
}

// checkRandom seeds the token's generator with seed, if any, and checks that 100 random bytes are not all zero.
func (s *Session) checkRandom(seed []byte) error {
	if len(seed) > 0 {
		err := s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error { return ctx.SeedRandom(h, seed) })
		if err != nil {
			return fmt.Errorf("seeding the token's random number generator: %w", err)
		}
	}
	b, err := s.random(100)
	if err != nil {
		return err
	}
	for _, c := range b {
		if c != 0 {
			return nil
		}
	}
	return errors.New("the token's random number generator returned 100 zero bytes")
}

// Ping checks that a session can be had and the token answers (C_GetSessionInfo).
func (m *Module) Ping(ctx context.Context) error {
	return m.Do(ctx, "ping", func(s *Session) error {
		return s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
			_, err := ctx.GetSessionInfo(h)
			return err
		})
	})
}
