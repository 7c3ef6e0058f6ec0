package simplecrypto

import (
	"crypto/aes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/fernet/fernet-go"
)

// Fernet token layout: version ‖ timestamp ‖ IV ‖ AES-CBC ciphertext ‖ HMAC.
const (
	tokenVersion   = 0x80
	tokenOverhead  = 1 + 8 + aes.BlockSize + sha256.Size
	minTokenLength = tokenOverhead + aes.BlockSize // PKCS#7 always adds a block
)

// errInvalidToken means no key authenticates a token; callers translate it
// into the crypto package's sentinels.
var errInvalidToken = errors.New("invalid fernet token")

// noTTL is passed to fernet.VerifyAndDecrypt: fernet-go skips both the age
// and the clock-skew check when ttl <= 0, which is exactly what Python's
// Fernet.decrypt(token, ttl=None) does and what Barbican relies on (pKEKs and
// secrets are years old).
const noTTL time.Duration = 0

// tokenShapeOK reports whether tok can be a Fernet token: padded url-safe
// base64 of version, timestamp, IV, a whole number of cipher blocks and the
// HMAC. fernet-go slices the token before checking this and can panic on an
// authenticated but truncated token, so every token is checked first.
func tokenShapeOK(tok []byte) bool {
	if len(tok) == 0 || len(tok)%4 != 0 {
		return false // Python rejects unpadded tokens too
	}
	n := len(tok) / 4 * 3
	for i := len(tok) - 1; i >= len(tok)-2 && tok[i] == '='; i-- {
		n--
	}
	return n >= minTokenLength && (n-tokenOverhead)%aes.BlockSize == 0
}

// decryptToken verifies tok under any of keys and returns its plaintext, or
// nil if no key authenticates it.
func decryptToken(tok []byte, keys ...*fernet.Key) []byte {
	if !tokenShapeOK(tok) {
		return nil
	}
	return fernet.VerifyAndDecrypt(tok, noTTL, keys)
}

// tokenTime returns the timestamp a token was created at, which
// MultiFernet.rotate carries over to the rotated token. The token must have
// passed tokenShapeOK.
func tokenTime(tok []byte) (time.Time, bool) {
	// 12 base64 characters decode to 9 bytes: version and timestamp.
	var head [9]byte
	if len(tok) < 12 {
		return time.Time{}, false
	}
	if _, err := base64.URLEncoding.Decode(head[:], tok[:12]); err != nil || head[0] != tokenVersion {
		return time.Time{}, false
	}
	// A token's timestamp is informational (no TTL is applied); an out-of-range value only yields an odd time.
	return time.Unix(int64(binary.BigEndian.Uint64(head[1:])), 0), true //nolint:gosec // see above
}

// rotateToken is Python's MultiFernet(keys).rotate(tok): decrypt under any key
// and re-encrypt under keys[0], keeping the original timestamp.
// It returns errInvalidToken when no key authenticates tok.
func rotateToken(tok []byte, keys ...*fernet.Key) ([]byte, error) {
	msg := decryptToken(tok, keys...)
	if msg == nil {
		return nil, errInvalidToken
	}
	defer clear(msg)
	at, ok := tokenTime(tok)
	if !ok {
		return nil, errInvalidToken
	}
	out, err := fernet.EncryptAndSignAtTime(msg, keys[0], at)
	if err != nil {
		return nil, fmt.Errorf("encrypt rotated token: %w", err)
	}
	return out, nil
}
