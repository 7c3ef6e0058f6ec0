package api

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/server/policy"
)

func TestVersionDiscovery(t *testing.T) {
	s := newSetup(t)
	t.Run("root without microversion is the legacy 300 document", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "GET", path: "/"}, http.StatusMultipleChoices)
		values := resp.json(t)["versions"].(map[string]any)["values"].([]any)
		v := values[0].(map[string]any)
		if v["id"] != "v1" || v["status"] != "stable" {
			t.Fatalf("unexpected version object: %v", v)
		}
		if got := resp.header.Get("Openstack-Api-Version"); got != "key-manager 1.0" {
			t.Errorf("the effective microversion should be echoed, got %q", got)
		}
	})
	t.Run("root with microversion 1.1 is the microversion document", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "GET", path: "/", header: map[string]string{
			"OpenStack-API-Version": "key-manager 1.1"}}, http.StatusMultipleChoices)
		v := resp.json(t)["versions"].([]any)[0].(map[string]any)
		if v["status"] != "CURRENT" || v["min_version"] != "1.0" || v["max_version"] != "1.2" {
			t.Fatalf("unexpected version object: %v", v)
		}
		self := v["links"].([]any)[0].(map[string]any)["href"].(string)
		if !strings.HasSuffix(self, "/v1/") {
			t.Errorf("the self link should end in /v1/, got %s", self)
		}
	})
	t.Run("latest means 1.2", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "GET", path: "/", header: map[string]string{
			"OpenStack-API-Version": "compute 2.1, key-manager latest"}}, http.StatusMultipleChoices)
		if got := resp.header.Get("Openstack-Api-Version"); got != "key-manager 1.2" {
			t.Errorf("expected 1.2, got %q", got)
		}
	})
	t.Run("an unsupported microversion is 406", func(t *testing.T) {
		s.expect(as{}, request{method: "GET", path: "/", header: map[string]string{"OpenStack-API-Version": "key-manager 3.0"}},
			http.StatusNotAcceptable)
	})
	t.Run("a malformed microversion is 400", func(t *testing.T) {
		s.expect(as{}, request{method: "GET", path: "/", header: map[string]string{"OpenStack-API-Version": "key-manager one"}},
			http.StatusBadRequest)
	})
	t.Run("build query is a 200 with the version", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "GET", path: "/?build"}, http.StatusOK)
		if string(resp.body) != `{"build":"dev"}`+"\n" {
			t.Fatalf("expected the build version: %s", resp.body)
		}
	})
	t.Run("POST / is a JSON 405", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "POST", path: "/"}, http.StatusMethodNotAllowed)
		if resp.json(t)["code"] != float64(405) {
			t.Fatalf("expected a Barbican error body: %s", resp.body)
		}
	})
	t.Run("/v1 needs a project in no-auth mode", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "GET", path: "/v1"}, http.StatusBadRequest)
		if resp.description(t) != "Missing X-Project-Id" {
			t.Fatalf("unexpected body %s", resp.body)
		}
		resp = s.expect(admin, request{method: "GET", path: "/v1/"}, http.StatusOK)
		if resp.json(t)["version"].(map[string]any)["id"] != "v1" {
			t.Fatalf("unexpected /v1 document %s", resp.body)
		}
	})
	t.Run("healthcheck", func(t *testing.T) {
		resp := s.expect(as{}, request{method: "GET", path: "/healthcheck"}, http.StatusOK)
		if string(resp.body) != "OK" {
			t.Fatalf("expected OK, got %q", resp.body)
		}
		s.expect(as{}, request{method: "GET", path: "/readyz"}, http.StatusOK)
	})
}

var requestIDPattern = regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCrossCuttingBehaviour(t *testing.T) {
	s := newSetup(t)
	id := s.createSecret(admin, `{"name": "x", "payload": "p", "payload_content_type": "text/plain"}`)
	cases := map[string]struct {
		who    as
		req    request
		status int
		desc   any // nil: do not check; "<null>": JSON null (a string, "" included, is compared)
		allow  string
	}{
		"a trailing slash on a collection POST works": {
			who: admin, req: request{method: "POST", path: "/v1/secrets/", body: `{}`}, status: 201},
		"a trailing slash on a resource works": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/" + id + "/"}, status: 200},
		"an unknown path is a JSON 404 with an empty description": {
			who: admin, req: request{method: "GET", path: "/v1/nothing"}, status: 404, desc: ""},
		"PUT on the collection is 405 with Allow": {
			who: admin, req: request{method: "PUT", path: "/v1/secrets"}, status: 405, allow: "GET, POST", desc: ""},
		"POST on a secret is 405": {
			who: admin, req: request{method: "POST", path: "/v1/secrets/" + id}, status: 405, allow: "DELETE, GET, PUT", desc: ""},
		"a wrong method asking for JSON is 406, as pecan's default handler only makes text/html": {
			who: admin, req: request{method: "PUT", path: "/v1/secrets", header: map[string]string{"Accept": "application/json"}},
			status: 406},
		"a wrong method accepting text/html is 405": {
			who: admin, req: request{method: "PATCH", path: "/v1/secrets/" + id, header: map[string]string{"Accept": "text/html"}},
			status: 405, allow: "DELETE, GET, PUT"},
		"HEAD is not served: the reference has no HEAD handlers": {
			who: admin, req: request{method: "HEAD", path: "/v1/secrets"}, status: 405, allow: "GET, POST"},
		"HEAD asking for JSON is 406": {
			who: admin, req: request{method: "HEAD", path: "/v1/secrets/" + id, header: map[string]string{"Accept": "application/json"}},
			status: 406},
		"HEAD on a missing secret is 404 first": {
			who: admin, req: request{method: "HEAD", path: "/v1/secrets/8d3c3e43-4b1f-4e36-9b69-2f1f1e1b2d3c"}, status: 404},
		"PATCH on a payload is 405": {
			who: admin, req: request{method: "PATCH", path: "/v1/secrets/" + id + "/payload"}, status: 405, desc: ""},
		"POST on a metadatum is 405": {
			who: admin, req: request{method: "POST", path: "/v1/secrets/" + id + "/metadata/k"}, status: 405, desc: ""},
		"POST on a missing secret is 404 before 405": {
			who: admin, req: request{method: "POST", path: "/v1/secrets/8d3c3e43-4b1f-4e36-9b69-2f1f1e1b2d3c"},
			status: 404, desc: "Secret not found."},
		"a malformed secret id is 404": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/not-a-uuid"}, status: 404,
			desc: "Not Found. Provided secret id is invalid."},
		"an upper-case secret id is 404": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/" + strings.ToUpper(id)}, status: 404,
			desc: "Not Found. Provided secret id is invalid."},
		"a non-v4 uuid is 404": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/8d3c3e43-4b1f-1e36-9b69-2f1f1e1b2d3c"}, status: 404,
			desc: "Not Found. Provided secret id is invalid."},
		"an unknown sub-resource is 404": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/" + id + "/nothing"}, status: 404, desc: ""},
		"a missing secret is 404": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/8d3c3e43-4b1f-4e36-9b69-2f1f1e1b2d3c"}, status: 404,
			desc: "Secret not found."},
		"listing with Accept text/plain is 406 with a null description": {
			who: admin, req: request{method: "GET", path: "/v1/secrets", header: map[string]string{"Accept": "text/plain"}},
			status: 406, desc: "<null>"},
		"a metadatum with Accept text/html is 406 with a null description": {
			who: admin, req: request{method: "GET", path: "/v1/secrets/" + id + "/metadata/k",
				header: map[string]string{"Accept": "text/html"}}, status: 406, desc: "<null>"},
		"listing with Accept application/* is fine": {
			who: admin, req: request{method: "GET", path: "/v1/secrets", header: map[string]string{"Accept": "application/*"}},
			status: 200},
		"a create without Content-Type is 415": {
			who: admin, req: request{method: "POST", path: "/v1/secrets"}, status: 415,
			desc: "Unexpected content type. Expected content types are: ['application/json']"},
		"a create with a charset parameter is fine": {
			who: admin, req: request{method: "POST", path: "/v1/secrets", body: `{}`,
				header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, status: 201},
		"a text/plain create is 415": {
			who: admin, req: request{method: "POST", path: "/v1/secrets", body: `{}`,
				header: map[string]string{"Content-Type": "text/plain"}}, status: 415},
		"malformed JSON is 400": {
			who: admin, req: request{method: "POST", path: "/v1/secrets", body: `{"name": `}, status: 400, desc: "Malformed JSON"},
		"trailing garbage after JSON is 400": {
			who: admin, req: request{method: "POST", path: "/v1/secrets", body: `{} {}`}, status: 400, desc: "Malformed JSON"},
		"a JSON body over the request limit is cut and therefore malformed": {
			who: admin, req: request{method: "POST", path: "/v1/secrets",
				body: `{"name": "x", "algorithm": "` + strings.Repeat("a", 25000) + `"}`}, status: 400, desc: "Malformed JSON"},
		"policy comes before the content type": {
			who: as{project: "p1", roles: "observer"}, req: request{method: "POST", path: "/v1/secrets",
				header: map[string]string{"Content-Type": "text/plain"}}, status: 403,
			desc: "Secret creation attempt not allowed - please review your user/project privileges"},
		"the Accept check comes before policy": {
			who: as{project: "p1", roles: "observer"}, req: request{method: "POST", path: "/v1/secrets",
				header: map[string]string{"Accept": "text/plain"}}, status: 406},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp := s.expect(tc.who, tc.req, tc.status)
			if got := resp.header.Get("X-Openstack-Request-Id"); !requestIDPattern.MatchString(got) {
				t.Errorf("every response should carry a request id, got %q", got)
			}
			if resp.status >= 400 && resp.header.Get("Content-Type") != "application/json" {
				t.Errorf("errors should be JSON, got Content-Type %q", resp.header.Get("Content-Type"))
			}
			if tc.desc == "<null>" {
				if d := resp.description(t); d != nil {
					t.Errorf("expected a null description, got %v", d)
				}
			} else if tc.desc != nil {
				if d := resp.description(t); d != tc.desc {
					t.Errorf("expected description %q, got %q", tc.desc, d)
				}
			}
			if tc.allow != "" && resp.header.Get("Allow") != tc.allow {
				t.Errorf("expected Allow %q, got %q", tc.allow, resp.header.Get("Allow"))
			}
			if resp.header.Get("Openstack-Api-Version") == "" {
				t.Errorf("every /v1 response should echo the microversion")
			}
		})
	}
}

func TestOptionsIsAnEmpty200(t *testing.T) {
	s := newSetup(t)
	// oslo's CORS filter, outermost in the reference, answers OPTIONS itself whatever the app says, even without
	// credentials: an empty 200 with no Content-Type and no request id.
	for _, path := range []string{"/", "/v1/secrets", "/v1/secrets/not-a-uuid", "/v1/nothing"} {
		r := s.expect(as{}, request{method: "OPTIONS", path: path}, http.StatusOK)
		if len(r.body) != 0 || r.header.Get("Content-Type") != "" || r.header.Get("X-Openstack-Request-Id") != "" {
			t.Errorf("OPTIONS %s: want a bare 200, got %v %q", path, r.header, r.body)
		}
	}
}

func TestConfiguredHostHrefAndPolicy(t *testing.T) {
	s := newSetup(t,
		withConfig(func(c *Config) { c.HostHref = "https://kms.example.com:9311/" }),
		withPolicy(policy.Options{EnforceNewDefaults: true}))
	member := as{project: "p1", user: "m", roles: "member"}
	resp := s.expect(member, request{method: "POST", path: "/v1/secrets", body: `{}`}, http.StatusCreated)
	if ref := resp.json(t)["secret_ref"].(string); !strings.HasPrefix(ref, "https://kms.example.com:9311/v1/secrets/") {
		t.Errorf("hrefs should start with the configured host href, got %s", ref)
	}
	// Under the secure-RBAC defaults, the legacy creator role grants nothing.
	s.expect(as{project: "p1", user: "c", roles: "creator"}, request{method: "POST", path: "/v1/secrets", body: `{}`},
		http.StatusForbidden)
	list := s.expect(as{project: "p1", roles: "reader"}, request{method: "GET", path: "/v1/secrets"}, http.StatusForbidden)
	if !strings.HasPrefix(list.description(t).(string), "Secret(s) retrieval attempt not allowed") {
		t.Errorf("unexpected 403 body %s", list.body)
	}
	root := s.expect(as{}, request{method: "GET", path: "/", header: map[string]string{"Accept": "application/json-home"}},
		http.StatusFound)
	if loc := root.header.Get("Location"); loc != "https://kms.example.com:9311/v1/" {
		t.Errorf("json-home should redirect to the configured /v1/, got %q", loc)
	}
}
