package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/keymanager-io/keymanager/server/policy"
)

// matrixOp is one request of a policy matrix, made against a fresh entity.
type matrixOp struct {
	name   string
	req    func(id string) request
	status int // success status
}

// runMatrix makes every op as every caller, each against a fresh entity from create, and expects the op's
// success status where allowed[caller][op] says so, 403 elsewhere.
func runMatrix(t *testing.T, s *setup, callers map[string]as, ops []matrixOp, create func(op string) string,
	allowed map[string]map[string]bool) {
	t.Helper()
	for who, caller := range callers {
		for _, o := range ops {
			t.Run(who+"/"+o.name, func(t *testing.T) {
				want := http.StatusForbidden
				if allowed[who][o.name] {
					want = o.status
				}
				s.on(t).expect(caller, o.req(create(o.name)), want)
			})
		}
	}
}

// legacyCallers are the callers of the legacy-rule matrices; "alice" (creator role) creates the entities in p1.
var legacyCallers = map[string]as{
	"admin":          {project: "p1", user: "root", roles: "admin"},
	"creator-owner":  {project: "p1", user: "alice", roles: "creator"},
	"creator-other":  {project: "p1", user: "bob", roles: "creator"},
	"observer":       {project: "p1", user: "olga", roles: "observer"},
	"audit":          {project: "p1", user: "adam", roles: "audit"},
	"other-project":  {project: "p2", user: "eve", roles: "admin"},
	"no-known-roles": {project: "p1", user: "nina", roles: "member"},
}

// allow builds a matrix row from op names.
func allow(ops ...string) map[string]bool {
	m := map[string]bool{}
	for _, o := range ops {
		m[o] = true
	}
	return m
}

// TestSecretPolicyMatrix checks Barbican's legacy default rules through the API: who may do what to a secret
// that "alice" (creator role) created in project p1.
func TestSecretPolicyMatrix(t *testing.T) {
	s := newSetup(t)
	alice := legacyCallers["creator-owner"]
	consumer := `{"service": "s", "resource_type": "t", "resource_id": "r"}`
	ops := []matrixOp{
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
		{"acl-get", func(id string) request { return request{method: "GET", path: "/v1/secrets/" + id + "/acl"} }, 200},
		{"acl-put", func(id string) request {
			return request{method: "PUT", path: "/v1/secrets/" + id + "/acl", body: `{"read": {"users": ["u"]}}`}
		}, 200},
		{"acl-delete", func(id string) request { return request{method: "DELETE", path: "/v1/secrets/" + id + "/acl"} }, 200},
		{"consumers-get", func(id string) request { return request{method: "GET", path: "/v1/secrets/" + id + "/consumers"} }, 200},
		{"consumer-post", func(id string) request {
			return request{method: "POST", path: "/v1/secrets/" + id + "/consumers", body: consumer}
		}, 200},
		{"consumer-delete", func(id string) request {
			return request{method: "DELETE", path: "/v1/secrets/" + id + "/consumers", body: consumer}
		}, 200},
	}
	create := func(op string) string {
		if op == "put-payload" {
			return s.createSecret(alice, `{}`)
		}
		id := s.createSecret(alice, `{"payload": "x", "payload_content_type": "text/plain"}`)
		s.expect(alice, request{method: "POST", path: "/v1/secrets/" + id + "/consumers", body: consumer}, http.StatusOK)
		return id
	}
	reads := []string{"get", "decrypt", "metadata-get", "consumers-get", "consumer-post", "consumer-delete"}
	writes := []string{"metadata-put", "put-payload", "delete", "acl-put", "acl-delete"}
	everything := append(append([]string{"list", "create", "acl-get"}, reads...), writes...)
	// allowed[caller][op] under legacy defaults for a non-private secret (no ACL).
	runMatrix(t, s, legacyCallers, ops, create, map[string]map[string]bool{
		"admin":          allow(everything...),
		"creator-owner":  allow(everything...),
		"creator-other":  allow(everything...),
		"observer":       allow(append([]string{"list", "acl-get"}, reads...)...),
		"audit":          allow("get", "metadata-get", "consumers-get", "consumer-post", "consumer-delete"),
		"other-project":  allow("list", "create"),
		"no-known-roles": allow(),
	})

	t.Run("a private secret is hidden from project roles but not from its creator or ACL users", func(t *testing.T) {
		s := s.on(t)
		id := s.createSecret(alice, `{"payload": "x", "payload_content_type": "text/plain"}`)
		s.expect(alice, request{method: "PUT", path: "/v1/secrets/" + id + "/acl",
			body: `{"read": {"project-access": false, "users": ["carol"]}}`}, http.StatusOK)
		get := request{method: "GET", path: "/v1/secrets/" + id}
		s.expect(legacyCallers["creator-other"], get, http.StatusForbidden)
		s.expect(legacyCallers["observer"], get, http.StatusForbidden)
		s.expect(alice, get, http.StatusOK)
		s.expect(legacyCallers["admin"], get, http.StatusOK)
		carol := as{project: "p9", user: "carol", roles: "member"}
		s.expect(carol, get, http.StatusOK)
		s.expect(carol, request{method: "GET", path: "/v1/secrets/" + id + "/payload",
			header: map[string]string{"Accept": "text/plain"}}, http.StatusOK)
		s.expect(carol, request{method: "POST", path: "/v1/secrets/" + id + "/consumers", body: consumer}, http.StatusOK)
		s.expect(carol, request{method: "DELETE", path: "/v1/secrets/" + id}, http.StatusForbidden)
		s.expect(carol, request{method: "GET", path: "/v1/secrets/" + id + "/acl"}, http.StatusForbidden)
	})
}

// TestContainerPolicyMatrix checks the legacy default rules on a container that "alice" created in p1.
func TestContainerPolicyMatrix(t *testing.T) {
	s := newSetup(t)
	alice := legacyCallers["creator-owner"]
	secret := s.createSecret(alice, `{}`)
	link := fmt.Sprintf(`{"name": "a", "secret_ref": %q}`, s.secretRef(secret))
	consumer := `{"name": "lb", "URL": "http://lb"}`
	path := func(id, sub string) string { return "/v1/containers/" + id + sub }
	ops := []matrixOp{
		{"list", func(string) request { return request{method: "GET", path: "/v1/containers"} }, 200},
		{"create", func(string) request {
			return request{method: "POST", path: "/v1/containers", body: `{"type": "generic"}`}
		}, 201},
		{"get", func(id string) request { return request{method: "GET", path: path(id, "")} }, 200},
		{"delete", func(id string) request { return request{method: "DELETE", path: path(id, "")} }, 204},
		{"secret-add", func(id string) request {
			return request{method: "POST", path: path(id, "/secrets"), body: fmt.Sprintf(`{"name": "b", "secret_ref": %q}`,
				s.secretRef(secret))}
		}, 201},
		{"secret-remove", func(id string) request { return request{method: "DELETE", path: path(id, "/secrets"), body: link} }, 204},
		{"consumers-get", func(id string) request { return request{method: "GET", path: path(id, "/consumers")} }, 200},
		{"consumer-post", func(id string) request { return request{method: "POST", path: path(id, "/consumers"), body: consumer} }, 200},
		{"consumer-delete", func(id string) request {
			return request{method: "DELETE", path: path(id, "/consumers"), body: consumer}
		}, 200},
		{"acl-get", func(id string) request { return request{method: "GET", path: path(id, "/acl")} }, 200},
		{"acl-patch", func(id string) request {
			return request{method: "PATCH", path: path(id, "/acl"), body: `{"read": {"users": ["u"]}}`}
		}, 200},
		{"acl-delete", func(id string) request { return request{method: "DELETE", path: path(id, "/acl")} }, 200},
	}
	create := func(string) string {
		id := s.createContainer(alice, `{"type": "generic", "secret_refs": [`+link+`]}`)
		s.expect(alice, request{method: "POST", path: path(id, "/consumers"), body: consumer}, http.StatusOK)
		return id
	}
	reads := []string{"get", "consumers-get", "consumer-post", "consumer-delete"}
	writes := []string{"secret-add", "secret-remove", "acl-patch", "acl-delete"}
	all := append(append([]string{"list", "create", "acl-get"}, reads...), writes...)
	runMatrix(t, s, legacyCallers, ops, create, map[string]map[string]bool{
		"admin":         allow(append(all, "delete")...),
		"creator-owner": allow(append(all, "delete")...),
		// Unlike a secret, a container is deleted only by its creator or a project admin.
		"creator-other":  allow(all...),
		"observer":       allow(append([]string{"list", "acl-get"}, reads...)...),
		"audit":          allow(reads...),
		"other-project":  allow("list", "create"),
		"no-known-roles": allow(),
	})

	t.Run("consumer:get admits every known role of any project", func(t *testing.T) {
		s := s.on(t)
		id := create("")
		rows, _, err := s.db.Read(t.Context()).ListContainerConsumers(id, 0, 1)
		if err != nil || len(rows) != 1 {
			t.Fatalf("one consumer expected, got %d (%v)", len(rows), err)
		}
		one := request{method: "GET", path: path(id, "/consumers/"+rows[0].ID)}
		for _, who := range []string{"admin", "creator-other", "observer", "audit", "other-project"} {
			s.expect(legacyCallers[who], one, http.StatusOK)
		}
		s.expect(legacyCallers["no-known-roles"], one, http.StatusForbidden)
	})
}

// TestContainerPolicySecureRBAC checks the secure-RBAC defaults on containers: project members read and
// manage the project's containers, readers nothing; ACL actions see no read_project_access, so only owners and
// admins manage ACLs.
func TestContainerPolicySecureRBAC(t *testing.T) {
	s := newSetup(t, withPolicy(policy.Options{EnforceNewDefaults: true}))
	owner := as{project: "p1", user: "alice", roles: "member"}
	member := as{project: "p1", user: "bob", roles: "member"}
	reader := as{project: "p1", user: "rita", roles: "reader"}
	id := s.createContainer(owner, `{"type": "generic"}`)
	get := request{method: "GET", path: "/v1/containers/" + id}
	acl := request{method: "GET", path: "/v1/containers/" + id + "/acl"}
	s.expect(member, get, http.StatusOK)
	s.expect(reader, get, http.StatusForbidden)
	s.expect(reader, request{method: "GET", path: "/v1/containers"}, http.StatusForbidden)
	s.expect(owner, acl, http.StatusOK)
	s.expect(member, acl, http.StatusForbidden)
	s.expect(as{project: "p1", user: "root", roles: "admin"}, acl, http.StatusOK)
	s.expect(owner, request{method: "PUT", path: acl.path, body: `{"read": {"project-access": false}}`}, http.StatusOK)
	s.expect(member, get, http.StatusForbidden)
	s.expect(owner, get, http.StatusOK)
	s.expect(member, request{method: "DELETE", path: get.path}, http.StatusForbidden)
	s.expect(owner, request{method: "DELETE", path: get.path}, http.StatusNoContent)
}
