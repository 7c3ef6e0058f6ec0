package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSecretConsumers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		alice := as{project: "p1", user: "alice", roles: "creator"}
		id := s.createSecret(alice, `{"name": "db", "payload": "x", "payload_content_type": "text/plain"}`)
		created := s.clock.Now()
		path := "/v1/secrets/" + id + "/consumers"
		consumer := func(resource string) string {
			return fmt.Sprintf(`{"service": " image ", "resource_type": "image", "resource_id": %q}`, resource)
		}
		consumerJSON := func(resource string) map[string]string {
			return map[string]string{"service": "image", "resource_type": "image", "resource_id": resource}
		}
		secretJSON := func(updated time.Time, consumers ...map[string]string) map[string]any {
			if consumers == nil {
				consumers = []map[string]string{}
			}
			return map[string]any{"created": isoformat(created), "updated": isoformat(updated), "status": "ACTIVE",
				"name": "db", "secret_type": "opaque", "expiration": nil, "algorithm": nil, "bit_length": nil,
				"mode": nil, "creator_id": "alice", "content_types": map[string]string{"default": "text/plain"},
				"consumers": consumers, "secret_ref": s.secretRef(id)}
		}

		s.clock.Advance(time.Second)
		t1 := s.clock.Now()
		// Registering works at microversion 1.0 too, and answers with the consumers anyway.
		r := s.expect(alice, request{method: "POST", path: path + "/", body: consumer("r1")}, http.StatusOK)
		r.jsonEqual(t, secretJSON(t1, consumerJSON("r1")))
		if loc := r.header.Get("Location"); loc != s.server.URL+"/v1/consumers/"+id+"/consumers" {
			t.Fatalf("Location should be the reference's (sic) consumers href, got %q", loc)
		}
		s.clock.Advance(time.Second)
		s.expect(alice, request{method: "POST", path: path, body: consumer("r1")}, http.StatusOK).
			jsonEqual(t, secretJSON(t1, consumerJSON("r1")))
		s.clock.Advance(time.Second)
		s.expect(alice, request{method: "POST", path: path, body: consumer("r2")}, http.StatusOK)
		s.clock.Advance(time.Second)
		t3 := s.clock.Now()
		s.expect(alice, request{method: "POST", path: path, body: consumer("r3")}, http.StatusOK).
			jsonEqual(t, secretJSON(t3, consumerJSON("r1"), consumerJSON("r2"), consumerJSON("r3")))

		listed := func(resource string, at time.Time) map[string]string {
			m := consumerJSON(resource)
			m["created"], m["updated"], m["status"] = isoformat(at), isoformat(at), "ACTIVE"
			return m
		}
		base := s.server.URL + path
		s.expect(alice, request{method: "GET", path: path + "?limit=2"}, http.StatusOK).jsonEqual(t, map[string]any{
			"consumers": []any{listed("r1", t1), listed("r2", t3.Add(-time.Second))}, "total": 3,
			"next": base + "?limit=2&offset=2"})
		s.expect(alice, request{method: "GET", path: path + "?limit=2&offset=2"}, http.StatusOK).jsonEqual(t,
			map[string]any{"consumers": []any{listed("r3", t3)}, "total": 3, "previous": base + "?limit=2&offset=0"})
		s.expect(alice, request{method: "GET", path: path + "?offset=5"}, http.StatusOK).jsonEqual(t,
			map[string]any{"consumers": []any{}, "total": 3})

		// The secret shows its consumers from microversion 1.1 on; the consumer routes answer at every version.
		if got := s.expect(alice, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t); got["consumers"] != nil {
			t.Fatalf("at microversion 1.0 a secret has no consumers key, got %v", got["consumers"])
		}
		v11 := map[string]string{"OpenStack-API-Version": "key-manager 1.1"}
		s.expect(alice, request{method: "GET", path: "/v1/secrets/" + id, header: v11}, http.StatusOK).
			jsonEqual(t, secretJSON(t3, consumerJSON("r1"), consumerJSON("r2"), consumerJSON("r3")))
		r = s.expect(alice, request{method: "GET", path: path + "?limit=1",
			header: map[string]string{"OpenStack-API-Version": "key-manager 1.2"}}, http.StatusOK)
		if v := r.header.Get("OpenStack-API-Version"); v != "key-manager 1.2" {
			t.Fatalf("the microversion should be echoed, got %q", v)
		}

		rows, _, err := s.db.Read(context.Background()).ListSecretConsumers(id, 0, 10)
		if err != nil || len(rows) != 3 {
			t.Fatalf("three consumers expected in the database, got %d (%v)", len(rows), err)
		}
		one := path + "/" + rows[0].ID
		s.expect(alice, request{method: "GET", path: one}, http.StatusOK).jsonEqual(t, listed("r1", t1))

		r = s.expect(alice, request{method: "DELETE", path: path, body: consumer("r2")}, http.StatusOK)
		r.jsonEqual(t, secretJSON(t3, consumerJSON("r1"), consumerJSON("r3")))
		if loc := r.header.Get("Location"); loc != "" {
			t.Fatalf("removing a consumer sets no Location, got %q", loc)
		}
		s.expectError(alice, request{method: "DELETE", path: path, body: consumer("r2")}, http.StatusNotFound,
			"Consumer not found.")
		s.expectError(alice, request{method: "DELETE", path: path, body: consumer("never")}, http.StatusNotFound,
			"Consumer not found.")
		s.expectError(alice, request{method: "GET", path: path + "/" + rows[1].ID}, http.StatusNotFound, "Consumer not found.")
		s.expectError(alice, request{method: "GET", path: path + "/not-a-uuid"}, http.StatusNotFound,
			"Not Found. Provided consumer id is invalid.")
		s.expectError(alice, request{method: "DELETE", path: path + "/not-a-uuid"}, http.StatusNotFound,
			"Not Found. Provided consumer id is invalid.")
		r = s.expect(alice, request{method: "DELETE", path: one}, http.StatusMethodNotAllowed)
		if r.header.Get("Allow") != "GET" {
			t.Fatalf("a consumer answers GET only, got Allow %q", r.header.Get("Allow"))
		}
		s.expectError(alice, request{method: "GET", path: "/v1/secrets/" + strings.Repeat("0", 36) + "/consumers"},
			http.StatusNotFound, "Not Found. Provided secret id is invalid.")

		// Removal is for the consumer's project or the secret's. Users on the secret's ACL may register.
		s.expect(alice, request{method: "PUT", path: "/v1/secrets/" + id + "/acl",
			body: `{"read": {"users": ["eve", "mallory"]}}`}, http.StatusOK)
		eve := as{project: "p2", user: "eve", roles: "observer"}
		mallory := as{project: "p3", user: "mallory", roles: "observer"}
		s.expect(eve, request{method: "POST", path: path, body: consumer("e1")}, http.StatusOK)
		// A project never seen has registered nothing.
		s.expectError(mallory, request{method: "DELETE", path: path, body: consumer("e1")}, http.StatusNotFound,
			"Consumer not found.")
		s.expect(mallory, request{method: "POST", path: path, body: consumer("m1")}, http.StatusOK)
		const notOwner = "Not Allowed. Sorry, only the creator of a consumer can delete it."
		s.expectError(mallory, request{method: "DELETE", path: path, body: consumer("e1")}, http.StatusForbidden, notOwner)
		s.expectError(eve, request{method: "DELETE", path: path, body: consumer("m1")}, http.StatusForbidden, notOwner)
		s.expect(eve, request{method: "DELETE", path: path, body: consumer("e1")}, http.StatusOK)
		s.expect(alice, request{method: "DELETE", path: path, body: consumer("m1")}, http.StatusOK)

		// consumer:get admits every known role of any project (Barbican's legacy rule), not the rest.
		s.expect(as{project: "p5", roles: "audit"}, request{method: "GET", path: one}, http.StatusOK)
		s.expectError(as{project: "p5", roles: "member"}, request{method: "GET", path: one}, http.StatusForbidden,
			"SecretConsumer retrieval attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p5", roles: "admin"}, request{method: "POST", path: path, body: consumer("x")},
			http.StatusForbidden, "SecretConsumer creation attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p1", roles: "member"}, request{method: "GET", path: path}, http.StatusForbidden,
			"SecretConsumers(s) retrieval attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p1", roles: "member"}, request{method: "DELETE", path: path, body: consumer("r1")},
			http.StatusForbidden, "SecretConsumer deletion attempt not allowed - please review your user/project privileges")
	})
}

func TestSecretConsumerValidation(t *testing.T) {
	s := newSetup(t)
	id := s.createSecret(admin, `{}`)
	const prefix = "Provided object does not match schema 'Secret Consumer': "
	long := strings.Repeat("r", 37)
	cases := []struct{ name, body, desc string }{
		{"everything is required", `{}`, prefix + "'service' is a required property. Invalid property: 'None'"},
		{"resource_type is required", `{"service": "a"}`, prefix + "'resource_type' is a required property. Invalid property: 'None'"},
		{"a missing field wins over a blank one", `{"service": "", "resource_type": "b"}`,
			prefix + "'resource_id' is a required property. Invalid property: 'None'"},
		{"blank service", `{"service": " ", "resource_type": "b", "resource_id": "c"}`,
			prefix + "'' is too short. Invalid property: 'service'"},
		{"service is a string", `{"service": 1, "resource_type": "b", "resource_id": "c"}`,
			prefix + "1 is not of type 'string'. Invalid property: 'service'"},
		{"long resource type", `{"service": "a", "resource_type": "` + strings.Repeat("t", 256) + `", "resource_id": "c"}`,
			prefix + "'" + strings.Repeat("t", 256) + "' is too long. Invalid property: 'resource_type'"},
		// The reference has no bound here and fails in the database past the 36-character column.
		{"a resource id fits its column", `{"service": "a", "resource_type": "b", "resource_id": "` + long + `"}`,
			prefix + "'" + long + "' is too long. Invalid property: 'resource_id'"},
		{"the body is an object", `[]`, prefix + "[] is not of type 'object'. Invalid property: 'None'"},
		{"malformed JSON", `{`, "Malformed JSON"},
	}
	for _, method := range []string{"POST", "DELETE"} {
		for _, c := range cases {
			t.Logf("%s: %s", method, c.name)
			s.expectError(admin, request{method: method, path: "/v1/secrets/" + id + "/consumers", body: c.body},
				http.StatusBadRequest, c.desc)
		}
		s.expectError(admin, request{method: method, path: "/v1/secrets/" + id + "/consumers", body: `{}`,
			header: map[string]string{"Content-Type": "text/plain"}}, http.StatusUnsupportedMediaType,
			"Unexpected content type. Expected content types are: ['application/json']")
	}
}

func TestContainerConsumers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		alice := as{project: "p1", user: "alice", roles: "creator"}
		id := s.createContainer(alice, `{"type": "generic", "name": "lbs"}`)
		created := s.clock.Now()
		path := "/v1/containers/" + id + "/consumers"
		consumer := func(name string) string { return fmt.Sprintf(`{"name": %q, "URL": "http://%s "}`, name, name) }
		ref := func(name string) map[string]string { return map[string]string{"name": name, "URL": "http://" + name} }
		containerJSON := func(updated time.Time, consumers ...map[string]string) map[string]any {
			if consumers == nil {
				consumers = []map[string]string{}
			}
			return map[string]any{"created": isoformat(created), "updated": isoformat(updated), "status": "ACTIVE",
				"name": "lbs", "type": "generic", "creator_id": "alice", "container_ref": s.server.URL + "/v1/containers/" + id,
				"secret_refs": []any{}, "consumers": consumers}
		}

		s.clock.Advance(time.Second)
		t1 := s.clock.Now()
		r := s.expect(alice, request{method: "POST", path: path + "/", body: consumer("web")}, http.StatusOK)
		r.jsonEqual(t, containerJSON(t1, ref("web")))
		if loc := r.header.Get("Location"); loc != s.server.URL+"/v1/consumers/"+id+"/consumers" {
			t.Fatalf("Location should be the reference's (sic) consumers href, got %q", loc)
		}
		s.clock.Advance(time.Second)
		s.expect(alice, request{method: "POST", path: path, body: consumer("web")}, http.StatusOK).
			jsonEqual(t, containerJSON(t1, ref("web")))
		s.clock.Advance(time.Second)
		t2 := s.clock.Now()
		s.expect(alice, request{method: "POST", path: path, body: consumer("api")}, http.StatusOK).
			jsonEqual(t, containerJSON(t2, ref("api"), ref("web")))

		got, err := s.db.Read(context.Background()).ContainerConsumerByValues(id, "web", "http://web")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(id + "web" + "http://web"))
		if got.DataHash == nil || *got.DataHash != hex.EncodeToString(sum[:]) {
			t.Fatalf("data_hash should be sha256(container id + name + URL), got %v", got.DataHash)
		}

		listed := func(name string, at time.Time) map[string]any {
			return map[string]any{"name": name, "URL": "http://" + name, "created": isoformat(at), "updated": isoformat(at),
				"status": "ACTIVE"}
		}
		base := s.server.URL + path
		s.expect(alice, request{method: "GET", path: path + "?limit=1"}, http.StatusOK).jsonEqual(t, map[string]any{
			"consumers": []any{listed("api", t2)}, "total": 2, "next": base + "?limit=1&offset=1"})
		s.expect(alice, request{method: "GET", path: path + "?limit=1&offset=1"}, http.StatusOK).jsonEqual(t, map[string]any{
			"consumers": []any{listed("web", t1)}, "total": 2, "previous": base + "?limit=1&offset=0"})
		s.expect(alice, request{method: "GET", path: path + "/" + got.ID}, http.StatusOK).jsonEqual(t, listed("web", t1))

		r = s.expect(alice, request{method: "DELETE", path: path, body: consumer("web")}, http.StatusOK)
		r.jsonEqual(t, containerJSON(t2, ref("api")))
		if loc := r.header.Get("Location"); loc != "" {
			t.Fatalf("removing a consumer sets no Location, got %q", loc)
		}
		s.expectError(alice, request{method: "DELETE", path: path, body: consumer("web")}, http.StatusNotFound,
			"Consumer not found.")
		s.expectError(alice, request{method: "GET", path: path + "/" + got.ID}, http.StatusNotFound, "Consumer not found.")
		// Registering it again restores it.
		s.expect(alice, request{method: "POST", path: path, body: consumer("web")}, http.StatusOK).
			jsonEqual(t, containerJSON(t2, ref("api"), ref("web")))
		s.expectError(alice, request{method: "GET", path: path + "/f00ba4a1-0000-4000-8000-000000000000"},
			http.StatusNotFound, "Consumer not found.")
		s.expectError(alice, request{method: "GET", path: path + "/F00BA4A1-0000-4000-8000-000000000000"},
			http.StatusNotFound, "Not Found. Provided consumer id is invalid.")

		// Removal is for the consumer's project or the container's. Unlike the secret variant, the caller's
		// project row is created first, so a project never seen is refused (403), not answered 404.
		s.expect(alice, request{method: "PUT", path: "/v1/containers/" + id + "/acl",
			body: `{"read": {"users": ["eve", "mallory"]}}`}, http.StatusOK)
		eve := as{project: "p2", user: "eve", roles: "observer"}
		mallory := as{project: "p3", user: "mallory", roles: "observer"}
		s.expect(eve, request{method: "POST", path: path, body: consumer("eve")}, http.StatusOK)
		const notOwner = "Not Allowed. Sorry, only the creator of a consumer can delete it."
		s.expectError(mallory, request{method: "DELETE", path: path, body: consumer("eve")}, http.StatusForbidden, notOwner)
		s.expectError(mallory, request{method: "DELETE", path: path, body: consumer("nobody")}, http.StatusNotFound,
			"Consumer not found.")
		s.expect(eve, request{method: "DELETE", path: path, body: consumer("eve")}, http.StatusOK)
		s.expect(eve, request{method: "POST", path: path, body: consumer("eve")}, http.StatusOK)
		s.expect(alice, request{method: "DELETE", path: path, body: consumer("eve")}, http.StatusOK)

		s.expectError(as{project: "p1", roles: "member"}, request{method: "POST", path: path, body: consumer("x")},
			http.StatusForbidden, "ContainerConsumer creation attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p1", roles: "member"}, request{method: "GET", path: path}, http.StatusForbidden,
			"ContainerConsumers(s) retrieval attempt not allowed - please review your user/project privileges")
		s.expectError(as{project: "p9", roles: "member"}, request{method: "GET", path: path + "/" + got.ID},
			http.StatusForbidden, "ContainerConsumer retrieval attempt not allowed - please review your user/project privileges")

		// Deleting the container deletes its consumers.
		s.expect(alice, request{method: "DELETE", path: "/v1/containers/" + id}, http.StatusNoContent)
		gone, err := s.db.Read(context.Background()).ContainerConsumerByValues(id, "api", "http://api")
		if err != nil || !gone.Deleted {
			t.Fatalf("the container's consumers should be soft-deleted with it, got %+v %v", gone, err)
		}
	})
}

func TestContainerConsumerValidation(t *testing.T) {
	s := newSetup(t)
	id := s.createContainer(admin, `{"type": "generic"}`)
	const prefix = "Provided object does not match schema 'Consumer': "
	cases := []struct{ name, body, desc string }{
		{"name is required first", `{}`, prefix + "'name' is a required property. Invalid property: 'None'"},
		{"URL is required", `{"name": "a"}`, prefix + "'URL' is a required property. Invalid property: 'None'"},
		{"the key is upper-case URL", `{"name": "a", "url": "http://a"}`,
			prefix + "'URL' is a required property. Invalid property: 'None'"},
		{"URL comes first among blank values", `{"name": "", "URL": ""}`, prefix + "'' is too short. Invalid property: 'URL'"},
		{"a name fits 36 characters", `{"name": "` + strings.Repeat("n", 37) + `", "URL": "u"}`,
			prefix + "'" + strings.Repeat("n", 37) + "' is too long. Invalid property: 'name'"},
		{"a URL fits 255 characters", `{"name": "n", "URL": "` + strings.Repeat("u", 256) + `"}`,
			prefix + "'" + strings.Repeat("u", 256) + "' is too long. Invalid property: 'URL'"},
		{"malformed JSON", `{"name"`, "Malformed JSON"},
	}
	for _, method := range []string{"POST", "DELETE"} {
		for _, c := range cases {
			t.Logf("%s: %s", method, c.name)
			s.expectError(admin, request{method: method, path: "/v1/containers/" + id + "/consumers", body: c.body},
				http.StatusBadRequest, c.desc)
		}
	}
}
