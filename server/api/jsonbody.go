package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// readJSON reads a JSON request body the way the reference does: at most maxBytes are read, so a longer body is
// cut and fails to parse ("Malformed JSON", 400 -- there is no 413 for large JSON bodies), and every string in the
// document is whitespace-stripped before validation.
//
// A body that is not UTF-8 is refused before it is decoded: Go's decoder would silently store U+FFFD instead.
func (a *API) readJSON(r *http.Request) (any, *Error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, int64(a.cfg.MaxRequestBytes)+1))
	if err != nil {
		return nil, newError(http.StatusBadRequest, "Malformed JSON")
	}
	cut := len(raw) > a.cfg.MaxRequestBytes
	if cut {
		raw = raw[:a.cfg.MaxRequestBytes]
	}
	if !validUTF8Prefix(raw, cut) {
		// pecan decodes a JSON body with the request's charset before Barbican sees it, and answers a decoding
		// failure with a bare 400 (measured: "description": ""). With another charset pecan's decoding passes and
		// Barbican's own json.loads fails: "Malformed JSON".
		if isUTF8Charset(r) {
			return nil, newError(http.StatusBadRequest, "")
		}
		return nil, newError(http.StatusBadRequest, "Malformed JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, newError(http.StatusBadRequest, "Malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, newError(http.StatusBadRequest, "Malformed JSON")
	}
	return stripStrings(v), nil
}

// validUTF8Prefix reports whether b is UTF-8, allowing an incomplete last character when b was cut from a longer
// body (the cut, not the encoding, is then what makes the body malformed).
func validUTF8Prefix(b []byte, cut bool) bool {
	if cut {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return utf8.Valid(b)
}

// isUTF8Charset reports whether the request's Content-Type names no charset or a name Python's codecs resolve
// to UTF-8 (WebOb's default charset is UTF-8).
func isUTF8Charset(r *http.Request) bool {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	cs, ok := params["charset"]
	if err != nil || !ok {
		return true
	}
	switch strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(cs))) {
	case "utf_8", "utf8", "u8", "utf", "utf8_ucs2", "utf8_ucs4", "cp65001":
		return true
	}
	return false
}

func stripStrings(v any) any {
	switch t := v.(type) {
	case string:
		return pyStrip(t)
	case map[string]any:
		for k, e := range t {
			t[k] = stripStrings(e)
		}
	case []any:
		for i, e := range t {
			t[i] = stripStrings(e)
		}
	}
	return v
}

// pyStrip is Python's str.strip(), which the reference applies to every string of a body: Go's unicode.IsSpace
// agrees with str.isspace() except for the information separators U+001C-U+001F, which Python strips too.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// The reference validates bodies with Python's jsonschema and shows its message to the client, so the subset of
// JSON Schema the Barbican schemas use is implemented here with the same wording (python-barbicanclient prints it).

type property struct {
	name      string
	types     []string // JSON Schema type names
	maxLength int      // 0: unlimited
	minLength int
	minimum   *int64
	maximum   *int64
	enum      []string
	// required is draft 3's per-property flag (the order and metadata schemas): its error sits below the object,
	// at the property, and names it.
	required bool
	// items checks every element of an array value.
	items *property
	// object checks an object value against a nested schema.
	object *objectSchema
}

type objectSchema struct {
	name       string
	properties []property
	// required is the draft 4+ list: its errors sit at the object itself and name no property.
	required     []string
	noAdditional bool
}

func invalidObject(schema, reason, prop string) *Error {
	if prop == "" {
		prop = "None"
	}
	return newError(http.StatusBadRequest, fmt.Sprintf(
		"Provided object does not match schema '%s': %s. Invalid property: '%s'", schema, reason, prop))
}

// named is s under another name (a schema nested in another one is reported under both names).
func (s objectSchema) named(name string) objectSchema {
	s.name = name
	return s
}

// schemaError is one violation, with what jsonschema's best_match ranks it by.
type schemaError struct {
	// depth is the length of the instance path of the value at fault.
	depth int
	// typeMismatch: the value at fault is not of the type its schema names.
	typeMismatch bool
	reason       string
	// prop is what Barbican reports as the invalid property: the top-level property the error sits under ("" at
	// the top, which prints as None).
	prop string
}

// validate checks body against s and returns it as an object. Like the reference (jsonschema.validate), it
// collects every violation and reports the best match: the one highest up in the document, a type mismatch
// before other faults at the same height, otherwise the first in schema order.
func (s objectSchema) validate(body any) (map[string]any, *Error) {
	errs := s.errors(body, 0, "")
	if len(errs) == 0 {
		return body.(map[string]any), nil
	}
	best := errs[0]
	for _, e := range errs[1:] {
		if e.depth < best.depth || (e.depth == best.depth && e.typeMismatch && !best.typeMismatch) {
			best = e
		}
	}
	return nil, invalidObject(s.name, best.reason, best.prop)
}

// errors lists the violations of v, found at the given depth under the top-level property top, in the order
// jsonschema meets them (type, properties, required, additionalProperties).
func (s objectSchema) errors(v any, depth int, top string) []schemaError {
	obj, ok := v.(map[string]any)
	if !ok {
		return []schemaError{{depth: depth, typeMismatch: true, reason: pyRepr(v) + " is not of type 'object'", prop: top}}
	}
	return s.objectErrors(obj, depth, top)
}

func (s objectSchema) objectErrors(obj map[string]any, depth int, top string) []schemaError {
	var errs []schemaError
	for _, p := range s.properties {
		under := top
		if depth == 0 {
			under = p.name
		}
		v, present := obj[p.name]
		switch {
		case present:
			errs = append(errs, p.errors(v, depth+1, under)...)
		case p.required:
			errs = append(errs, schemaError{depth: depth + 1, reason: pyRepr(p.name) + " is a required property", prop: under})
		}
	}
	for _, name := range s.required {
		if _, present := obj[name]; !present {
			errs = append(errs, schemaError{depth: depth, reason: pyRepr(name) + " is a required property", prop: top})
		}
	}
	if s.noAdditional {
		var extra []string
		for k := range obj {
			if !s.has(k) {
				extra = append(extra, pyRepr(k))
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			verb := "was"
			if len(extra) > 1 {
				verb = "were"
			}
			errs = append(errs, schemaError{depth: depth, prop: top, reason: fmt.Sprintf(
				"Additional properties are not allowed (%s %s unexpected)", strings.Join(extra, ", "), verb)})
		}
	}
	return errs
}

func (s objectSchema) has(name string) bool {
	for _, p := range s.properties {
		if p.name == name {
			return true
		}
	}
	return false
}

// errors lists the violations of a property's value v, found at depth.
func (p property) errors(v any, depth int, top string) []schemaError {
	if reason := p.check(v); reason != "" {
		mismatch := len(p.types) > 0 && !p.typeOK(v)
		return []schemaError{{depth: depth, typeMismatch: mismatch, reason: reason, prop: top}}
	}
	var errs []schemaError
	switch t := v.(type) {
	case []any:
		if p.items != nil {
			for _, item := range t {
				errs = append(errs, p.items.errors(item, depth+1, top)...)
			}
		}
	case map[string]any:
		if p.object != nil {
			errs = append(errs, p.object.objectErrors(t, depth, top)...)
		}
	}
	return errs
}

// check returns what is wrong with v itself (its type, length, value), or "".
func (p property) check(v any) string {
	if len(p.types) > 0 && !p.typeOK(v) {
		quoted := make([]string, len(p.types))
		for i, t := range p.types {
			quoted[i] = "'" + t + "'"
		}
		return pyRepr(v) + " is not of type " + strings.Join(quoted, ", ")
	}
	switch t := v.(type) {
	case string:
		if p.maxLength > 0 && len([]rune(t)) > p.maxLength {
			return pyRepr(t) + " is too long"
		}
		if len([]rune(t)) < p.minLength {
			return pyRepr(t) + " is too short"
		}
		if p.enum != nil && !contains(p.enum, t) {
			return pyRepr(t) + " is not one of " + pyStringList(p.enum)
		}
	case json.Number:
		if n, ok := integral(t); ok {
			if p.minimum != nil && n < *p.minimum {
				return fmt.Sprintf("%s is less than the minimum of %d", t, *p.minimum)
			}
			if p.maximum != nil && n > *p.maximum {
				return fmt.Sprintf("%s is greater than the maximum of %d", t, *p.maximum)
			}
		}
	}
	return ""
}

func (p property) typeOK(v any) bool {
	for _, typ := range p.types {
		switch typ {
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "null":
			if v == nil {
				return true
			}
		case "integer":
			if n, ok := v.(json.Number); ok {
				if _, ok := integral(n); ok {
					return true
				}
			}
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		}
	}
	return false
}

// integral reports the value of a JSON number that is an integer; like Python's jsonschema it accepts 256.0.
func integral(n json.Number) (int64, bool) {
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt64/2 {
		return 0, false
	}
	return int64(f), true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func int64p(v int64) *int64 { return &v }

// pyRepr renders a decoded JSON value the way Python's repr() does, for messages copied from jsonschema.
func pyRepr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case json.Number:
		return t.String()
	case string:
		return pyStringRepr(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyStringRepr(k) + ": " + pyRepr(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(t)
	}
}

func pyStringRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x` + fmt.Sprintf("%02x", r))
		case !unicode.IsPrint(r) && r > 0x7f:
			if r > 0xffff {
				b.WriteString(`\U` + fmt.Sprintf("%08x", r))
			} else {
				b.WriteString(`\u` + fmt.Sprintf("%04x", r))
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
