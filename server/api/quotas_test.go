package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestQuotas(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withConfig(func(c *Config) {
			c.Quotas = Quotas{Secrets: 3, Orders: -1, Containers: 0, Consumers: 5, CAs: -1}
			c.DefaultLimit = 2
		}))...)
		service := as{project: "ops", roles: "key-manager:service-admin"}
		p1 := as{project: "q1", user: "u", roles: "creator"}

		// The defaults, for a project never seen (its row is created as the reference does).
		got := s.expect(p1, request{method: "GET", path: "/v1/quotas"}, 200).json(t)
		want := map[string]any{"secrets": float64(3), "orders": float64(-1), "containers": float64(0),
			"consumers": float64(5), "cas": float64(-1)}
		if q, _ := got["quotas"].(map[string]any); !mapsEqual(q, want) {
			t.Fatalf("effective quotas: %v", got)
		}

		// Secrets: three live ones, then 403; an expired or deleted one frees its place.
		var ids []string
		for range 3 {
			ids = append(ids, s.createSecret(p1, `{"payload": "x", "payload_content_type": "text/plain"}`))
		}
		r := s.expect(p1, request{method: "POST", path: "/v1/secrets", body: `{}`}, http.StatusForbidden)
		if d := r.description(t); d != "Secret creation issue seen - Creation not allowed because a quota has been reached." {
			t.Fatalf("unexpected 403 %v", d)
		}
		s.expect(p1, request{method: "DELETE", path: "/v1/secrets/" + ids[0]}, http.StatusNoContent)
		s.createSecret(p1, `{}`)

		// A project's own quota wins over the default, at once on this server.
		// Whole seconds apart, so that the creation order shows on MariaDB's DATETIME too.
		s.clock.Advance(time.Second)
		s.expect(service, request{method: "PUT", path: "/v1/project-quotas/q1", body: `{"project_quotas": {"secrets": 5}}`},
			http.StatusNoContent)
		s.createSecret(p1, `{}`)
		s.createSecret(p1, `{}`)
		s.expect(p1, request{method: "POST", path: "/v1/secrets", body: `{}`}, http.StatusForbidden)
		got = s.expect(p1, request{method: "GET", path: "/v1/quotas"}, 200).json(t)
		if q, _ := got["quotas"].(map[string]any); q["secrets"] != float64(5) || q["containers"] != float64(0) {
			t.Fatalf("a set quota shows in the effective ones: %v", got)
		}
		// Later PUTs change only what they give; GET shows the configured values, null where unset.
		s.expect(service, request{method: "PUT", path: "/v1/project-quotas/q1", body: `{"project_quotas": {"orders": 7}}`},
			http.StatusNoContent)
		got = s.expect(service, request{method: "GET", path: "/v1/project-quotas/q1"}, 200).json(t)
		if q, _ := got["project_quotas"].(map[string]any); !mapsEqual(q, map[string]any{"secrets": float64(5),
			"orders": float64(7), "containers": nil, "consumers": nil, "cas": nil}) {
			t.Fatalf("configured quotas: %v", got)
		}

		// The list pages by creation, with links to the real path.
		for _, p := range []string{"q2", "q3"} {
			s.clock.Advance(time.Second)
			s.expect(service, request{method: "PUT", path: "/v1/project-quotas/" + p, body: `{"project_quotas": {"cas": 1}}`}, 204)
		}
		list := s.expect(service, request{method: "GET", path: "/v1/project-quotas"}, 200).json(t)
		items, _ := list["project_quotas"].([]any)
		if len(items) != 2 || list["total"] != float64(3) || items[0].(map[string]any)["project_id"] != "q1" ||
			!strings.HasSuffix(list["next"].(string), "/v1/project-quotas?limit=2&offset=2") {
			t.Fatalf("unexpected list %v", list)
		}

		// Orders count against their own quota.
		s.expect(service, request{method: "PUT", path: "/v1/project-quotas/q1", body: `{"project_quotas": {"orders": 1}}`}, 204)
		order := `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256}}`
		s.expect(p1, request{method: "POST", path: "/v1/orders", body: order}, http.StatusAccepted)
		r = s.expect(p1, request{method: "POST", path: "/v1/orders", body: order}, http.StatusForbidden)
		if d := r.description(t); d != "Order creation issue seen - Creation not allowed because a quota has been reached." {
			t.Fatalf("unexpected order 403 %v", d)
		}

		// Containers are disabled by default here (quota 0); consumers count per kind against one limit.
		r = s.expect(p1, request{method: "POST", path: "/v1/containers", body: `{"type": "generic"}`}, http.StatusForbidden)
		if d := r.description(t); d != "Container creation issue seen - Creation not allowed because a quota has been reached." {
			t.Fatalf("unexpected container 403 %v", d)
		}
		s.expect(service, request{method: "PUT", path: "/v1/project-quotas/q1",
			body: `{"project_quotas": {"containers": 1, "consumers": 1}}`}, http.StatusNoContent)
		cref := s.expect(p1, request{method: "POST", path: "/v1/containers", body: `{"type": "generic"}`}, http.StatusCreated).
			json(t)["container_ref"].(string)
		cid := cref[strings.LastIndexByte(cref, '/')+1:]
		s.expect(p1, request{method: "POST", path: "/v1/containers/" + cid + "/consumers",
			body: `{"name": "lb", "URL": "https://lb/1"}`}, http.StatusOK)
		s.expect(p1, request{method: "POST", path: "/v1/containers/" + cid + "/consumers",
			body: `{"name": "lb", "URL": "https://lb/2"}`}, http.StatusForbidden)
		// A secret consumer counts on its own: the limit of one is not reached by the container's consumer.
		s.expect(p1, request{method: "POST", path: "/v1/secrets/" + ids[1] + "/consumers",
			body: `{"service": "image", "resource_type": "image", "resource_id": "i1"}`}, http.StatusOK)
		r = s.expect(p1, request{method: "POST", path: "/v1/secrets/" + ids[1] + "/consumers",
			body: `{"service": "image", "resource_type": "image", "resource_id": "i2"}`}, http.StatusForbidden)
		if d := r.description(t); d != "SecretConsumer creation issue seen - Creation not allowed because a quota has been reached." {
			t.Fatalf("unexpected consumer 403 %v", d)
		}

		// Deleting brings the defaults back.
		s.expect(service, request{method: "DELETE", path: "/v1/project-quotas/q1"}, http.StatusNoContent)
		s.expect(p1, request{method: "POST", path: "/v1/secrets", body: `{}`}, http.StatusForbidden)

		for name, tc := range map[string]struct {
			who    as
			req    request
			status int
			desc   string
		}{
			"reading another project's quotas needs the service admin": {p1, request{method: "GET", path: "/v1/project-quotas/q2"},
				403, "Project Quotas attempt not allowed - please review your user/project privileges"},
			"an unknown project": {service, request{method: "GET", path: "/v1/project-quotas/nobody"}, 404, "Project quotas not found."},
			"deleting twice":     {service, request{method: "DELETE", path: "/v1/project-quotas/q1"}, 404, "Project quotas not found."},
			"an empty PUT": {service, request{method: "PUT", path: "/v1/project-quotas/q2",
				header: map[string]string{"Content-Type": "application/json"}}, 400,
				"Project Quotas issue seen - No data supplied to process.."},
			"an unknown resource": {service, request{method: "PUT", path: "/v1/project-quotas/q2",
				body: `{"project_quotas": {"keys": 1}}`}, 400,
				"Provided object does not match schema 'Project Quota': Additional properties are not allowed ('keys' was unexpected). Invalid property: 'None'"},
			"a string quota": {service, request{method: "PUT", path: "/v1/project-quotas/q2",
				body: `{"project_quotas": {"secrets": "1"}}`}, 400,
				"Provided object does not match schema 'Project Quota': '1' is not of type 'integer'. Invalid property: 'secrets'"},
			"no project_quotas": {service, request{method: "PUT", path: "/v1/project-quotas/q2", body: `{}`}, 400,
				"Provided object does not match schema 'Project Quota': 'project_quotas' is a required property. Invalid property: 'project_quotas'"},
		} {
			t.Run(name, func(t *testing.T) {
				r := s.expect(tc.who, tc.req, tc.status)
				if d := r.description(t); d != tc.desc {
					t.Errorf("want %q, got %v", tc.desc, d)
				}
			})
		}
		s.expect(service, request{method: "POST", path: "/v1/project-quotas"}, http.StatusMethodNotAllowed)
		s.expect(service, request{method: "PUT", path: "/v1/quotas"}, http.StatusMethodNotAllowed)
	})
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || w != v {
			return false
		}
	}
	return true
}
