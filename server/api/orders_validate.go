package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/keymanager-io/keymanager/server/store"
)

// orderSchema is the reference's TypeOrderValidator envelope. 'certificate' orders were removed from Barbican,
// so the type enum names only what can be ordered.
var orderSchema = objectSchema{
	name: "Order",
	properties: []property{
		{name: "meta", types: []string{"object"}, required: true},
		{name: "type", types: []string{"string"}, required: true, enum: []string{store.OrderKey, store.OrderAsymmetric}},
	},
}

// expirationLayout is how oslo's jsonutils serialises the datetime the reference puts in an order's meta.
const expirationLayout = "2006-01-02T15:04:05.000000"

// newOrder is a validated order request: its type and the meta to store, as JSON text.
type newOrder struct {
	orderType string
	meta      string
}

// validateNewOrder applies the reference's order checks in its order: the envelope, the secret rules on the
// meta, then the rules of key generation. The stored meta is the request's, with 'name' and 'expiration' always
// present and the expiration normalised to naive UTC, as the reference stores it.
func (a *API) validateNewOrder(body any, now time.Time) (*newOrder, *Error) {
	obj, e := orderSchema.validate(body)
	if e != nil {
		return nil, e
	}
	orderType, _ := obj["type"].(string)
	meta, _ := obj["meta"].(map[string]any)
	ns, e := a.validateNewSecret(meta, now, orderSchema.name)
	if e != nil {
		return nil, e
	}
	kind := "key"
	if orderType == store.OrderAsymmetric {
		kind = "asymmetric"
	}
	if ns.hasPayload {
		return nil, invalidObject(orderSchema.name, "'payload' not allowed for "+kind+" type order", "meta")
	}
	if kind == "asymmetric" {
		kind = "asymmetric key"
	}
	if ns.algorithm == nil || *ns.algorithm == "" {
		return nil, invalidObject(orderSchema.name, "'algorithm' is required field for "+kind+" type order", "meta")
	}
	if ns.bitLength == nil {
		return nil, invalidObject(orderSchema.name, "'bit_length' is required field for "+kind+" type order", "meta")
	}
	if *ns.bitLength%8 != 0 {
		return nil, newError(http.StatusBadRequest, "Provided field value is not supported")
	}
	meta["name"] = nil
	if ns.name != nil {
		meta["name"] = *ns.name
	}
	meta["expiration"] = nil
	if ns.expiration != nil {
		meta["expiration"] = ns.expiration.UTC().Format(expirationLayout)
	}
	return &newOrder{orderType: orderType, meta: pythonJSON(meta)}, nil
}

// pythonJSON encodes a decoded JSON value as Python's json.dumps does with its defaults (", " and ": "
// separators, non-ASCII escaped), which is how the reference's JSON column stores an order's meta and how its
// meta filter encodes the value it looks for. Object keys are sorted.
func pythonJSON(v any) string {
	var b strings.Builder
	writePythonJSON(&b, v)
	return b.String()
}

func writePythonJSON(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		b.WriteString(t.String())
	case string:
		writePythonString(b, t)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writePythonJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writePythonString(b, k)
			b.WriteString(": ")
			writePythonJSON(b, t[k])
		}
		b.WriteByte('}')
	}
}

// writePythonString is json.dumps's ensure_ascii string encoding: the short escapes, \u00XX for other control
// characters, and \uXXXX (UTF-16, lower-case hex) for everything outside ASCII.
func writePythonString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	u := func(r rune) {
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(hex[(r>>shift)&0xf])
		}
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r > 0x7e && r <= 0xffff):
			if r == 0x7f {
				b.WriteRune(r)
				continue
			}
			u(r)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			u(hi)
			u(lo)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
