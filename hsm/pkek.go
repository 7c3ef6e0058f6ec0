package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ErrHMAC means a wrapped pKEK's HMAC does not verify under the HMAC key its row names: the row was changed
// or written with another key, and the pKEK is not unwrapped.
var ErrHMAC = errors.New("the wrapped project KEK's HMAC does not verify")

// Settings are the p11_crypto options that shape keys and ciphertexts: the master keys new pKEKs are wrapped
// and signed with, the mechanisms, and how secrets are encrypted. Stored pKEKs are always unwrapped with the
// labels and wrap mechanism their row records and secrets decrypted with the mechanism theirs records; the
// HMAC key type and mechanism come from here, as in Barbican.
type Settings struct {
	MKEKLabel string
	HMACLabel string
	// HMACKeyType is the HMAC key's CKA_KEY_TYPE (hmac_key_type).
	HMACKeyType Mechanism
	// HMACMechanism signs IV‖wrapped key (hmac_mechanism).
	HMACMechanism Mechanism
	// WrapMechanism wraps new pKEKs (key_wrap_mechanism).
	WrapMechanism Mechanism
	// GenerateIV supplies a random IV as the wrap mechanism's parameter (key_wrap_generate_iv).
	GenerateIV bool
	// PKEKLength is the length of new pKEKs in bytes (pkek_length).
	PKEKLength int
	// Sensitive sets CKA_SENSITIVE on new pKEKs (always_set_cka_sensitive; some HSMs refuse it on
	// extractable keys).
	Sensitive bool
	// Encryption encrypts new secrets under their pKEK (encryption_mechanism).
	Encryption Mechanism
	// GCMGenerateIV has the host generate GCM IVs; without it the HSM does (aes_gcm_generate_iv).
	GCMGenerateIV bool
}

// WrappedKey is a pKEK as a kek_data row stores it in plugin_meta.
type WrappedKey struct {
	IV            []byte // nil when the wrap mechanism had no parameter
	Wrapped       []byte
	HMAC          []byte
	MKEKLabel     string
	HMACLabel     string
	WrapMechanism Mechanism
}

// signed is the data the HMAC covers: IV ‖ wrapped key.
func (w *WrappedKey) signed() []byte {
	return append(append(make([]byte, 0, len(w.IV)+len(w.Wrapped)), w.IV...), w.Wrapped...)
}

func wrapMechanism(m Mechanism, iv []byte) []*pkcs11.Mechanism {
	if iv == nil {
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(m.Value, nil)}
	}
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(m.Value, iv)}
}

// NewPKEK generates a project KEK in the HSM, wraps it under the configured MKEK and signs it with the
// configured HMAC key. The key never leaves the HSM in clear; it stays as a session object, cached under id.
func (m *Module) NewPKEK(ctx context.Context, id string, cfg Settings) (WrappedKey, error) {
	var out WrappedKey
	err := m.Do(ctx, "new_pkek", func(s *Session) error {
		template := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, cfg.PKEKLength),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, cfg.Sensitive),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		}
		var key pkcs11.ObjectHandle
		err := s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
			var err error
			key, err = ctx.GenerateKey(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, template)
			return err
		})
		if err != nil {
			return fmt.Errorf("generating a project KEK: %w", err)
		}
		w, err := s.wrap(key, cfg)
		if err != nil {
			s.destroy(key)
			return err
		}
		out = w
		m.cache.done(m.cache.put(id, key, s), s)
		return nil
	})
	return out, err
}

// wrap wraps key under the configured MKEK and signs the result with the configured HMAC key.
func (s *Session) wrap(key pkcs11.ObjectHandle, cfg Settings) (WrappedKey, error) {
	w := WrappedKey{MKEKLabel: cfg.MKEKLabel, HMACLabel: cfg.HMACLabel, WrapMechanism: cfg.WrapMechanism}
	mkek, err := s.masterKey(cfg.MKEKLabel, pkcs11.CKK_AES)
	if err != nil {
		return w, fmt.Errorf("the master KEK: %w", err)
	}
	hmacKey, err := s.masterKey(cfg.HMACLabel, cfg.HMACKeyType.Value)
	if err != nil {
		return w, fmt.Errorf("the master HMAC key: %w", err)
	}
	if cfg.GenerateIV {
		if w.IV, err = s.random(wrapIVLength(cfg.WrapMechanism)); err != nil {
			return w, err
		}
	}
	err = s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		var err error
		w.Wrapped, err = ctx.WrapKey(h, wrapMechanism(cfg.WrapMechanism, w.IV), mkek, key)
		return err
	})
	if err != nil {
		return w, fmt.Errorf("wrapping the project KEK with %s under %q: %w", cfg.WrapMechanism.Name, cfg.MKEKLabel, err)
	}
	err = s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		if err := ctx.SignInit(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(cfg.HMACMechanism.Value, nil)}, hmacKey); err != nil {
			return err
		}
		var err error
		w.HMAC, err = ctx.Sign(h, w.signed())
		return err
	})
	if err != nil {
		return w, fmt.Errorf("signing the wrapped project KEK with %s under %q: %w", cfg.HMACMechanism.Name, cfg.HMACLabel, err)
	}
	return w, nil
}

// verify checks a stored pKEK's HMAC with the HMAC key its row names.
func (s *Session) verify(w WrappedKey, cfg Settings) error {
	hmacKey, err := s.masterKey(w.HMACLabel, cfg.HMACKeyType.Value)
	if err != nil {
		return fmt.Errorf("the HMAC key the project KEK was signed with: %w", err)
	}
	err = s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		if err := ctx.VerifyInit(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(cfg.HMACMechanism.Value, nil)}, hmacKey); err != nil {
			return err
		}
		return ctx.Verify(h, w.signed(), w.HMAC)
	})
	if isRV(err, pkcs11.CKR_SIGNATURE_INVALID) || isRV(err, pkcs11.CKR_SIGNATURE_LEN_RANGE) {
		return fmt.Errorf("%w under %q", ErrHMAC, w.HMACLabel)
	}
	if err != nil {
		return fmt.Errorf("verifying the project KEK's HMAC under %q: %w", w.HMACLabel, err)
	}
	return nil
}

// unwrap verifies a stored pKEK and unwraps it under the MKEK its row names, as a session object.
func (s *Session) unwrap(w WrappedKey, cfg Settings) (pkcs11.ObjectHandle, error) {
	if err := s.verify(w, cfg); err != nil {
		return 0, err
	}
	mkek, err := s.masterKey(w.MKEKLabel, pkcs11.CKK_AES)
	if err != nil {
		return 0, fmt.Errorf("the master KEK the project KEK was wrapped with: %w", err)
	}
	template := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	}
	var key pkcs11.ObjectHandle
	err = s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		var err error
		key, err = ctx.UnwrapKey(h, wrapMechanism(w.WrapMechanism, w.IV), mkek, w.Wrapped, template)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("unwrapping the project KEK with %s under %q: %w", w.WrapMechanism.Name, w.MKEKLabel, err)
	}
	return key, nil
}

func (s *Session) destroy(key pkcs11.ObjectHandle) {
	_ = s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error { return ctx.DestroyObject(h, key) })
}

// pkek returns the unwrapped pKEK cached under id, or verifies and unwraps w and caches it; the caller ends
// its use with s.m.cache.done.
func (s *Session) pkek(id string, w WrappedKey, cfg Settings) (*pkekEntry, error) {
	if e, ok := s.m.cache.get(id, s); ok {
		return e, nil
	}
	h, err := s.unwrap(w, cfg)
	if err != nil {
		return nil, err
	}
	return s.m.cache.put(id, h, s), nil
}

// CheckPKEK verifies a stored pKEK's HMAC and unwraps it (without caching), proving the master keys its row
// names are on the token and match.
func (m *Module) CheckPKEK(ctx context.Context, w WrappedKey, cfg Settings) error {
	return m.Do(ctx, "check_pkek", func(s *Session) error {
		h, err := s.unwrap(w, cfg)
		if err != nil {
			return err
		}
		s.destroy(h)
		return nil
	})
}

// Rewrap verifies a stored pKEK under the keys its row names, unwraps it and wraps and signs the same key under
// the configured keys, then verifies the new HMAC, so a row is only ever replaced by one that reads back.
func (m *Module) Rewrap(ctx context.Context, w WrappedKey, cfg Settings) (WrappedKey, error) {
	var out WrappedKey
	err := m.Do(ctx, "rewrap_pkek", func(s *Session) error {
		key, err := s.unwrap(w, cfg)
		if err != nil {
			return err
		}
		defer s.destroy(key)
		nw, err := s.wrap(key, cfg)
		if err != nil {
			return err
		}
		if err := s.verify(nw, cfg); err != nil {
			return fmt.Errorf("the rewrapped project KEK: %w", err)
		}
		out = nw
		return nil
	})
	return out, err
}
