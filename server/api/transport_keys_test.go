package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestTransportKeys(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		service := as{project: "svc", user: "u", roles: "key-manager:service-admin"}
		post := func(body string) response {
			return s.do(service, request{method: "POST", path: "/v1/transport_keys", body: body})
		}
		var ids []string
		for i, plugin := range []string{"dogtag", "dogtag", "other"} {
			s.clock.Advance(1e9) // distinct created_at, so the order is observable on MariaDB too
			r := post(`{"plugin_name": "  ` + plugin + ` ", "transport_key": "-----BEGIN CERTIFICATE-----` + strings.Repeat("A", i+1) + `"}`)
			if r.status != http.StatusCreated {
				t.Fatalf("POST: %d %s", r.status, r.body)
			}
			ref, _ := r.json(t)["transport_key_ref"].(string)
			if r.header.Get("Location") != ref || !strings.HasPrefix(ref, s.server.URL+"/v1/transport_keys/") {
				t.Fatalf("unexpected ref %q, Location %q", ref, r.header.Get("Location"))
			}
			ids = append(ids, ref[strings.LastIndexByte(ref, '/')+1:])
		}

		t.Run("the list holds hrefs, oldest first, with paging", func(t *testing.T) {
			m := s.expect(service, request{method: "GET", path: "/v1/transport_keys?limit=2"}, 200).json(t)
			refs, _ := m["transport_keys"].([]any)
			if len(refs) != 2 || refs[0] != s.server.URL+"/v1/transport_keys/"+ids[0] || m["total"] != float64(3) ||
				m["next"] != s.server.URL+"/v1/transport_keys?limit=2&offset=2" {
				t.Errorf("unexpected list %v", m)
			}
			m = s.expect(service, request{method: "GET", path: "/v1/transport_keys?plugin_name=other"}, 200).json(t)
			if refs, _ := m["transport_keys"].([]any); len(refs) != 1 || m["total"] != float64(1) {
				t.Errorf("plugin_name should filter: %v", m)
			}
		})

		t.Run("a key reads back as its row, stripped", func(t *testing.T) {
			r := s.expect(service, request{method: "GET", path: "/v1/transport_keys/" + ids[0]}, 200)
			m := r.json(t)
			if m["id"] != ids[0] || m["plugin_name"] != "dogtag" || m["transport_key"] != "-----BEGIN CERTIFICATE-----A" ||
				m["deleted"] != false || m["deleted_at"] != nil || m["status"] != "ACTIVE" ||
				!strings.Contains(m["created_at"].(string), " ") || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("unexpected transport key %v", m)
			}
		})

		t.Run("only text/html is acceptable on a single key, as in the reference", func(t *testing.T) {
			r := s.expect(service, request{method: "GET", path: "/v1/transport_keys/" + ids[0],
				header: map[string]string{"Accept": "application/json"}}, http.StatusNotAcceptable)
			if d := r.description(t); d != nil && d != "" {
				t.Errorf("a 406 is bare, got %v", d)
			}
			s.expect(service, request{method: "GET", path: "/v1/transport_keys/" + ids[0],
				header: map[string]string{"Accept": "text/html"}}, 200)
		})

		t.Run("errors", func(t *testing.T) {
			missing := "0b1d6c2e-9f1a-4d3b-8c5e-7a6f4e3d2c1b"
			for name, tc := range map[string]struct {
				who    as
				req    request
				status int
				desc   string
			}{
				"a blank plugin name": {service, request{method: "POST", path: "/v1/transport_keys",
					body: `{"plugin_name": "  ", "transport_key": "k"}`}, 400,
					"Provided object does not match schema 'Transport Key': plugin_name must be provided. Invalid property: 'plugin_name'"},
				"no transport key": {service, request{method: "POST", path: "/v1/transport_keys",
					body: `{"plugin_name": "p"}`}, 400,
					"Provided object does not match schema 'Transport Key': transport_key must be provided. Invalid property: 'transport_key'"},
				"a non-string key": {service, request{method: "POST", path: "/v1/transport_keys",
					body: `{"plugin_name": "p", "transport_key": 1}`}, 400,
					"Provided object does not match schema 'Transport Key': 1 is not of type 'string'. Invalid property: 'transport_key'"},
				"creating needs the service admin": {as{project: "p1", roles: "admin"}, request{method: "POST",
					path: "/v1/transport_keys", body: `{"plugin_name": "p", "transport_key": "k"}`}, 403,
					"Transport Key Creation attempt not allowed - please review your user/project privileges"},
				"a malformed id": {service, request{method: "GET", path: "/v1/transport_keys/not-a-uuid"}, 404,
					"Not Found. Provided transport key id is invalid."},
				"a malformed id under any method": {service, request{method: "PUT", path: "/v1/transport_keys/x"}, 404,
					"Not Found. Provided transport key id is invalid."},
				"an unknown id": {service, request{method: "GET", path: "/v1/transport_keys/" + missing}, 404,
					"Not Found. Transport Key not found."},
				"deleting an unknown id": {service, request{method: "DELETE", path: "/v1/transport_keys/" + missing}, 404,
					"Not Found. Transport Key not found."},
				"deleting needs the service admin": {as{project: "p1", roles: "creator"}, request{method: "DELETE",
					path: "/v1/transport_keys/" + ids[2]}, 403,
					"Transport Key deletion attempt not allowed - please review your user/project privileges"},
			} {
				t.Run(name, func(t *testing.T) {
					r := s.expect(tc.who, tc.req, tc.status)
					if d := r.description(t); d != tc.desc {
						t.Errorf("want %q, got %v", tc.desc, d)
					}
				})
			}
		})

		t.Run("delete is soft and final", func(t *testing.T) {
			r := s.expect(service, request{method: "DELETE", path: "/v1/transport_keys/" + ids[2]}, http.StatusNoContent)
			if len(r.body) != 0 {
				t.Errorf("204 with a body: %s", r.body)
			}
			s.expect(service, request{method: "GET", path: "/v1/transport_keys/" + ids[2]}, http.StatusNotFound)
			s.expect(service, request{method: "DELETE", path: "/v1/transport_keys/" + ids[2]}, http.StatusNotFound)
			if m := s.expect(service, request{method: "GET", path: "/v1/transport_keys"}, 200).json(t); m["total"] != float64(2) {
				t.Errorf("a deleted key leaves the list: %v", m)
			}
		})

		t.Run("secrets: a payload with a key of another plugin finds no store, one of store_crypto is stored", func(t *testing.T) {
			r := s.expect(admin, request{method: "POST", path: "/v1/secrets",
				body: `{"payload": "x", "payload_content_type": "text/plain", "transport_key_id": "` + ids[0] + `"}`}, http.StatusBadRequest)
			if d := r.description(t); d != "Secret creation issue seen - No plugin was found that could support your request." {
				t.Errorf("unexpected %v", d)
			}
			r = post(`{"plugin_name": "barbican.plugin.store_crypto.StoreCryptoAdapterPlugin", "transport_key": "k"}`)
			ref, _ := r.json(t)["transport_key_ref"].(string)
			s.expect(admin, request{method: "POST", path: "/v1/secrets",
				body: `{"payload": "x", "payload_content_type": "text/plain", "transport_key_id": "` + ref[strings.LastIndexByte(ref, '/')+1:] + `"}`}, http.StatusCreated)
		})
	})
}
