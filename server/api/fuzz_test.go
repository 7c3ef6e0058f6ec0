package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzCreateSecret sends arbitrary bodies to POST /v1/secrets through the real handler: every answer must be a
// 2xx or 4xx in Barbican's shape, never a 5xx or a panic (which the recovery middleware would turn into 500).
func FuzzCreateSecret(f *testing.F) {
	seeds := []string{
		`{}`, `[]`, `null`, `"x"`, `{"name": null}`, `{"bit_length": 1e400}`, `{"bit_length": -0.0}`,
		`{"payload": "aGVsbG8=", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`,
		`{"payload": "x", "payload_content_type": "text/plain; charset=utf-8"}`,
		`{"payload": "x", "payload_content_type": "text/plain;charset"}`,
		`{"payload": "x", "payload_content_type": ";"}`,
		`{"expiration": "2999-13-45T99:99:99"}`, `{"expiration": "9999-12-31T23:59:59+14:00"}`,
		`{"secret_type": {"a": [1, 2, {"b": null}]}}`, `{"name": "\u0000\ud800"}`,
		`{"payload": "====", "payload_content_type": "application/pkcs8", "payload_content_encoding": "base64"}`,
	}
	fuzzPost(f, "/v1/secrets", http.StatusCreated, seeds, newSetup(f))
}

// FuzzCreateOrder sends arbitrary bodies to POST /v1/orders: every answer must be a 202 or a 4xx in Barbican's
// shape, never a 5xx or a panic. No worker runs: what an accepted order asks for is the workers' own fuzz target.
func FuzzCreateOrder(f *testing.F) {
	seeds := []string{
		`{}`, `[]`, `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256}}`,
		`{"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048, "passphrase": "\u00e9\ud83d\ude00"}}`,
		`{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256.0, "expiration": "2999-01-01T00:00:00+14:00"}}`,
		`{"type": "key", "meta": {"algorithm": "aes", "bit_length": 1e400}}`, `{"type": "certificate", "meta": {}}`,
		`{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "payload_content_type": null, "x": [1, {"y": null}]}}`,
		`{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "payload": "", "payload_content_type": "text/plain"}}`,
		`{"type": "key", "meta": {"name": "\u0000\u001f\u007f", "algorithm": "aes", "bit_length": 8}}`,
	}
	fuzzPost(f, "/v1/orders", http.StatusAccepted, seeds, newSetup(f, withoutOrderWorkers()))
}

// fuzzPost is the body of the create fuzzers: the seeds, then arbitrary bodies posted to path through the real
// handler, which must answer created or a 4xx with Barbican's error body.
func fuzzPost(f *testing.F, path string, created int, seeds []string, s *setup) {
	for _, seed := range seeds {
		f.Add(seed)
	}
	a := s.server.Config.Handler
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Project-Id", "fuzz")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body.String())
		}
		if w.Code >= 400 && !strings.Contains(w.Body.String(), `"code":`) {
			t.Fatalf("a %d without Barbican's error body for %q: %s", w.Code, body, w.Body.String())
		}
		if w.Code != created && w.Code < 400 {
			t.Fatalf("unexpected status %d", w.Code)
		}
	})
}

// FuzzListQuery sends arbitrary query strings to the list endpoints through the real handler (filters, sorts,
// paging, escapes): never a 5xx, and every error in Barbican's shape.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{
		"", "limit=5&offset=2", "limit=-1&offset=99999999999999999999", "name=a%25b&alg=aes&mode=cbc&bits=256",
		"secret_type=SYMMETRIC", "created=gt:2020-01-01T00:00:00,lte:2030-01-01", "expiration=lt:x",
		"sort=name:desc,created", "sort=name:asc,name", "sort=::", "acl_only=true", "name=%", "name=%E2%82",
		"plugin_name=%2B", "limit=%00&offset=%ff", "updated=gte:2020-01-01T00:00:00Z,lt:2020-01-02 00:00:00+01:00",
	} {
		f.Add(q)
	}
	s := newSetup(f)
	s.createSecret(as{project: "fuzz", user: "u"}, `{"name": "n", "payload": "x", "payload_content_type": "text/plain"}`)
	a := s.server.Config.Handler
	f.Fuzz(func(t *testing.T, query string) {
		for _, path := range []string{"/v1/secrets", "/v1/transport_keys"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL.Path, r.URL.RawQuery = path, query
			r.Header.Set("X-Project-Id", "fuzz")
			r.Header.Set("X-User-Id", "u")
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s?%s: status %d: %s", path, query, w.Code, w.Body.String())
			}
			if w.Code >= 400 && !strings.Contains(w.Body.String(), `"code":`) {
				t.Fatalf("%s?%s: a %d without Barbican's error body: %s", path, query, w.Code, w.Body.String())
			}
		}
	})
}

// FuzzEntityBodies sends arbitrary bodies to every route of containers, consumers and ACLs that reads a JSON
// body: every answer must be a success of that route or a 4xx in Barbican's shape, never a 5xx or a panic.
// "{secret}" in a body stands for the href of a live secret, so that mutations reach past the lookups.
func FuzzEntityBodies(f *testing.F) {
	seeds := []struct {
		route uint8
		body  string
	}{
		{0, `{"type": "generic", "name": "c", "secret_refs": [{"name": "a", "secret_ref": "{secret}"}]}`},
		{0, `{"type": "rsa", "secret_refs": [{"name": "public_key", "secret_ref": "{secret}"}, {"name": "private_key", "secret_ref": "{secret}/"}]}`},
		{0, `{"type": "certificate", "secret_refs": [{"secret_ref": "{secret}"}, {"name": null, "secret_ref": "x/"}]}`},
		{0, `{"type": "generic", "secret_refs": [1, [], {}, {"secret_ref": ""}]}`}, {0, `{"name": {"a": [1e400]}}`},
		{1, `{"name": "n", "secret_ref": "{secret}"}`}, {1, `{"secret_ref": "/"}`}, {1, `{"name": null, "secret_ref": 5}`},
		{2, `{"name": "n", "secret_ref": "{secret}"}`}, {2, `{"secret_ref": "{secret}/"}`},
		{3, `{"name": "lb", "URL": "http://lb"}`}, {3, `{"name": "", "URL": "\u0000"}`},
		{4, `{"name": "lb", "URL": "http://lb"}`}, {4, `{"name": "lb"}`},
		{5, `{"service": "s", "resource_type": "t", "resource_id": "r"}`}, {5, `{"service": "s", "resource_type": "t", "resource_id": "0123456789012345678901234567890123456"}`},
		{6, `{"service": "s", "resource_type": "t", "resource_id": "r"}`},
		{7, `{"read": {"users": ["a", "b", "a"], "project-access": false}}`}, {7, `{"read": {"users": [1, {"x": null}]}}`},
		{8, `{"read": {"project-access": true}}`}, {8, `{"read": {}, "write": {}}`}, {8, `{"read": null}`},
		{9, `{}`}, {9, `{"read": {"users": ["` + strings.Repeat("u", 300) + `"]}}`},
		{10, `{"read": {"users": []}}`}, {10, `[]`}, {10, `"read"`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.body)
	}
	s := newSetup(f)
	a := s.server.Config.Handler
	owner := as{project: "fuzz", user: "fuzzer"}
	secretID := s.createSecret(owner, `{}`)
	containerID := s.createContainer(owner, `{"type": "generic"}`)
	// httptest.NewRequest's requests go to example.com: that is the href base the handler sees.
	secretRef := "http://example.com/v1/secrets/" + secretID
	routes := []struct {
		method, path string
		ok           []int
	}{
		{"POST", "/v1/containers", []int{201}},
		{"POST", "/v1/containers/" + containerID + "/secrets", []int{201}},
		{"DELETE", "/v1/containers/" + containerID + "/secrets", []int{204}},
		{"POST", "/v1/containers/" + containerID + "/consumers", []int{200}},
		{"DELETE", "/v1/containers/" + containerID + "/consumers", []int{200}},
		{"POST", "/v1/secrets/" + secretID + "/consumers", []int{200}},
		{"DELETE", "/v1/secrets/" + secretID + "/consumers", []int{200}},
		{"PUT", "/v1/secrets/" + secretID + "/acl", []int{200}},
		{"PATCH", "/v1/secrets/" + secretID + "/acl", []int{200}},
		{"PUT", "/v1/containers/" + containerID + "/acl", []int{200}},
		{"PATCH", "/v1/containers/" + containerID + "/acl", []int{200}},
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		body = strings.ReplaceAll(body, "{secret}", secretRef)
		r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Project-Id", owner.project)
		r.Header.Set("X-User-Id", owner.user)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		switch {
		case w.Code >= 500:
			t.Fatalf("%s %s: status %d for body %q: %s", rt.method, rt.path, w.Code, body, w.Body.String())
		case w.Code >= 400:
			var e struct {
				Code  int     `json:"code"`
				Title string  `json:"title"`
				Desc  *string `json:"description"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != w.Code || e.Title == "" {
				t.Fatalf("a %d without Barbican's error body for %q: %s", w.Code, body, w.Body.String())
			}
		case !slices.Contains(rt.ok, w.Code):
			t.Fatalf("%s %s: unexpected status %d for %q", rt.method, rt.path, w.Code, body)
		}
	})
}
