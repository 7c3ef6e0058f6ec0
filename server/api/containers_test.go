package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestContainers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		alice := as{project: "p1", user: "alice", roles: "creator"}
		pub := s.createSecret(alice, `{"name": "pub"}`)
		priv := s.createSecret(alice, `{"name": "priv"}`)
		created := isoformat(s.clock.Now())

		resp := s.expect(alice, request{method: "POST", path: "/v1/containers/", body: fmt.Sprintf(`{"type": "rsa",
			"name": " pair ", "secret_refs": [{"name": "public_key", "secret_ref": %q},
			{"name": "private_key", "secret_ref": %q}]}`, s.secretRef(pub), s.secretRef(priv))}, http.StatusCreated)
		ref := resp.json(t)["container_ref"].(string)
		id := idOf(ref)
		if ref != s.server.URL+"/v1/containers/"+id || !isUUID4(id) || resp.header.Get("Location") != ref {
			t.Fatalf("container_ref %q and Location %q should be the container's href", ref, resp.header.Get("Location"))
		}
		resp.jsonEqual(t, map[string]string{"container_ref": ref})

		want := map[string]any{
			"created": created, "updated": created, "status": "ACTIVE", "name": "pair", "type": "rsa",
			"creator_id": "alice", "container_ref": ref,
			// References created together come by name.
			"secret_refs": []map[string]any{
				{"name": "private_key", "secret_ref": s.secretRef(priv)},
				{"name": "public_key", "secret_ref": s.secretRef(pub)},
			},
			"consumers": []any{},
		}
		s.expect(alice, request{method: "GET", path: "/v1/containers/" + id}, http.StatusOK).jsonEqual(t, want)
		s.expect(alice, request{method: "GET", path: "/v1/containers/" + id + "/"}, http.StatusOK).jsonEqual(t, want)

		anon := s.createContainer(as{project: "p1"}, `{"type": "generic", "name": null}`)
		s.expect(as{project: "p1"}, request{method: "GET", path: "/v1/containers/" + anon}, http.StatusOK).jsonEqual(t,
			map[string]any{"created": created, "updated": created, "status": "ACTIVE", "name": nil, "type": "generic",
				"creator_id": nil, "container_ref": s.server.URL + "/v1/containers/" + anon, "secret_refs": []any{},
				"consumers": []any{}})

		// An rsa or certificate container without references is accepted, as in the reference.
		s.createContainer(alice, `{"type": "certificate"}`)

		// Deleting a secret removes it from the containers that reference it.
		s.expect(alice, request{method: "DELETE", path: "/v1/secrets/" + pub}, http.StatusNoContent)
		got := s.expect(alice, request{method: "GET", path: "/v1/containers/" + id}, http.StatusOK).json(t)
		if refs := got["secret_refs"].([]any); len(refs) != 1 || refs[0].(map[string]any)["name"] != "private_key" {
			t.Fatalf("the deleted secret should be gone from the container, got %v", refs)
		}

		r := s.expect(alice, request{method: "DELETE", path: "/v1/containers/" + id}, http.StatusNoContent)
		if len(r.body) != 0 || r.header.Get("Content-Type") != "" {
			t.Fatalf("a 204 has no body and no type, got %q %q", r.body, r.header.Get("Content-Type"))
		}
		s.expectError(alice, request{method: "GET", path: "/v1/containers/" + id}, http.StatusNotFound,
			"Secrets container not found.")
		s.expectError(alice, request{method: "DELETE", path: "/v1/containers/" + id}, http.StatusNotFound,
			"Secrets container not found.")
		s.expect(alice, request{method: "GET", path: "/v1/secrets/" + priv}, http.StatusOK)
	})
}

func TestContainerLookupAndRouting(t *testing.T) {
	s := newSetup(t)
	id := s.createContainer(admin, `{"type": "generic"}`)
	for _, path := range []string{"/v1/containers/" + strings.ToUpper(id), "/v1/containers/not-a-uuid",
		"/v1/containers/not-a-uuid/acl", "/v1/containers/not-a-uuid/consumers", "/v1/containers/not-a-uuid/secrets"} {
		s.expectError(admin, request{method: "GET", path: path}, http.StatusNotFound,
			"Not Found. Provided container id is invalid.")
	}
	unknown := "/v1/containers/0b8e0e2c-5e5a-4d1c-9d7c-3f3a1d2c4b5a"
	for _, req := range []request{{method: "GET", path: unknown}, {method: "PUT", path: unknown},
		{method: "GET", path: unknown + "/nothing"}, {method: "PATCH", path: unknown + "/secrets"}} {
		s.expectError(admin, req, http.StatusNotFound, "Secrets container not found.")
	}
	s.expectError(admin, request{method: "GET", path: "/v1/containers/" + id + "/nothing"}, http.StatusNotFound, "")
	r := s.expect(admin, request{method: "PUT", path: "/v1/containers/" + id}, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") {
		t.Fatalf("a 405 should list the methods, got Allow %q", allow)
	}
	s.expect(admin, request{method: "PATCH", path: "/v1/containers"}, http.StatusMethodNotAllowed)
	s.expect(admin, request{method: "GET", path: "/v1/containers/" + id + "/secrets"}, http.StatusMethodNotAllowed)

	// Another project's container is found, then refused: 403, not 404.
	s.expectError(as{project: "p2"}, request{method: "GET", path: "/v1/containers/" + id}, http.StatusForbidden,
		"Container retrieval attempt not allowed - please review your user/project privileges")
	s.expectError(as{project: "p2"}, request{method: "DELETE", path: "/v1/containers/" + id}, http.StatusForbidden,
		"Container deletion attempt not allowed - please review your user/project privileges")
	// The all-types DELETE accepts any known type; the JSON GET does not.
	s.expectError(admin, request{method: "GET", path: "/v1/containers/" + id,
		header: map[string]string{"Accept": "text/plain"}}, http.StatusNotAcceptable, nil)
}

func TestCreateContainerValidation(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		a1 := s.secretRef(s.createSecret(admin, `{}`))
		a2 := s.secretRef(s.createSecret(admin, `{}`))
		a3 := s.secretRef(s.createSecret(admin, `{}`))
		foreign := s.secretRef(s.createSecret(as{project: "p2"}, `{}`))
		gone := s.createSecret(admin, `{}`)
		s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + gone}, http.StatusNoContent)
		expiring := s.secretRef(s.createSecret(admin, fmt.Sprintf(`{"expiration": %q}`,
			isoformat(s.clock.Now().Add(time.Hour)))))
		const prefix = "Provided object does not match schema 'Container': "
		ref := func(name, href string) string {
			if name == "-" {
				return fmt.Sprintf(`{"secret_ref": %q}`, href)
			}
			return fmt.Sprintf(`{"name": %s, "secret_ref": %q}`, name, href)
		}
		refs := func(typ string, items ...string) string {
			return fmt.Sprintf(`{"type": %q, "secret_refs": [%s]}`, typ, strings.Join(items, ", "))
		}
		cases := []struct {
			name, body string
			status     int
			desc       string
		}{
			{"type is required", `{}`, 400, prefix + "'type' is a required property. Invalid property: 'None'"},
			{"the body must be an object", `[]`, 400, prefix + "[] is not of type 'object'. Invalid property: 'None'"},
			{"malformed JSON", `{"type": `, 400, "Malformed JSON"},
			{"unknown type", `{"type": "dsa"}`, 400,
				prefix + "'dsa' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'"},
			{"a missing type wins over a bad name", `{"name": 5}`, 400,
				prefix + "'type' is a required property. Invalid property: 'None'"},
			{"a wrong type wins over a bad enum value", `{"type": "foo", "name": 5}`, 400,
				prefix + "5 is not of type 'string', 'null'. Invalid property: 'name'"},
			{"long name", `{"type": "generic", "name": "` + strings.Repeat("n", 256) + `"}`, 400,
				prefix + "'" + strings.Repeat("n", 256) + "' is too long. Invalid property: 'name'"},
			{"secret_refs must be a list", `{"type": "generic", "secret_refs": "x"}`, 400,
				prefix + "'x' is not of type 'array'. Invalid property: 'secret_refs'"},
			{"a reference must be an object", `{"type": "generic", "secret_refs": [1, {}]}`, 400,
				prefix + "1 is not of type 'object'. Invalid property: 'secret_refs'"},
			{"a reference needs secret_ref", `{"type": "generic", "secret_refs": [{"name": "x"}]}`, 400,
				prefix + "'secret_ref' is a required property. Invalid property: 'secret_refs'"},
			{"secret_ref must not be blank", `{"type": "generic", "secret_refs": [{"secret_ref": "  "}]}`, 400,
				prefix + "'' is too short. Invalid property: 'secret_refs'"},
			{"a top-level fault wins over a nested one",
				`{"type": "generic", "secret_refs": [{"secret_ref": "x", "name": 5}], "name": 7}`, 400,
				prefix + "7 is not of type 'string', 'null'. Invalid property: 'name'"},
			{"two unnamed references have duplicate names", refs("generic", ref("-", a1), ref("-", a2)), 400,
				prefix + "Duplicate reference names are not allowed. Invalid property: 'secret_refs'"},
			{"an unnamed and a null-named reference do not", refs("generic", ref("null", a1), ref("-", a2)), 201, ""},
			{"duplicate names", refs("generic", ref(`"k"`, a1), ref(`"k"`, a2)), 400,
				prefix + "Duplicate reference names are not allowed. Invalid property: 'secret_refs'"},
			{"duplicate ids, one with a trailing slash", refs("generic", ref(`"a"`, a1), ref(`"b"`, a1+"/")), 400,
				prefix + "Duplicate secret ids are not allowed. Invalid property: 'secret_refs'"},
			{"duplicate names are reported before a foreign host",
				refs("generic", ref(`"k"`, "http://elsewhere/v1/secrets/x"), ref(`"k"`, a2)), 400,
				prefix + "Duplicate reference names are not allowed. Invalid property: 'secret_refs'"},
			{"a reference to another host", refs("generic", ref(`"k"`, "http://elsewhere/v1/secrets/x")), 400,
				"Provided field value is not supported"},
			{"a bare id is not under the href base", refs("generic", ref(`"k"`, idOf(a1))), 400,
				"Provided field value is not supported"},
			{"the host is checked before the rsa names",
				refs("rsa", ref(`"k"`, "http://elsewhere/v1/secrets/x")), 400, "Provided field value is not supported"},
			{"rsa with a foreign name", refs("rsa", ref(`"public_key"`, a1), ref(`"private_key"`, a2), ref(`"x"`, a3)), 400,
				prefix + "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type. Invalid property: 'secret_refs'"},
			{"rsa with an unnamed reference", refs("rsa", ref(`"public_key"`, a1), ref(`"private_key"`, a2), ref("-", a3)), 400,
				prefix + "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type. Invalid property: 'secret_refs'"},
			{"rsa without its private key", refs("rsa", ref(`"public_key"`, a1)), 400,
				prefix + "The minimum required reference names are 'public_key' and'private_key' for RSA type. Invalid property: 'secret_refs'"},
			{"rsa complete", refs("rsa", ref(`"public_key"`, a1), ref(`"private_key"`, a2),
				ref(`"private_key_passphrase"`, a3)), 201, ""},
			{"certificate with a foreign name", refs("certificate", ref(`"certificate"`, a1), ref(`"public_key"`, a2)), 400,
				prefix + "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type. Invalid property: 'secret_refs'"},
			{"certificate without certificate", refs("certificate", ref(`"intermediates"`, a1)), 400,
				prefix + "The minimum required reference name is 'certificate' for Certificate type. Invalid property: 'secret_refs'"},
			{"certificate complete", refs("certificate", ref(`"certificate"`, a1), ref(`"intermediates"`, a2),
				ref(`"private_key"`, a3)), 201, ""},
			{"another project's secret", refs("generic", ref(`"mine"`, a1), ref(`"theirs"`, foreign)), 404,
				"Secret provided for 'theirs' doesn't exist."},
			{"an unnamed reference is named None", refs("generic", ref("-", foreign)), 404,
				"Secret provided for 'None' doesn't exist."},
			{"a deleted secret", refs("generic", ref(`"x"`, s.secretRef(gone))), 404, "Secret provided for 'x' doesn't exist."},
			{"an unknown id", refs("generic", ref(`"x"`, s.server.URL+"/v1/secrets/nope")), 404,
				"Secret provided for 'x' doesn't exist."},
			{"a live secret that expires later", refs("generic", ref(`"x"`, expiring)), 201, ""},
		}
		for _, c := range cases {
			t.Logf("case: %s", c.name)
			req := request{method: "POST", path: "/v1/containers", body: c.body}
			if c.status == http.StatusCreated {
				s.expect(admin, req, c.status)
				continue
			}
			s.expectError(admin, req, c.status, c.desc)
		}

		s.clock.Advance(2 * time.Hour)
		s.expectError(admin, request{method: "POST", path: "/v1/containers", body: refs("generic", ref(`"x"`, expiring))},
			http.StatusNotFound, "Secret provided for 'x' doesn't exist.")

		// The order of checks: 406, then 403, then 415, then the body.
		observer := as{project: "p1", user: "o", roles: "observer"}
		textAccept := map[string]string{"Accept": "text/plain"}
		textBody := map[string]string{"Content-Type": "text/plain"}
		s.expectError(observer, request{method: "POST", path: "/v1/containers", body: `{`, header: textAccept},
			http.StatusNotAcceptable, nil)
		s.expectError(observer, request{method: "POST", path: "/v1/containers", body: `{`, header: textBody},
			http.StatusForbidden, "Container creation attempt not allowed - please review your user/project privileges")
		s.expectError(admin, request{method: "POST", path: "/v1/containers", body: `{`, header: textBody},
			http.StatusUnsupportedMediaType, "Unexpected content type. Expected content types are: ['application/json']")
	})
}

func TestListContainers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		s.expect(admin, request{method: "GET", path: "/v1/containers"}, http.StatusOK).jsonEqual(t,
			map[string]any{"containers": []any{}, "total": 0})
		var ids []string
		for i := range 7 {
			typ := "generic"
			if i%3 == 0 {
				typ = "certificate"
			}
			ids = append(ids, s.createContainer(admin, fmt.Sprintf(`{"type": %q, "name": "c-%d"}`, typ, i)))
			s.clock.Advance(time.Second) // distinct created_at, second precision as on MariaDB
		}
		s.createContainer(as{project: "p2"}, `{"type": "generic", "name": "c-other"}`)
		base := s.server.URL + "/v1/containers"

		page := s.expect(admin, request{method: "GET", path: "/v1/containers?limit=2&offset=2"}, http.StatusOK).json(t)
		items := page["containers"].([]any)
		if len(items) != 2 || page["total"] != float64(7) ||
			items[0].(map[string]any)["container_ref"] != base+"/"+ids[2] || items[1].(map[string]any)["name"] != "c-3" {
			t.Fatalf("page 2..3 of 7 oldest first expected, got %v", page)
		}
		if page["previous"] != base+"?limit=2&offset=0" || page["next"] != base+"?limit=2&offset=4" || len(page) != 4 {
			t.Fatalf("paging links expected, got %v", page)
		}
		first := items[0].(map[string]any)
		want := s.expect(admin, request{method: "GET", path: "/v1/containers/" + ids[2]}, http.StatusOK).json(t)
		if fmt.Sprint(first) != fmt.Sprint(want) {
			t.Fatalf("a listed container should be rendered as GET renders it:\n%v\n%v", first, want)
		}

		last := s.expect(admin, request{method: "GET", path: "/v1/containers?limit=5&offset=5"}, http.StatusOK).json(t)
		if _, hasNext := last["next"]; hasNext || last["previous"] != base+"?limit=5&offset=0" {
			t.Fatalf("the last page has only a previous link, got %v", last)
		}
		s.expect(admin, request{method: "GET", path: "/v1/containers?offset=10"}, http.StatusOK).jsonEqual(t,
			map[string]any{"containers": []any{}, "total": 7})

		certs := s.expect(admin, request{method: "GET", path: "/v1/containers?type=certificate"}, http.StatusOK).json(t)
		if certs["total"] != float64(3) || len(certs["containers"].([]any)) != 3 {
			t.Fatalf("three certificate containers expected, got %v", certs)
		}
		named := s.expect(admin, request{method: "GET", path: "/v1/containers?name=c-_&limit=1"}, http.StatusOK).json(t)
		if named["total"] != float64(7) || named["next"] != base+"?limit=1&offset=1" {
			t.Fatalf("name is a LIKE pattern and links carry only limit and offset, got %v", named)
		}
		if one := s.expect(admin, request{method: "GET", path: "/v1/containers?name=c-4"}, http.StatusOK).json(t); one["total"] != float64(1) {
			t.Fatalf("an exact name should match one container, got %v", one)
		}
		s.expect(as{project: "p3"}, request{method: "GET", path: "/v1/containers"}, http.StatusOK).jsonEqual(t,
			map[string]any{"containers": []any{}, "total": 0})
		s.expectError(as{project: "p1", roles: "audit"}, request{method: "GET", path: "/v1/containers"},
			http.StatusForbidden, "Containers(s) retrieval attempt not allowed - please review your user/project privileges")
	})
}

func TestContainerSecrets(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		secret := s.createSecret(admin, `{}`)
		other := s.createSecret(admin, `{}`)
		foreign := s.createSecret(as{project: "p2"}, `{}`)
		id := s.createContainer(admin, `{"type": "generic"}`)
		path := "/v1/containers/" + id + "/secrets"
		link := func(name, ref string) string {
			if name == "-" {
				return fmt.Sprintf(`{"secret_ref": %q}`, ref)
			}
			return fmt.Sprintf(`{"name": %q, "secret_ref": %q}`, name, ref)
		}
		refsOf := func() string {
			got := s.expect(admin, request{method: "GET", path: "/v1/containers/" + id}, http.StatusOK).json(t)
			var out []string
			for _, r := range got["secret_refs"].([]any) {
				m := r.(map[string]any)
				out = append(out, fmt.Sprintf("%v=%s", m["name"], idOf(m["secret_ref"].(string))))
			}
			return strings.Join(out, " ")
		}

		resp := s.expect(admin, request{method: "POST", path: path + "/", body: link("a", s.secretRef(secret))}, http.StatusCreated)
		href := s.server.URL + "/v1/containers/" + id
		resp.jsonEqual(t, map[string]string{"container_ref": href})
		if resp.header.Get("Location") != href {
			t.Fatalf("Location should be the container, got %q", resp.header.Get("Location"))
		}
		s.expectError(admin, request{method: "POST", path: path, body: link("a", s.secretRef(secret))}, http.StatusConflict,
			"Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.")
		s.clock.Advance(time.Second)
		s.expect(admin, request{method: "POST", path: path, body: link("b", s.secretRef(secret))}, http.StatusCreated)
		// The secret id is what follows the last slash; a bare id is taken as it is.
		s.clock.Advance(time.Second)
		s.expect(admin, request{method: "POST", path: path, body: link("-", other)}, http.StatusCreated)
		if got, want := refsOf(), "a="+secret+" b="+secret+" <nil>="+other; got != want {
			t.Fatalf("references in the order they were added expected:\n got %s\nwant %s", got, want)
		}
		s.expectError(admin, request{method: "POST", path: path, body: link("-", other)}, http.StatusConflict,
			"Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.")
		s.expectError(admin, request{method: "POST", path: path, body: link("c", s.secretRef(foreign))}, http.StatusNotFound,
			"Secret provided doesn't exist.")
		s.expectError(admin, request{method: "POST", path: path, body: link("c", s.secretRef(secret)+"/")}, http.StatusNotFound,
			"Secret provided doesn't exist.")
		s.expectError(admin, request{method: "POST", path: path, body: `{}`}, http.StatusBadRequest,
			"Provided object does not match schema 'ContainerSecret': 'secret_ref' is a required property. Invalid property: 'None'")
		s.expectError(admin, request{method: "POST", path: path, body: `{"name": null, "secret_ref": "x"}`}, http.StatusBadRequest,
			"Provided object does not match schema 'ContainerSecret': None is not of type 'string'. Invalid property: 'name'")

		// Removing: by id and name; the Content-Type is not checked.
		s.expect(admin, request{method: "DELETE", path: path, body: link("a", s.secretRef(secret)),
			header: map[string]string{"Content-Type": "text/plain"}}, http.StatusNoContent)
		s.expectError(admin, request{method: "DELETE", path: path, body: link("a", s.secretRef(secret))}, http.StatusNotFound,
			"Secret provided is not in the container")
		s.expectError(admin, request{method: "DELETE", path: path, body: link("z", s.secretRef(foreign))}, http.StatusNotFound,
			"Secret 'z' with reference '"+s.secretRef(foreign)+"' doesn't exist.")
		s.expectError(admin, request{method: "DELETE", path: path, body: link("-", foreign)}, http.StatusNotFound,
			"Secret 'None' with reference '"+foreign+"' doesn't exist.")
		s.expect(admin, request{method: "DELETE", path: path, body: link("-", s.secretRef(other))}, http.StatusNoContent)
		if got, want := refsOf(), "b="+secret; got != want {
			t.Fatalf("only b should be left, got %s", got)
		}
		// A link removed earlier can be added again (the reference fails with a 500 there).
		s.expect(admin, request{method: "POST", path: path, body: link("a", s.secretRef(secret))}, http.StatusCreated)

		// Only generic containers take secrets, checked before the body; any container gives them up.
		rsa := s.createContainer(admin, fmt.Sprintf(`{"type": "rsa", "secret_refs": [{"name": "public_key",
			"secret_ref": %q}, {"name": "private_key", "secret_ref": %q}]}`, s.secretRef(secret), s.secretRef(other)))
		s.expectError(admin, request{method: "POST", path: "/v1/containers/" + rsa + "/secrets", body: `{`},
			http.StatusBadRequest, "Only 'generic' containers can be modified.")
		s.expect(admin, request{method: "DELETE", path: "/v1/containers/" + rsa + "/secrets",
			body: link("public_key", s.secretRef(secret))}, http.StatusNoContent)

		s.expectError(as{project: "p1", roles: "observer"}, request{method: "POST", path: path, body: `{}`},
			http.StatusForbidden, "Container Secret creation attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p1", roles: "observer"}, request{method: "DELETE", path: path, body: `{}`},
			http.StatusForbidden, "Container Secret deletion attempt not allowed - please review your user/project privileges")
	})
}
