package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestSecretStoresNeedMultipleBackends(t *testing.T) {
	s := newSetup(t)
	for _, path := range []string{"/v1/secret-stores", "/v1/secret-stores/global-default", "/v1/secret-stores/preferred",
		"/v1/secret-stores/0b1d6c2e-9f1a-4d3b-8c5e-7a6f4e3d2c1b", "/v1/secret-stores/x/preferred"} {
		r := s.expect(admin, request{method: "GET", path: path}, http.StatusNotFound)
		if d := r.description(t); d != "Not Found. Multiple backends support is not enabled in service configuration." {
			t.Errorf("%s: unexpected %v", path, d)
		}
	}
	// Policy comes first on the collection routes, as the reference's decorators run before the mode check.
	r := s.expect(as{project: "p1", roles: "nobody"}, request{method: "GET", path: "/v1/secret-stores"}, http.StatusForbidden)
	if d := r.description(t); d != "List available secret stores attempt not allowed - please review your user/project privileges" {
		t.Errorf("unexpected %v", d)
	}
}

func TestSecretStores(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withMultipleBackends())...)
		m := s.expect(admin, request{method: "GET", path: "/v1/secret-stores"}, 200).json(t)
		list, _ := m["secret_stores"].([]any)
		if len(list) != 1 || len(m) != 1 {
			t.Fatalf("one configured store, no paging: %v", m)
		}
		st := list[0].(map[string]any)
		ref, _ := st["secret_store_ref"].(string)
		if st["name"] != "Software Only Crypto" || st["secret_store_plugin"] != "store_crypto" ||
			st["crypto_plugin"] != "simple_crypto" || st["global_default"] != true || st["status"] != "ACTIVE" ||
			!strings.HasPrefix(ref, s.server.URL+"/v1/secret-stores/") || st["created"] == nil || len(st) != 8 {
			t.Fatalf("unexpected store %v", st)
		}
		id := ref[strings.LastIndexByte(ref, '/')+1:]
		if got := s.expect(admin, request{method: "GET", path: "/v1/secret-stores/global-default"}, 200).json(t); got["secret_store_ref"] != ref {
			t.Errorf("global default: %v", got)
		}
		if got := s.expect(admin, request{method: "GET", path: "/v1/secret-stores/" + id}, 200).json(t); got["name"] != st["name"] {
			t.Errorf("store by id: %v", got)
		}

		noPreference := "Not Found. No preferred secret store defined for this project."
		if d := s.expect(admin, request{method: "GET", path: "/v1/secret-stores/preferred"}, 404).description(t); d != noPreference {
			t.Errorf("unexpected %v", d)
		}
		if d := s.expect(admin, request{method: "DELETE", path: "/v1/secret-stores/" + id + "/preferred"}, 404).description(t); d != noPreference {
			t.Errorf("unexpected %v", d)
		}
		// Setting the preference needs the admin role; reading the stores any role.
		s.expect(as{project: "p1", roles: "creator"}, request{method: "POST", path: "/v1/secret-stores/" + id + "/preferred"}, 403)
		r := s.expect(admin, request{method: "POST", path: "/v1/secret-stores/" + id + "/preferred"}, http.StatusNoContent)
		if len(r.body) != 0 {
			t.Errorf("204 with a body %s", r.body)
		}
		s.expect(admin, request{method: "POST", path: "/v1/secret-stores/" + id + "/preferred"}, http.StatusNoContent)
		if got := s.expect(admin, request{method: "GET", path: "/v1/secret-stores/preferred"}, 200).json(t); got["secret_store_ref"] != ref {
			t.Errorf("preferred: %v", got)
		}
		// New secrets of the project go to its preferred store and read back.
		secret := s.createSecret(admin, `{"payload": "kept", "payload_content_type": "text/plain"}`)
		if got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + secret + "/payload"}, 200); string(got.body) != "kept" {
			t.Errorf("payload %q", got.body)
		}
		s.expect(as{project: "other", roles: "admin"}, request{method: "GET", path: "/v1/secret-stores/preferred"}, 404)
		s.expect(admin, request{method: "DELETE", path: "/v1/secret-stores/" + id + "/preferred"}, http.StatusNoContent)
		s.expect(admin, request{method: "GET", path: "/v1/secret-stores/preferred"}, 404)

		for name, tc := range map[string]struct {
			req    request
			status int
			desc   any
		}{
			"an unknown store":             {request{method: "GET", path: "/v1/secret-stores/nope"}, 404, "Not Found. Secret store not found."},
			"an unknown store's sub-path":  {request{method: "POST", path: "/v1/secret-stores/nope/preferred"}, 404, "Not Found. Secret store not found."},
			"another sub-path of a store":  {request{method: "GET", path: "/v1/secret-stores/" + id + "/other"}, 405, nil},
			"GET of the preference action": {request{method: "GET", path: "/v1/secret-stores/" + id + "/preferred"}, 405, nil},
		} {
			t.Run(name, func(t *testing.T) {
				r := s.do(admin, tc.req)
				if r.status != tc.status {
					t.Fatalf("want %d, got %d %s", tc.status, r.status, r.body)
				}
				if d := r.description(t); tc.desc != nil && d != tc.desc {
					t.Errorf("want %q, got %v", tc.desc, d)
				}
			})
		}
	})
}
