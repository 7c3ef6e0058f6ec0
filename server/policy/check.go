package policy

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// parseCheck turns one check word (e.g. "role:admin", "@") at byte pos of its
// rule into a node.
func parseCheck(text string, pos int) (*node, error) {
	switch text {
	case "@":
		return &node{kind: nodeTrue, text: text}, nil
	case "!":
		return &node{kind: nodeFalse, text: text}, nil
	}
	kind, match, ok := strings.Cut(text, ":")
	if !ok {
		// oslo.policy logs this and treats it as "never"; a typo that
		// silently denies is worse than a refusal to start.
		return nil, syntaxError(pos, "check %q is not of the form kind:match, @ or !", text)
	}
	switch kind {
	case "rule":
		return &node{kind: nodeRule, ruleName: match, text: text}, nil
	case "http", "https":
		// Remote policy servers are not supported: like an unreachable
		// one, the check never passes.
		return &node{kind: nodeFalse, text: text}, nil
	}
	tpl, off, err := parseTemplate(match)
	if err != nil {
		return nil, syntaxError(pos+len(kind)+1+off, "check %q: %v", text, err)
	}
	if kind == "role" {
		return &node{kind: nodeRole, match: tpl, text: text}, nil
	}
	n := &node{kind: nodeGeneric, match: tpl, text: text}
	if lit, ok := pyLiteral(kind); ok {
		n.hasLiteral, n.literal = true, lit
	} else {
		// Unknown attributes, and dotted paths into scalar attributes,
		// never match (credUnknown).
		n.cred = credAttrs[kind]
	}
	return n, nil
}

var (
	pyIntRe = regexp.MustCompile(`^[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|[1-9](_?[0-9])*|0(_?0)*)$`)
	// A float needs a decimal point or an exponent; "01" alone is not a
	// Python number at all, while "01." and "01e3" are floats.
	pyFloatRe = regexp.MustCompile(`^[+-]?(((\d(_?\d)*)?\.\d(_?\d)*|\d(_?\d)*\.)([eE][+-]?\d(_?\d)*)?|\d(_?\d)*[eE][+-]?\d(_?\d)*)$`)
)

// pyLiteral evaluates the left side of a generic check the way
// ast.literal_eval would, for the literals policy files use (True, False,
// None, integers, floats and quoted strings), and renders it with str().
// ok is false when s is not such a literal, i.e. it names a credential.
func pyLiteral(s string) (string, bool) {
	switch s {
	case "True", "False", "None":
		return s, true
	}
	if s == "" {
		return "", false
	}
	if q := s[0]; (q == '\'' || q == '"') && len(s) >= 2 && s[len(s)-1] == q {
		return pyUnquote(s[1:len(s)-1], q)
	}
	if pyIntRe.MatchString(s) {
		var z big.Int
		if _, ok := z.SetString(s, 0); ok {
			return z.String(), true
		}
	}
	if pyFloatRe.MatchString(s) {
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if err == nil {
			return pyFloat(f), true
		}
	}
	return "", false
}

// pyUnquote decodes the body of a Python string literal quoted with q. It
// handles the escapes policy files plausibly contain and keeps unknown ones
// verbatim, as Python does.
func pyUnquote(body string, q byte) (string, bool) {
	if !strings.ContainsAny(body, `\'"`) {
		return body, true
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == q {
			// An unescaped closing quote inside: two adjacent literals or
			// garbage; not something a policy rule needs.
			return "", false
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(body) {
			return "", false
		}
		i++
		switch e := body[i]; e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), true
}
