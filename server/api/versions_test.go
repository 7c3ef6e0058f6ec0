package api

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// GET / and GET /v1 produce application/json and application/json-home only; pecan refuses a request whose
// Accept allows neither. Statuses measured on the reference.
func TestVersionDocumentsNegotiateLikeTheReference(t *testing.T) {
	s := newSetup(t, withConfig(func(c *Config) { c.Version = "15.0.1" }))
	cases := []struct {
		accept string
		status int
	}{
		{"", http.StatusMultipleChoices},
		{"*/*", http.StatusMultipleChoices},
		{"application/*", http.StatusMultipleChoices},
		{"text/html", http.StatusNotAcceptable},
		{"application/xml", http.StatusNotAcceptable},
		{"*/json-home", http.StatusNotAcceptable},                        // */subtype is no wildcard for RFC 7231 matching
		{"garbage", http.StatusMultipleChoices},                          // WebOb ignores an invalid header
		{"application/json; q=abc", http.StatusMultipleChoices},          // invalid too
		{"application/json;q=0, text/plain", http.StatusMultipleChoices}, // pecan's startswith fallback
		{"text/html;q=0, application/json", http.StatusMultipleChoices},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", http.StatusMultipleChoices}, // browsers
		{"application/json-home", http.StatusFound},
		{"application/json-home, */*", http.StatusFound}, // best_match: the exact range beats */*
		{"application/json, application/json-home", http.StatusMultipleChoices},
		{"application/*;q=0.9, application/json-home;q=0.9", http.StatusFound},
	}
	for _, tc := range cases {
		t.Run("GET / with Accept "+tc.accept, func(t *testing.T) {
			resp := s.on(t).expect(as{}, request{method: "GET", path: "/", header: map[string]string{"Accept": tc.accept}},
				tc.status)
			if tc.status == http.StatusNotAcceptable {
				assertBody(t, resp, `{"code":406,"title":"Not Acceptable","description":null}`)
			}
		})
	}
	t.Run("GET /v1 refuses text/html", func(t *testing.T) {
		resp := s.on(t).expect(admin, request{method: "GET", path: "/v1", header: map[string]string{"Accept": "text/html"}},
			http.StatusNotAcceptable)
		assertBody(t, resp, `{"code":406,"title":"Not Acceptable","description":null}`)
	})
	t.Run("GET /v1 takes an invalid Accept", func(t *testing.T) {
		s.on(t).expect(admin, request{method: "GET", path: "/v1", header: map[string]string{"Accept": "garbage"}}, http.StatusOK)
	})
	t.Run("?build is a 200 with the version", func(t *testing.T) {
		assertBody(t, s.on(t).expect(as{}, request{method: "GET", path: "/?build"}, http.StatusOK), `{"build":"15.0.1"}`)
		assertBody(t, s.on(t).expect(as{}, request{method: "GET", path: "/?build=yes"}, http.StatusOK), `{"build":"15.0.1"}`)
	})
	t.Run("?build comes after the Accept check and the json-home redirect", func(t *testing.T) {
		s.on(t).expect(as{}, request{method: "GET", path: "/?build", header: map[string]string{"Accept": "text/html"}},
			http.StatusNotAcceptable)
		s.on(t).expect(as{}, request{method: "GET", path: "/?build",
			header: map[string]string{"Accept": "application/json-home"}}, http.StatusFound)
	})
	t.Run("a JSON list handler follows the same rules", func(t *testing.T) {
		for accept, status := range map[string]int{"garbage": 200, "*/*;q=0.5, application/json;q=0": 406, "text/*": 406,
			"application/json;level=1": 200} {
			s.on(t).expect(admin, request{method: "GET", path: "/v1/secrets", header: map[string]string{"Accept": accept}},
				status)
		}
	})
}

// assertBody compares a JSON answer's exact body (the encoder's trailing newline aside).
func assertBody(t *testing.T, resp response, want string) {
	t.Helper()
	if got := string(resp.body); got != want && got != want+"\n" {
		t.Fatalf("want body %s, got %s", want, got)
	}
}

// oslo.middleware's healthcheck answers text, HTML or JSON by Accept; bodies as it renders them (detailed off).
func TestHealthcheckRendersLikeOsloMiddleware(t *testing.T) {
	disable := filepath.Join(t.TempDir(), "healthcheck_disable")
	s := newSetup(t, withConfig(func(c *Config) { c.HealthcheckDisableFile = disable }))
	html := func(reason string) string {
		return "<HTML>\n<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>\n<BODY>\n\n<H2>Result of 1 checks:</H2>\n" +
			"<TABLE bgcolor=\"#ffffff\" border=\"1\">\n<TBODY>\n<TR>\n\n<TH>\nReason\n</TH>\n</TR>\n<TR>\n\n    <TD>" + reason +
			"</TD>\n\n</TR>\n</TBODY>\n</TABLE>\n<HR></HR>\n\n</BODY>\n</HTML>"
	}
	json := func(reason string) string {
		return "{\n    \"detailed\": false,\n    \"reasons\": [\n        \"" + reason + "\"\n    ]\n}"
	}
	cases := []struct {
		accept, contentType string
		body                func(string) string
	}{
		{"", "text/plain; charset=UTF-8", func(r string) string { return r }},
		{"*/*", "text/plain; charset=UTF-8", func(r string) string { return r }},
		{"garbage", "text/plain; charset=UTF-8", func(r string) string { return r }},
		{"application/xml", "text/plain; charset=UTF-8", func(r string) string { return r }}, // never 406
		{"application/json", "application/json", json},
		{"application/json, text/plain", "text/plain; charset=UTF-8", func(r string) string { return r }},
		{"text/plain;q=0.5, application/json", "application/json", json},
		{"text/html", "text/html; charset=UTF-8", html},
	}
	for _, state := range []struct {
		disabled bool
		status   int
		reason   string
	}{{false, http.StatusOK, "OK"}, {true, http.StatusServiceUnavailable, "DISABLED BY FILE"}} {
		if state.disabled {
			if err := os.WriteFile(disable, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range cases {
			t.Run(state.reason+" for Accept "+tc.accept, func(t *testing.T) {
				resp := s.on(t).expect(as{}, request{method: "GET", path: "/healthcheck",
					header: map[string]string{"Accept": tc.accept}}, state.status)
				if got := resp.header.Get("Content-Type"); got != tc.contentType {
					t.Errorf("want Content-Type %q, got %q", tc.contentType, got)
				}
				if want := tc.body(state.reason); string(resp.body) != want {
					t.Errorf("want body %q, got %q", want, resp.body)
				}
			})
		}
		t.Run(state.reason+" for HEAD", func(t *testing.T) {
			want := http.StatusNoContent
			if state.disabled {
				want = http.StatusServiceUnavailable
			}
			resp := s.on(t).expect(as{}, request{method: "HEAD", path: "/healthcheck"}, want)
			if len(resp.body) != 0 {
				t.Errorf("HEAD answers no body, got %q", resp.body)
			}
		})
	}
}
