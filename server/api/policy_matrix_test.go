package api

import (
	"net/http"
	"testing"
)

// TestSecretPolicyMatrix checks Barbican's legacy default rules through the API: who may do what to a secret
// that "alice" (creator role) created in project p1.
func TestSecretPolicyMatrix(t *testing.T) {
	s := newSetup(t)
	alice := as{project: "p1", user: "alice", roles: "creator"}
	callers := map[string]as{
		"admin":          {project: "p1", user: "root", roles: "admin"},
		"creator-owner":  alice,
		"creator-other":  {project: "p1", user: "bob", roles: "creator"},
		"observer":       {project: "p1", user: "olga", roles: "observer"},
		"audit":          {project: "p1", user: "adam", roles: "audit"},
		"other-project":  {project: "p2", user: "eve", roles: "admin"},
		"no-known-roles": {project: "p1", user: "nina", roles: "member"},
	}
	type op struct {
		name   string
		req    func(id string) request
		status int // success status
	}
	ops := []op{
		{"list", func(string) request { return request{method: "GET", path: "/v1/secrets"} }, 200},
		{"create", func(string) request { return request{method: "POST", path: "/v1/secrets", body: `{}`} }, 201},
		{"get", func(id string) request { return request{method: "GET", path: "/v1/secrets/" + id} }, 200},
		{"decrypt", func(id string) request {
			return request{method: "GET", path: "/v1/secrets/" + id + "/payload", header: map[string]string{"Accept": "text/plain"}}
		}, 200},
		{"metadata-get", func(id string) request { return request{method: "GET", path: "/v1/secrets/" + id + "/metadata"} }, 200},
		{"metadata-put", func(id string) request {
			return request{method: "PUT", path: "/v1/secrets/" + id + "/metadata", body: `{"metadata": {"k": "v"}}`}
		}, 201},
		{"put-payload", func(id string) request {
			return request{method: "PUT", path: "/v1/secrets/" + id, body: "x", header: map[string]string{"Content-Type": "text/plain"}}
		}, 204},
		{"delete", func(id string) request { return request{method: "DELETE", path: "/v1/secrets/" + id} }, 204},
	}
	// allowed[caller][op] under legacy defaults for a non-private secret (no ACL).
	allowed := map[string]map[string]bool{
		"admin":          {"list": true, "create": true, "get": true, "decrypt": true, "metadata-get": true, "metadata-put": true, "put-payload": true, "delete": true},
		"creator-owner":  {"list": true, "create": true, "get": true, "decrypt": true, "metadata-get": true, "metadata-put": true, "put-payload": true, "delete": true},
		"creator-other":  {"list": true, "create": true, "get": true, "decrypt": true, "metadata-get": true, "metadata-put": true, "put-payload": true, "delete": true},
		"observer":       {"list": true, "get": true, "decrypt": true, "metadata-get": true},
		"audit":          {"get": true, "metadata-get": true},
		"other-project":  {"list": true, "create": true},
		"no-known-roles": {},
	}
	for who, caller := range callers {
		for _, o := range ops {
			t.Run(who+"/"+o.name, func(t *testing.T) {
				// A fresh secret per case: put-payload and delete consume it.
				id := s.createSecret(alice, `{"payload": "x", "payload_content_type": "text/plain"}`)
				if o.name == "put-payload" {
					id = s.createSecret(alice, `{}`)
				}
				want := http.StatusForbidden
				if allowed[who][o.name] {
					want = o.status
				}
				s.expect(caller, o.req(id), want)
			})
		}
	}

	t.Run("a private secret is hidden from project roles but not from its creator or ACL users", func(t *testing.T) {
		id := s.createSecret(alice, `{"payload": "x", "payload_content_type": "text/plain"}`)
		s.expect(alice, request{method: "PUT", path: "/v1/secrets/" + id + "/acl",
			body: `{"read": {"project-access": false, "users": ["carol"]}}`}, http.StatusOK)
		get := request{method: "GET", path: "/v1/secrets/" + id}
		s.expect(callers["creator-other"], get, http.StatusForbidden)
		s.expect(callers["observer"], get, http.StatusForbidden)
		s.expect(alice, get, http.StatusOK)
		s.expect(callers["admin"], get, http.StatusOK)
		s.expect(as{project: "p9", user: "carol", roles: "member"}, get, http.StatusOK)
		s.expect(as{project: "p9", user: "carol", roles: "member"}, request{method: "GET",
			path: "/v1/secrets/" + id + "/payload", header: map[string]string{"Accept": "text/plain"}}, http.StatusOK)
		s.expect(as{project: "p9", user: "carol", roles: "member"}, request{method: "DELETE", path: "/v1/secrets/" + id}, http.StatusForbidden)
	})
}
