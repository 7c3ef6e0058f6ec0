package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every rule parse error.
var ErrSyntax = errors.New("policy rule syntax error")

// tokenKind classifies the tokens of the rule language.
type tokenKind uint8

const (
	tokCheck tokenKind = iota
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
	tokString // a bare quoted word: valid in no grammar position
)

// token is one lexical element and its byte offset in the rule.
type token struct {
	kind tokenKind
	text string
	pos  int
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// tokenize splits a rule the way oslo.policy does: on whitespace, then peels
// leading "(" and trailing ")" off each word. Parentheses inside a word (as in
// %(key)s) stay part of the check because they are never at its ends.
func tokenize(rule string) []token {
	var toks []token
	for i := 0; i < len(rule); {
		r, size := utf8.DecodeRuneInString(rule[i:])
		if unicode.IsSpace(r) {
			i += size
			continue
		}
		start := i
		for i < len(rule) {
			r, size = utf8.DecodeRuneInString(rule[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += size
		}
		toks = appendWord(toks, rule[start:i], start)
	}
	return toks
}

// appendWord appends the tokens of one whitespace-delimited word at pos.
func appendWord(toks []token, word string, pos int) []token {
	for len(word) > 0 && word[0] == '(' {
		toks = append(toks, token{kind: tokLParen, text: "(", pos: pos})
		word, pos = word[1:], pos+1
	}
	if word == "" {
		return toks
	}
	clean := strings.TrimRight(word, ")")
	switch {
	case clean == "":
	case strings.EqualFold(clean, "and"):
		toks = append(toks, token{kind: tokAnd, text: clean, pos: pos})
	case strings.EqualFold(clean, "or"):
		toks = append(toks, token{kind: tokOr, text: clean, pos: pos})
	case strings.EqualFold(clean, "not"):
		toks = append(toks, token{kind: tokNot, text: clean, pos: pos})
	case len(word) >= 2 && (word[0] == '"' || word[0] == '\'') && word[len(word)-1] == word[0]:
		// oslo.policy tests the word before stripping ")", and a quoted
		// word never reduces to a check: it is a syntax error there too.
		toks = append(toks, token{kind: tokString, text: word, pos: pos})
		return toks
	default:
		toks = append(toks, token{kind: tokCheck, text: clean, pos: pos})
	}
	for j := len(clean); j < len(word); j++ {
		toks = append(toks, token{kind: tokRParen, text: ")", pos: pos + j})
	}
	return toks
}

// parser is a recursive-descent parser over the tokens of one rule, with
// oslo.policy's precedence: not > and > or.
type parser struct {
	rule string
	toks []token
	i    int
}

// parseRule parses one rule. The empty string is always true, as in
// oslo.policy; a rule of only whitespace does not parse there and is an
// error here.
func parseRule(rule string) (*node, error) {
	if rule == "" {
		return &node{kind: nodeTrue}, nil
	}
	p := parser{rule: rule, toks: tokenize(rule)}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, syntaxError(t.pos, "unexpected %s", t.describe())
	}
	return n, nil
}

// syntaxError builds a parse error at a byte position of the rule.
func syntaxError(pos int, format string, args ...any) error {
	return fmt.Errorf("%w at position %d: %s", ErrSyntax, pos, fmt.Sprintf(format, args...))
}

// peek returns the next token's kind, or ok=false at the end of the rule.
func (p *parser) peek() (tokenKind, bool) {
	if p.i >= len(p.toks) {
		return 0, false
	}
	return p.toks[p.i].kind, true
}

// parseOr parses "and-expression (or and-expression)*".
func (p *parser) parseOr() (*node, error) {
	return p.parseList(nodeOr, tokOr, p.parseAnd)
}

// parseAnd parses "unary (and unary)*".
func (p *parser) parseAnd() (*node, error) {
	return p.parseList(nodeAnd, tokAnd, p.parseUnary)
}

// parseList parses operands separated by sep into one n-ary node of kind,
// or returns the operand itself when there is only one.
func (p *parser) parseList(kind nodeKind, sep tokenKind, operand func() (*node, error)) (*node, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	children := []*node{first}
	for {
		if k, ok := p.peek(); !ok || k != sep {
			break
		}
		p.i++
		next, err := operand()
		if err != nil {
			return nil, err
		}
		children = append(children, next)
	}
	if len(children) == 1 {
		return first, nil
	}
	return &node{kind: kind, children: children}, nil
}

// parseUnary parses "not unary | primary".
func (p *parser) parseUnary() (*node, error) {
	if k, ok := p.peek(); ok && k == tokNot {
		p.i++
		inner, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &node{kind: nodeNot, children: []*node{inner}}, nil
	}
	return p.parsePrimary()
}

// parsePrimary parses "( or-expression ) | check".
func (p *parser) parsePrimary() (*node, error) {
	if p.i >= len(p.toks) {
		return nil, syntaxError(len(p.rule), "expected a check, \"not\" or \"(\" but the rule ended")
	}
	t := p.toks[p.i]
	switch t.kind {
	case tokCheck:
		p.i++
		return parseCheck(t.text, t.pos)
	case tokLParen:
		p.i++
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if k, ok := p.peek(); !ok || k != tokRParen {
			return nil, syntaxError(t.pos, "unbalanced \"(\"")
		}
		p.i++
		return inner, nil
	case tokString:
		return nil, syntaxError(t.pos, "quoted string %s is not a check (did you mean %s:...?)", t.text, t.text)
	default:
		return nil, syntaxError(t.pos, "expected a check, \"not\" or \"(\" but found %s", t.describe())
	}
}
