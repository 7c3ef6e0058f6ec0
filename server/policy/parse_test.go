package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRuleStructure(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want string
	}{
		{"the empty rule always passes", "", "@"},
		{"a single check stands alone", "role:admin", "role:admin"},
		{"not binds tighter than and", "not role:a and role:b", "(not role:a and role:b)"},
		{"and binds tighter than or", "role:a or role:b and role:c", "(role:a or (role:b and role:c))"},
		{"and groups on both sides of or", "role:a and role:b or role:c and role:d", "((role:a and role:b) or (role:c and role:d))"},
		{"parentheses override precedence", "(role:a or role:b) and role:c", "((role:a or role:b) and role:c)"},
		{"not applies to a parenthesised group", "not (role:a or role:b)", "not (role:a or role:b)"},
		{"not may be repeated", "not not @", "not not @"},
		{"redundant parentheses disappear", "((role:a))", "role:a"},
		{"parentheses may be spaced out", "( role:a or role:b )", "(role:a or role:b)"},
		{"keywords are case-insensitive", "role:a AND NOT role:b Or role:c", "((role:a and not role:b) or role:c)"},
		{"any whitespace separates tokens", "  role:a\tand\n role:b  ", "(role:a and role:b)"},
		{"a target reference keeps its inner parentheses", "(project_id:%(target.secret.project_id)s)", "project_id:%(target.secret.project_id)s"},
		{"closing parentheses are peeled off a reference", "(role:a or (user_id:%(k)s))", "(role:a or user_id:%(k)s)"},
		{"role names may contain colons", "role:key-manager:service-admin", "role:key-manager:service-admin"},
		{"quoted literals are part of a check", "'read':%(target.secret.read)s", "'read':%(target.secret.read)s"},
		{"always and never are checks", "@ or !", "(@ or !)"},
		{"a chain of ors is flat", "role:a or role:b or role:c", "(role:a or role:b or role:c)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parseRule(tt.rule)
			if err != nil {
				t.Fatalf("parseRule(%q): %v", tt.rule, err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("parseRule(%q) = %s, want %s", tt.rule, got, tt.want)
			}
		})
	}
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct {
		name    string
		rule    string
		wantPos string
		wantMsg string
	}{
		{"a dangling and is an error", "role:a and", "position 10", "rule ended"},
		{"an unclosed parenthesis is an error", "(role:a or role:b", "position 0", "unbalanced"},
		{"an extra closing parenthesis is an error", "role:a)", "position 6", `unexpected ")"`},
		{"two checks without an operator are an error", "role:a role:b", "position 7", `unexpected "role:b"`},
		{"empty parentheses are an error", "()", "position 1", `found ")"`},
		{"a leading operator is an error", "or role:a", "position 0", `found "or"`},
		{"a bare quoted string is not a check", "'read' or role:a", "position 0", "quoted string"},
		{"a check needs a kind", "admin or role:a", "position 0", "kind:match"},
		{"a rule of only whitespace does not parse", "   ", "position 3", "rule ended"},
		{"only the s conversion is supported", "role:a or user_id:%(k)d", "position 18", "conversion s"},
		{"a lone percent sign is rejected", "user_id:50%", "position 10", "%(key)s"},
		{"an unterminated reference is rejected", "user_id:%(k", "position 8", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRule(tt.rule)
			if err == nil {
				t.Fatalf("parseRule(%q) succeeded, want an error", tt.rule)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			for _, want := range []string{tt.wantPos, tt.wantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("parseRule(%q) error %q does not mention %q", tt.rule, err, want)
				}
			}
		})
	}
}

func TestPyLiteral(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{"True stays True", "True", "True", true},
		{"None stays None", "None", "None", true},
		{"single quotes are stripped", "'read'", "read", true},
		{"double quotes are stripped", `"False"`, "False", true},
		{"escaped quotes are unescaped", `'it\'s'`, "it's", true},
		{"integers render in decimal", "0x1F", "31", true},
		{"underscores in integers are dropped", "1_000", "1000", true},
		{"negative integers keep their sign", "-7", "-7", true},
		{"floats render like Python", "1.50", "1.5", true},
		{"whole floats keep a decimal", "2.", "2.0", true},
		{"large floats use an exponent", "1e16", "1e+16", true},
		{"a leading zero is not a Python integer", "01", "", false},
		{"a trailing dot makes a float even with a leading zero", "01.", "1.0", true},
		{"an exponent makes a float", "01e3", "1000.0", true},
		{"lowercase true is a name, not a literal", "true", "", false},
		{"attribute names are not literals", "project_id", "", false},
		{"an empty string literal is allowed", "''", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pyLiteral(tt.in)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("pyLiteral(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
