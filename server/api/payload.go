package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
)

// Barbican's payload content types (barbican/plugin/util/mime_types.py semantics).
const (
	ctText   = "text/plain"
	ctBinary = "application/octet-stream"
	ctPKCS8  = "application/pkcs8"
	ctAES    = "application/aes"
)

// plainTextTypes and binaryTypes are the exact strings the reference accepts for a payload; denormalisation on
// retrieval compares the Accept header against these lists verbatim (case-sensitively).
var (
	plainTextTypes = []string{"text/plain", "text/plain;charset=utf-8", "text/plain; charset=utf-8"}
	binaryTypes    = []string{ctBinary, ctPKCS8}
	supportedTypes = append(append([]string{}, plainTextTypes...), binaryTypes...)
)

var internalTypes = map[string]string{
	"text/plain": ctText, "text/plain;charset=utf-8": ctText, "text/plain; charset=utf-8": ctText,
	ctBinary: ctBinary, ctPKCS8: ctPKCS8, ctAES: ctAES,
}

// normalizeContentType maps a content type to Barbican's internal form; an unknown type or charset is returned
// unchanged (and is then "not supported").
func normalizeContentType(mimeType string) string {
	parts := strings.Split(mimeType, ";")
	mime := strings.ToLower(strings.TrimSpace(parts[0]))
	if len(parts) > 1 {
		param := strings.ToLower(strings.TrimSpace(parts[1]))
		_, charset, ok := strings.Cut(param, "=")
		if !ok || strings.TrimSpace(charset) != "utf-8" {
			return mimeType
		}
	}
	if t, ok := internalTypes[mime]; ok {
		return t
	}
	return mimeType
}

func isSupportedContentType(mimeType string) bool {
	n := normalizeContentType(mimeType)
	return n == ctText || n == ctBinary || n == ctPKCS8
}

func isBinaryType(normalized string) bool { return normalized == ctBinary || normalized == ctPKCS8 }

// contentTypesField is the secret JSON's content_types value for a stored content type, or nil.
func contentTypesField(stored string) map[string]string {
	switch stored {
	case ctText, ctBinary, ctPKCS8, ctAES:
		return map[string]string{"default": stored}
	}
	return nil
}

var errBase64 = errors.New("invalid base64")

// decodeBase64Text decodes a JSON string like Python's base64.b64decode of a str without validate=True:
// characters outside the standard alphabet are discarded (url-safe '-' and '_' too), then the rest must be
// correctly padded base64. A str with non-ASCII characters is an error there (ValueError).
func decodeBase64Text(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, errBase64
		}
	}
	return decodeBase64Lenient([]byte(s))
}

// decodeBase64Bytes decodes a request body like Python's base64.b64decode of bytes (what the reference's
// store_crypto does with a base64 PUT body): every byte outside the alphabet is discarded, non-ASCII ones too,
// so a body of nothing but such bytes decodes to an empty payload.
func decodeBase64Bytes(b []byte) ([]byte, error) { return decodeBase64Lenient(b) }

func decodeBase64Lenient(s []byte) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			clean = append(clean, c)
		}
	}
	// Python stops at the first complete padded quantum; data after padding is an error there too
	// (binascii "Excess data after padding" only in strict mode), so decode what the padding delimits.
	if i := bytes.IndexByte(clean, '='); i >= 0 {
		end := i
		for end < len(clean) && clean[end] == '=' {
			end++
		}
		if end%4 != 0 {
			return nil, errBase64
		}
		clean = clean[:end]
	}
	if len(clean)%4 != 0 {
		return nil, errBase64
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, errBase64
	}
	return out[:n], nil
}
