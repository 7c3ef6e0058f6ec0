package p11crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keymanager-io/keymanager/hsm"
)

// defaultWrapMechanism is what a plugin_meta without key_wrap_mechanism was wrapped with: Barbican before
// 2025.1 always wrapped with CKM_AES_CBC_PAD and did not record it.
const defaultWrapMechanism = "CKM_AES_CBC_PAD"

// ErrMeta means a kek_data.plugin_meta or an encrypted_data.kek_meta_extended is not what p11_crypto writes.
var ErrMeta = errors.New("malformed p11_crypto metadata")

// pluginMeta is kek_data.plugin_meta as Barbican's p11_crypto writes it: compact JSON, keys in this order,
// standard base64, iv null when the wrap had no IV.
type pluginMeta struct {
	IV               *string `json:"iv"`
	WrappedKey       string  `json:"wrapped_key"`
	HMAC             string  `json:"hmac"`
	MKEKLabel        string  `json:"mkek_label"`
	HMACLabel        string  `json:"hmac_label"`
	KeyWrapMechanism string  `json:"key_wrap_mechanism,omitempty"`
}

// encodePluginMeta writes a wrapped pKEK as plugin_meta.
func encodePluginMeta(w hsm.WrappedKey) (string, error) {
	m := pluginMeta{WrappedKey: b64(w.Wrapped), HMAC: b64(w.HMAC), MKEKLabel: w.MKEKLabel, HMACLabel: w.HMACLabel,
		KeyWrapMechanism: w.WrapMechanism.Name}
	if w.IV != nil {
		iv := b64(w.IV)
		m.IV = &iv
	}
	return compactJSON(m)
}

// decodePluginMeta reads plugin_meta; key_wrap_mechanism defaults to CBC_PAD as in the reference.
func decodePluginMeta(s string) (hsm.WrappedKey, error) {
	var m pluginMeta
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return hsm.WrappedKey{}, fmt.Errorf("%w: plugin_meta is not JSON: %w", ErrMeta, err)
	}
	if m.WrappedKey == "" || m.HMAC == "" || m.MKEKLabel == "" || m.HMACLabel == "" {
		return hsm.WrappedKey{}, fmt.Errorf("%w: plugin_meta lacks wrapped_key, hmac, mkek_label or hmac_label", ErrMeta)
	}
	if m.KeyWrapMechanism == "" {
		m.KeyWrapMechanism = defaultWrapMechanism
	}
	mech, err := hsm.Lookup(hsm.WrapMechanisms, m.KeyWrapMechanism)
	if err != nil {
		return hsm.WrappedKey{}, fmt.Errorf("%w: key_wrap_mechanism: %w", ErrMeta, err)
	}
	w := hsm.WrappedKey{MKEKLabel: m.MKEKLabel, HMACLabel: m.HMACLabel, WrapMechanism: mech}
	if m.IV != nil {
		if w.IV, err = unb64("iv", *m.IV); err != nil {
			return w, err
		}
	}
	if w.Wrapped, err = unb64("wrapped_key", m.WrappedKey); err != nil {
		return w, err
	}
	if w.HMAC, err = unb64("hmac", m.HMAC); err != nil {
		return w, err
	}
	return w, nil
}

// kekMetaExtended is encrypted_data.kek_meta_extended: the IV and the mechanism that decrypts the secret.
type kekMetaExtended struct {
	IV        string `json:"iv"`
	Mechanism string `json:"mechanism"`
}

func encodeKEKMetaExtended(ct hsm.Ciphertext) (string, error) {
	return compactJSON(kekMetaExtended{IV: b64(ct.IV), Mechanism: ct.Mechanism.Name})
}

func decodeKEKMetaExtended(s string, data []byte) (hsm.Ciphertext, error) {
	// The compact form both servers write is read without the JSON decoder, which cost a tenth of a decrypt;
	// anything else (spaces, another key order) goes through it.
	m, ok := compactKEKMetaExtended(s)
	if !ok {
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return hsm.Ciphertext{}, fmt.Errorf("%w: kek_meta_extended is not JSON: %w", ErrMeta, err)
		}
	}
	mech, err := hsm.Lookup(hsm.EncryptionMechanisms, m.Mechanism)
	if err != nil {
		return hsm.Ciphertext{}, fmt.Errorf("%w: kek_meta_extended mechanism: %w", ErrMeta, err)
	}
	iv, err := unb64("iv", m.IV)
	if err != nil {
		return hsm.Ciphertext{}, err
	}
	return hsm.Ciphertext{Data: data, IV: iv, Mechanism: mech}, nil
}

// compactKEKMetaExtended parses exactly {"iv":"B64","mechanism":"NAME"} with no escapes in the values.
func compactKEKMetaExtended(s string) (kekMetaExtended, bool) {
	rest, ok := strings.CutPrefix(s, `{"iv":"`)
	if !ok {
		return kekMetaExtended{}, false
	}
	iv, rest, ok := strings.Cut(rest, `","mechanism":"`)
	if !ok {
		return kekMetaExtended{}, false
	}
	mech, ok := strings.CutSuffix(rest, `"}`)
	if !ok || strings.ContainsAny(iv+mech, `"\`) {
		return kekMetaExtended{}, false
	}
	return kekMetaExtended{IV: iv, Mechanism: mech}, true
}

// compactJSON is Python's json.dumps(v, separators=(',', ':')) for these ASCII values: no spaces, fields in
// declaration order, and no HTML escaping (Python has none).
func compactJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(field, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64", ErrMeta, field)
	}
	return b, nil
}
