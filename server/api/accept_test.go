package api

import (
	"slices"
	"testing"
)

// WebOb 1.8's answers (create_accept_header, acceptable_offers), recorded by running it on each header.
func TestAcceptParsingMirrorsWebOb(t *testing.T) {
	offers := []string{"text/plain", "text/html", "application/json"}
	cases := []struct {
		header     string
		valid      bool
		acceptable []string
	}{
		{",a/b", false, nil},
		{"a/b,,c/d", true, []string{}},
		{"a/b, ,c/d", true, []string{}},
		{", text/html", false, nil},
		{"text/html;q=0.1234", false, nil},
		{"text/html;q=0.", true, []string{}},
		{`text/html;x="a\"b"`, true, []string{}},
		{`text/html;x="unterminated`, false, nil},
		{"text/html;q=1.5", false, nil},
		{`text/html;Q=0.5;ext;ext2="v"`, true, []string{"text/html"}},
		{"text/html ;q=0.5", true, []string{"text/html"}},
		{"text/html; level=1; q=0.5", true, []string{}},
		{"text/html;q=0.5;level=1", true, []string{"text/html"}},
		{"*/*", true, []string{"text/plain", "text/html", "application/json"}},
		{"text", false, nil},
		{"a/b/c", false, nil},
		{"text/html;q=", false, nil},
		{"text/html;", false, nil},
		{"text/html,", true, []string{"text/html"}},
		{"text/plain;charset=utf-8, application/json;q=0.9", true, []string{"application/json"}},
		{"text/*;q=0.3, text/html;q=0.7, */*;q=0.5", true, []string{"text/html", "application/json", "text/plain"}},
	}
	for _, tc := range cases {
		_, valid := parseAcceptHeader(tc.header)
		if valid != tc.valid {
			t.Errorf("%q: WebOb says valid=%v, we say %v", tc.header, tc.valid, valid)
			continue
		}
		want := tc.acceptable
		if !tc.valid {
			want = offers // an invalid header accepts everything
		}
		if got := acceptableOffers(tc.header, offers); !slices.Equal(got, want) {
			t.Errorf("%q: want acceptable %v, got %v", tc.header, want, got)
		}
	}
}

// FuzzAcceptHeader: no header panics the parser or the matchers.
func FuzzAcceptHeader(f *testing.F) {
	for _, h := range []string{"", "*/*", `a/b;x="\"";q=0.5;e="v", c/*`, "text/html;q=0.5;level=1", ",,"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		ranges, valid := parseAcceptHeader(h)
		if !valid && ranges != nil {
			t.Fatalf("%q: an invalid header yields no ranges", h)
		}
		_ = acceptableOffers(h, []string{"text/plain", "application/json"})
		_ = bestMatch(h, versionOffers)
	})
}
