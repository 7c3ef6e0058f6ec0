package policy

import (
	"fmt"
	"strings"
)

// template is the right-hand side of a check: literal text with %(key)s
// references into the target, evaluated like Python's "match % target".
type template struct {
	parts []tplPart
}

// tplPart is literal text or one %(key)s reference.
type tplPart struct {
	text  string // literal text, or the key of a reference
	isKey bool
	// isFlag marks a reference to enforce_new_defaults, which Enforce
	// supplies itself rather than through the caller's target map.
	isFlag bool
}

// parseTemplate splits s into literal text and %(key)s references. Only the
// "s" conversion and "%%" are accepted: anything else would raise in Python at
// enforcement time, so it is rejected at load time instead. The returned
// position is the byte offset of the error within s.
func parseTemplate(s string) (template, int, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tplPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return template{}, i, fmt.Errorf("%% must start %%(key)s or %%%%")
		}
		end := strings.IndexByte(s[i+2:], ')')
		if end < 0 {
			return template{}, i, fmt.Errorf("unterminated %%(key)s reference")
		}
		key := s[i+2 : i+2+end]
		conv := i + 2 + end + 1
		if conv >= len(s) || s[conv] != 's' {
			return template{}, i, fmt.Errorf("reference %%(%s) must be followed by the conversion s", key)
		}
		flush()
		t.parts = append(t.parts, tplPart{text: key, isKey: true, isFlag: key == keyEnforceNewDefaults})
		i = conv
	}
	flush()
	return t, 0, nil
}

// resolve interpolates the template. ok is false when a referenced key is
// absent from the target, which makes the check false (Python's KeyError).
// A template that is one reference or one literal does not allocate.
func (t *template) resolve(c *evalCtx) (s string, ok bool) {
	switch len(t.parts) {
	case 0:
		return "", true
	case 1:
		return t.parts[0].value(c)
	}
	var b strings.Builder
	for i := range t.parts {
		v, ok := t.parts[i].value(c)
		if !ok {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// value is the part's string: its literal text or the referenced target value.
func (p *tplPart) value(c *evalCtx) (string, bool) {
	switch {
	case !p.isKey:
		return p.text, true
	case p.isFlag:
		return pyBool(c.newDefaults), true
	}
	v, ok := c.target[p.text]
	if !ok {
		return "", false
	}
	return pyStr(v), true
}
