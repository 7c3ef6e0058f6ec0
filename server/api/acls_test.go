package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// aclKind is one of the two kinds of entity with ACLs, as the tests drive them.
type aclKind struct {
	collection, noun string // "secrets", "Secret"
	create           func(s *setup, who as) string
	badID, notFound  string
}

var aclKinds = []aclKind{
	{collection: "secrets", noun: "Secret", create: func(s *setup, who as) string { return s.createSecret(who, `{}`) },
		badID: "Not Found. Provided secret id is invalid.", notFound: "Secret not found."},
	{collection: "containers", noun: "Container",
		create: func(s *setup, who as) string { return s.createContainer(who, `{"type": "generic"}`) },
		badID:  "Not Found. Provided container id is invalid.", notFound: "Secrets container not found."},
}

func TestACLs(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		for _, k := range aclKinds {
			t.Logf("kind: %s", k.collection)
			id := k.create(s, admin)
			path := "/v1/" + k.collection + "/" + id + "/acl"
			entity := "/v1/" + k.collection + "/" + id
			aclRef := map[string]string{"acl_ref": s.server.URL + path}
			get := func() response { return s.expect(admin, request{method: "GET", path: path}, http.StatusOK) }
			write := func(method, body string) {
				t.Helper()
				s.expect(admin, request{method: method, path: path, body: body}, http.StatusOK).jsonEqual(t, aclRef)
			}
			implicit := map[string]any{"read": map[string]any{"project-access": true}}
			acl := func(projectAccess bool, users []string, created, updated time.Time) map[string]any {
				return map[string]any{"read": map[string]any{"project-access": projectAccess, "users": users,
					"created": isoformat(created), "updated": isoformat(updated)}}
			}
			updatedOf := func() string {
				return s.expect(admin, request{method: "GET", path: entity}, http.StatusOK).json(t)["updated"].(string)
			}

			get().jsonEqual(t, implicit)
			s.clock.Advance(time.Second)
			t1 := s.clock.Now()
			write("PUT", `{"read": {"users": ["b", "a", "a"], "project-access": false}}`)
			get().jsonEqual(t, acl(false, []string{"a", "b"}, t1, t1))
			if got := updatedOf(); got != isoformat(t1) {
				t.Fatalf("an ACL write should bump the %s's updated, got %s", k.noun, got)
			}

			s.clock.Advance(time.Second)
			t2 := s.clock.Now()
			write("PATCH", `{"read": {"users": ["c"]}}`)
			get().jsonEqual(t, acl(false, []string{"c"}, t1, t2))
			s.clock.Advance(time.Second)
			t3 := s.clock.Now()
			write("PATCH", `{"read": {"project-access": true}}`)
			get().jsonEqual(t, acl(true, []string{"c"}, t1, t3))

			// An empty 'read' or an empty body leaves a PATCH without effect.
			s.clock.Advance(time.Second)
			write("PATCH", `{"read": {}}`)
			write("PATCH", `{}`)
			get().jsonEqual(t, acl(true, []string{"c"}, t1, t3))
			if got := updatedOf(); got != isoformat(t3) {
				t.Fatalf("a PATCH without 'read' should not touch the %s, got updated %s", k.noun, got)
			}

			// PUT replaces: project access defaults to true, users to none.
			write("PATCH", `{"read": {"project-access": false}}`)
			t4 := s.clock.Now()
			write("PUT", `{"read": {"users": ["x"]}}`)
			get().jsonEqual(t, acl(true, []string{"x"}, t1, t4))
			write("PUT", `{"read": {"project-access": false}}`)
			get().jsonEqual(t, acl(false, []string{}, t1, t4))
			// A PUT that leaves 'read' out, or gives it empty, deletes it.
			write("PUT", `{"read": {}}`)
			get().jsonEqual(t, implicit)
			write("PATCH", `{"read": {"users": ["u"]}}`)
			get().jsonEqual(t, acl(true, []string{"u"}, t4, t4))
			write("PUT", `{}`)
			get().jsonEqual(t, implicit)

			write("PUT", `{"read": {"users": ["u"]}}`)
			for range 2 {
				r := s.expect(admin, request{method: "DELETE", path: path}, http.StatusOK)
				if strings.TrimSpace(string(r.body)) != "null" || r.header.Get("Content-Type") != "application/json" {
					t.Fatalf("DELETE should answer the JSON null, got %q (%s)", r.body, r.header.Get("Content-Type"))
				}
			}
			get().jsonEqual(t, implicit)
		}
	})
}

func TestACLValidation(t *testing.T) {
	s := newSetup(t)
	const prefix = "Provided object does not match schema 'ACL': "
	long := strings.Repeat("u", 256)
	cases := []struct{ name, body, desc string }{
		{"only read is known", `{"write": {}}`, prefix + "Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'"},
		{"the body must be an object", `[]`, prefix + "[] is not of type 'object'. Invalid property: 'None'"},
		{"read must be an object", `{"read": null}`, prefix + "None is not of type 'object'. Invalid property: 'read'"},
		{"users must be a list", `{"read": {"users": "x"}}`, prefix + "'x' is not of type 'array'. Invalid property: 'read'"},
		{"a user must be a string", `{"read": {"users": [1]}}`, prefix + "1 is not of type 'string'. Invalid property: 'read'"},
		// The reference checks only the first user and fails later on the others; every one is checked here.
		{"every user must be a string", `{"read": {"users": ["a", {"b": 2}]}}`,
			prefix + "{'b': 2} is not of type 'string'. Invalid property: 'read'"},
		{"a user id fits 255 characters", `{"read": {"users": ["` + long + `"]}}`,
			prefix + "'" + long + "' is too long. Invalid property: 'read'"},
		{"project-access is a boolean", `{"read": {"project-access": 1}}`,
			prefix + "1 is not of type 'boolean'. Invalid property: 'read'"},
		{"read takes nothing else", `{"read": {"foo": 1}}`,
			prefix + "Additional properties are not allowed ('foo' was unexpected). Invalid property: 'read'"},
		{"a fault higher up wins", `{"read": {"users": [1]}, "write": {}}`,
			prefix + "Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'"},
		{"malformed JSON", `{"read": `, "Malformed JSON"},
	}
	for _, k := range aclKinds {
		id := k.create(s, admin)
		path := "/v1/" + k.collection + "/" + id + "/acl"
		for _, method := range []string{"PUT", "PATCH"} {
			for _, c := range cases {
				t.Logf("%s %s: %s", method, k.collection, c.name)
				s.expectError(admin, request{method: method, path: path, body: c.body}, http.StatusBadRequest, c.desc)
			}
			s.expectError(admin, request{method: method, path: path, body: `{}`,
				header: map[string]string{"Content-Type": "text/plain"}}, http.StatusUnsupportedMediaType,
				"Unexpected content type. Expected content types are: ['application/json']")
			s.expectError(as{project: "p2"}, request{method: method, path: path, body: `{}`}, http.StatusForbidden,
				k.noun+"ACL(s) Update attempt not allowed - please review your user/project privileges")
		}
		s.expectError(as{project: "p2"}, request{method: "GET", path: path}, http.StatusForbidden,
			k.noun+"ACL(s) retrieval attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p2"}, request{method: "DELETE", path: path}, http.StatusForbidden,
			k.noun+"ACL(s) deletion attempt not allowed - please review your user/project privileges")
		s.expectError(admin, request{method: "GET", path: path, header: map[string]string{"Accept": "text/plain"}},
			http.StatusNotAcceptable, nil)
		s.expectError(admin, request{method: "GET", path: "/v1/" + k.collection + "/nope/acl"}, http.StatusNotFound, k.badID)
		s.expectError(admin, request{method: "PUT", path: "/v1/" + k.collection + "/6f9e1b1a-7c1d-4e8f-9a2b-3c4d5e6f7a8b/acl",
			body: `{}`}, http.StatusNotFound, k.notFound)
		r := s.expect(admin, request{method: "POST", path: path, body: `{}`}, http.StatusMethodNotAllowed)
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "PATCH") {
			t.Fatalf("a 405 on the ACL should list its methods, got %q", allow)
		}
	}
}

// TestACLsGovernReads shows ACLs at work through the API: a private entity is hidden from the project's other
// users and shown to the users on its ACL, whatever their project.
func TestACLsGovernReads(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		alice := as{project: "p1", user: "alice", roles: "creator"}
		bob := as{project: "p1", user: "bob", roles: "creator"}
		olga := as{project: "p1", user: "olga", roles: "observer"}
		carol := as{project: "p9", user: "carol", roles: "member"}
		for _, k := range aclKinds {
			t.Logf("kind: %s", k.collection)
			id := k.create(s, alice)
			get := request{method: "GET", path: "/v1/" + k.collection + "/" + id}
			s.expect(bob, get, http.StatusOK)
			s.expect(olga, get, http.StatusOK)
			s.expect(carol, get, http.StatusForbidden)

			s.expect(alice, request{method: "PUT", path: get.path + "/acl",
				body: `{"read": {"project-access": false, "users": ["carol"]}}`}, http.StatusOK)
			s.expectError(bob, get, http.StatusForbidden,
				k.noun+" retrieval attempt not allowed - please review your user/project privileges")
			s.expect(olga, get, http.StatusForbidden)
			s.expect(alice, get, http.StatusOK)
			s.expect(admin, get, http.StatusOK)
			s.expect(carol, get, http.StatusOK)
			// The ACL grants reading, not deleting.
			s.expect(carol, request{method: "DELETE", path: get.path}, http.StatusForbidden)
			// ACL actions do not see the ACL: bob, a creator of the project, may still manage it.
			s.expect(bob, request{method: "GET", path: get.path + "/acl"}, http.StatusOK)

			s.expect(alice, request{method: "PATCH", path: get.path + "/acl", body: `{"read": {"project-access": true}}`},
				http.StatusOK)
			s.expect(bob, get, http.StatusOK)
			s.expect(carol, get, http.StatusOK)
			s.expect(alice, request{method: "DELETE", path: get.path + "/acl"}, http.StatusOK)
			s.expect(carol, get, http.StatusForbidden)
		}

		// acl_only lists the secrets whose read ACL names the caller, in any project (listing needs a role).
		carol.roles = "observer"
		id := s.createSecret(alice, `{"name": "shared"}`)
		s.expect(alice, request{method: "PUT", path: "/v1/secrets/" + id + "/acl", body: `{"read": {"users": ["carol"]}}`},
			http.StatusOK)
		list := s.expect(carol, request{method: "GET", path: "/v1/secrets?acl_only=true"}, http.StatusOK).json(t)
		secrets := list["secrets"].([]any)
		if list["total"] != float64(1) || len(secrets) != 1 || idOf(secrets[0].(map[string]any)["secret_ref"].(string)) != id {
			t.Fatalf("carol's acl_only list should hold the shared secret alone, got %v", list)
		}
	})
}
