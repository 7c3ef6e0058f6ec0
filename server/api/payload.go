package api

import (
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

// decodeBase64Lenient is CPython's binascii.a2b_base64 in its default, non-strict mode, which b64decode uses:
// bytes outside the alphabet are skipped; a pad sequence ends the input once a quantum has at least two data
// characters (anything after it is ignored); pads earlier are skipped; a leftover single data character, or an
// unpadded incomplete quantum, is an error. So "====" decodes to nothing, as the reference stores it.
func decodeBase64Lenient(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s)*3/4)
	var quad, pads int
	var left byte
	for _, c := range s {
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v, ok := base64Value(c)
		if !ok {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			left, quad = v, 1
		case 1:
			out = append(out, left<<2|v>>4)
			left, quad = v&0x0f, 2
		case 2:
			out = append(out, left<<4|v>>2)
			left, quad = v&0x03, 3
		case 3:
			out = append(out, left<<6|v)
			left, quad = 0, 0
		}
	}
	if quad != 0 {
		return nil, errBase64
	}
	return out, nil
}

// base64Value is the value of a standard-alphabet character; false for any other byte.
func base64Value(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}
