package hsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

const (
	aesBlockSize = 16
	gcmNonceSize = 12
	gcmTagBits   = 128
)

// ErrCiphertext means a ciphertext does not decrypt (or authenticate) under its pKEK.
var ErrCiphertext = errors.New("ciphertext does not decrypt under the project KEK")

// Ciphertext is an encrypted secret as encrypted_data stores it: the bytes, and in kek_meta_extended the IV and
// the mechanism that decrypts them.
type Ciphertext struct {
	Data      []byte
	IV        []byte
	Mechanism Mechanism
}

// Encrypt encrypts plaintext under the pKEK of id (unwrapped from w when not cached) with the configured
// encryption mechanism.
func (m *Module) Encrypt(ctx context.Context, id string, w WrappedKey, cfg Settings, plaintext []byte) (Ciphertext, error) {
	var out Ciphertext
	err := m.Do(ctx, "encrypt", func(s *Session) error {
		e, err := s.pkek(id, w, cfg)
		if err != nil {
			return err
		}
		defer m.cache.done(e, s)
		out, err = s.encrypt(e.handle, cfg, plaintext)
		return err
	})
	return out, err
}

// EncryptRandom generates n random bytes in the HSM and encrypts them under the pKEK of id, so that a
// generated key is never in the clear outside the HSM and this call.
func (m *Module) EncryptRandom(ctx context.Context, id string, w WrappedKey, cfg Settings, n int) (Ciphertext, error) {
	var out Ciphertext
	err := m.Do(ctx, "generate_encrypt", func(s *Session) error {
		e, err := s.pkek(id, w, cfg)
		if err != nil {
			return err
		}
		defer m.cache.done(e, s)
		key, err := s.random(n)
		if err != nil {
			return err
		}
		defer clear(key)
		out, err = s.encrypt(e.handle, cfg, key)
		return err
	})
	return out, err
}

// Decrypt decrypts a ciphertext under the pKEK of id with the mechanism the ciphertext records.
func (m *Module) Decrypt(ctx context.Context, id string, w WrappedKey, cfg Settings, ct Ciphertext) ([]byte, error) {
	var out []byte
	err := m.Do(ctx, "decrypt", func(s *Session) error {
		e, err := s.pkek(id, w, cfg)
		if err != nil {
			return err
		}
		defer m.cache.done(e, s)
		out, err = s.decrypt(e.handle, ct)
		return err
	})
	return out, err
}

func (s *Session) encrypt(key pkcs11.ObjectHandle, cfg Settings, plaintext []byte) (Ciphertext, error) {
	out := Ciphertext{Mechanism: cfg.Encryption}
	switch cfg.Encryption.Value {
	case pkcs11.CKM_AES_CBC:
		iv, err := s.random(aesBlockSize)
		if err != nil {
			return out, err
		}
		padded := pad(plaintext)
		defer clear(padded)
		out.IV = iv
		err = s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
			if err := ctx.EncryptInit(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_CBC, iv)}, key); err != nil {
				return err
			}
			var err error
			out.Data, err = ctx.Encrypt(h, padded)
			return err
		})
		if err != nil {
			return out, fmt.Errorf("encrypting with CKM_AES_CBC: %w", err)
		}
		return out, nil
	case pkcs11.CKM_AES_GCM, CKMVendorSafeNetAESGCM:
		var iv []byte
		if cfg.GCMGenerateIV {
			var err error
			if iv, err = s.random(gcmNonceSize); err != nil {
				return out, err
			}
		}
		params := pkcs11.NewGCMParams(iv, nil, gcmTagBits)
		defer params.Free()
		var data []byte
		err := s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
			if err := ctx.EncryptInit(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(cfg.Encryption.Value, params)}, key); err != nil {
				return err
			}
			var err error
			data, err = ctx.Encrypt(h, plaintext)
			return err
		})
		if err != nil {
			return out, fmt.Errorf("encrypting with %s: %w", cfg.Encryption.Name, err)
		}
		if cfg.GCMGenerateIV {
			out.IV, out.Data = iv, data
			return out, nil
		}
		// An HSM that makes the IV appends it after the tag (SafeNet/Luna), and Barbican stores it so.
		if len(data) < 2*aesBlockSize {
			return out, fmt.Errorf("encrypting with %s and an HSM-generated IV: %d bytes of output is too short "+
				"to hold a tag and an IV (does this HSM generate GCM IVs?)", cfg.Encryption.Name, len(data))
		}
		out.IV, out.Data = data[len(data)-aesBlockSize:], data[:len(data)-aesBlockSize]
		return out, nil
	}
	return out, fmt.Errorf("unsupported encryption mechanism %s", cfg.Encryption.Name)
}

func (s *Session) decrypt(key pkcs11.ObjectHandle, ct Ciphertext) ([]byte, error) {
	var mech *pkcs11.Mechanism
	var params *pkcs11.GCMParams
	switch ct.Mechanism.Value {
	case pkcs11.CKM_AES_CBC:
		if len(ct.IV) != aesBlockSize {
			return nil, fmt.Errorf("%w: CKM_AES_CBC needs a %d-byte IV, the row has %d", ErrCiphertext, aesBlockSize, len(ct.IV))
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_AES_CBC, ct.IV)
	case pkcs11.CKM_AES_GCM, CKMVendorSafeNetAESGCM:
		if len(ct.IV) == 0 {
			return nil, fmt.Errorf("%w: %s needs an IV, the row has none", ErrCiphertext, ct.Mechanism.Name)
		}
		params = pkcs11.NewGCMParams(ct.IV, nil, gcmTagBits)
		defer params.Free()
		mech = pkcs11.NewMechanism(ct.Mechanism.Value, params)
	default:
		return nil, fmt.Errorf("unsupported decryption mechanism %s", ct.Mechanism.Name)
	}
	var pt []byte
	err := s.call(func(ctx *pkcs11.Ctx, h pkcs11.SessionHandle) error {
		if err := ctx.DecryptInit(h, []*pkcs11.Mechanism{mech}, key); err != nil {
			return err
		}
		var err error
		pt, err = ctx.Decrypt(h, ct.Data)
		return err
	})
	switch {
	case isRV(err, pkcs11.CKR_ENCRYPTED_DATA_INVALID), isRV(err, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE),
		// SoftHSM2 reports a GCM tag that does not authenticate as CKR_GENERAL_ERROR.
		params != nil && isRV(err, pkcs11.CKR_GENERAL_ERROR):
		return nil, fmt.Errorf("%w (%s): %w", ErrCiphertext, ct.Mechanism.Name, err)
	case err != nil:
		return nil, fmt.Errorf("decrypting with %s: %w", ct.Mechanism.Name, err)
	}
	if ct.Mechanism.Value == pkcs11.CKM_AES_CBC {
		out, ok := unpad(pt)
		if !ok {
			clear(pt)
			return nil, fmt.Errorf("%w: bad PKCS#7 padding", ErrCiphertext)
		}
		return out, nil
	}
	// Secrets written by Barbican's older GCM code had 16-byte IVs and padded plaintexts: strip what looks like
	// padding there, as the reference does.
	if len(ct.IV) == aesBlockSize && len(pt)%aesBlockSize == 0 {
		if out, ok := unpad(pt); ok {
			return out, nil
		}
	}
	return pt, nil
}

// pad appends PKCS#7 padding to whole AES blocks (Barbican pads CKM_AES_CBC plaintexts in software).
func pad(b []byte) []byte {
	n := aesBlockSize - len(b)%aesBlockSize
	out := make([]byte, len(b)+n)
	copy(out, b)
	copy(out[len(b):], bytes.Repeat([]byte{byte(n)}, n))
	return out
}

// unpad strips PKCS#7 padding, reporting whether it was well formed.
func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 || len(b)%aesBlockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n < 1 || n > aesBlockSize {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}
