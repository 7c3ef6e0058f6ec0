package simplecrypto

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/fernet/fernet-go"
)

const redacted = "[REDACTED]"

var (
	// ErrNoKEK means no master KEK was configured; Barbican refuses to load
	// simple_crypto in that case ("SimpleCrypto KEK is undefined").
	ErrNoKEK = errors.New("no simple_crypto KEK configured")
	// ErrMalformedKEK means a configured KEK is not the url-safe base64
	// encoding of 32 bytes. The error names the entry's position only, never
	// its content.
	ErrMalformedKEK = errors.New("malformed simple_crypto KEK")
)

// Key is a Fernet key: 16 bytes of HMAC-SHA256 signing key followed by 16
// bytes of AES-128 key. It redacts itself in every fmt verb, in slog and in
// text/JSON marshalling; Encode is the only way to get the key text.
type Key struct {
	k fernet.Key
}

// GenerateKEK returns a new random Fernet key, the equivalent of Python's
// Fernet.generate_key().
func GenerateKEK() (Key, error) {
	var k Key
	if _, err := rand.Read(k.k[:]); err != nil {
		return Key{}, fmt.Errorf("generate simple_crypto KEK: %w", err)
	}
	return k, nil
}

// Encode returns the key as padded url-safe base64 text (44 characters), the
// form Barbican's [simple_crypto_plugin] kek option and the KEK file use.
func (k Key) Encode() string {
	return base64.URLEncoding.EncodeToString(k.k[:])
}

// String implements fmt.Stringer without revealing the key.
func (k Key) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the key.
func (k Key) GoString() string { return redacted }

// Format implements fmt.Formatter so that verbs which bypass String (%d,
// %x on the raw bytes, %+v) cannot print the key either.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer without revealing the key.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the key out of JSON and YAML renderings of config
// structs; it deliberately cannot be reversed.
func (k Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// ParseKEKs parses master KEKs from text: entries separated by newlines or
// commas, '#' starting a comment that runs to the end of the line, blank
// entries ignored. The first entry is the active KEK. Each entry must be the
// base64 of exactly 32 bytes; like Python's urlsafe_b64decode, both the
// url-safe and the standard alphabet are accepted. Errors name the line and
// entry, never the key material.
func ParseKEKs(text string) ([]Key, error) {
	var keys []Key
	for lineNo, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for entryNo, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			k, ok := decodeKey([]byte(entry))
			if !ok {
				return nil, fmt.Errorf("%w: line %d, entry %d is not the url-safe base64 of 32 bytes",
					ErrMalformedKEK, lineNo+1, entryNo+1)
			}
			keys = append(keys, Key{k: k})
		}
	}
	if len(keys) == 0 {
		return nil, ErrNoKEK
	}
	return keys, nil
}

// decodeKey decodes Fernet key text the way Python's Fernet(key) does: the
// url-safe alphabet with '+' and '/' also accepted, padding required. The
// input is translated in place, so callers pass a buffer they own (and may
// zero afterwards).
func decodeKey(text []byte) (fernet.Key, bool) {
	var k fernet.Key
	if len(text) != base64.URLEncoding.EncodedLen(len(k)) {
		return k, false
	}
	for i, c := range text {
		switch c {
		case '+':
			text[i] = '-'
		case '/':
			text[i] = '_'
		}
	}
	var buf [33]byte // DecodedLen(44) is 33; the last byte is padding
	n, err := base64.URLEncoding.Decode(buf[:], text)
	ok := err == nil && n == len(k)
	if ok {
		copy(k[:], buf[:n])
	}
	clear(buf[:])
	return k, ok
}
