package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestSecretUserMetadata(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		id := s.createSecret(admin, `{}`)
		base := "/v1/secrets/" + id + "/metadata"
		get := func() map[string]any {
			return s.expect(admin, request{method: "GET", path: base}, 200).json(t)["metadata"].(map[string]any)
		}
		if len(get()) != 0 {
			t.Fatalf("a new secret has no metadata")
		}
		r := s.expect(admin, request{method: "PUT", path: base, body: `{"metadata": {"Geo": "EU", "tier": "gold"}}`}, http.StatusCreated)
		if r.json(t)["metadata_ref"] != s.server.URL+base {
			t.Errorf("unexpected metadata_ref %s", r.body)
		}
		if m := get(); m["geo"] != "EU" || m["tier"] != "gold" || len(m) != 2 {
			t.Errorf("keys should be lower-cased, got %v", m)
		}
		s.expect(admin, request{method: "PUT", path: base, body: `{"metadata": {"only": "one"}}`}, http.StatusCreated)
		if m := get(); len(m) != 1 || m["only"] != "one" {
			t.Errorf("PUT replaces the whole set, got %v", m)
		}
		r = s.expect(admin, request{method: "POST", path: base, body: `{"key": "Owner", "value": "ops"}`}, http.StatusCreated)
		if r.header.Get("Location") != s.server.URL+base+"/owner" || r.json(t)["key"] != "owner" {
			t.Errorf("unexpected POST answer %v %s", r.header.Get("Location"), r.body)
		}
		r = s.expect(admin, request{method: "POST", path: base, body: `{"key": "owner", "value": "x"}`}, http.StatusConflict)
		if r.description(t) != "Conflict. Key in request is already in the secret metadata" {
			t.Errorf("unexpected 409 body %s", r.body)
		}
		r = s.expect(admin, request{method: "PUT", path: base + "/owner", body: `{"key": "team", "value": "x"}`}, http.StatusConflict)
		// The reference's text, cut short as it is there.
		if r.description(t) != "Key in request data does not match key in the " {
			t.Errorf("unexpected key-mismatch body %s", r.body)
		}
		if r := s.expect(admin, request{method: "GET", path: base + "/owner"}, 200).json(t); r["value"] != "ops" {
			t.Errorf("unexpected metadatum %v", r)
		}
		r = s.expect(admin, request{method: "GET", path: base + "/Owner"}, http.StatusNotFound)
		if r.description(t) != "Secret metadata not found." {
			t.Errorf("the URL key is not lower-cased: %s", r.body)
		}
		s.expect(admin, request{method: "PUT", path: base + "/owner", body: `{"key": "owner", "value": "sec"}`}, http.StatusOK)
		s.expect(admin, request{method: "PUT", path: base + "/owner", body: `{"key": "other", "value": "sec"}`}, http.StatusConflict)
		s.expect(admin, request{method: "PUT", path: base + "/missing", body: `{"key": "missing", "value": "v"}`}, http.StatusNotFound)
		if r := s.expect(admin, request{method: "GET", path: base + "/owner"}, 200).json(t); r["value"] != "sec" {
			t.Errorf("PUT should update, got %v", r)
		}
		s.expect(admin, request{method: "DELETE", path: base + "/owner"}, http.StatusNoContent)
		s.expect(admin, request{method: "DELETE", path: base + "/owner"}, http.StatusNoContent)
		s.expect(admin, request{method: "POST", path: base + "/owner"}, http.StatusMethodNotAllowed)

		bad := map[string]struct {
			method, path, body, desc string
		}{
			"a key that is not URL safe": {method: "PUT", path: base, body: `{"metadata": {"a b": "c"}}`,
				desc: "Invalid Key. Key must be URL safe."},
			"a value that is not a string": {method: "PUT", path: base, body: `{"metadata": {"a": 1}}`,
				desc: "Invalid Metadata. Keys and Values must be Strings."},
			"metadata is required": {method: "PUT", path: base, body: `{}`,
				desc: "Provided object does not match schema 'SecretMetadata': 'metadata' is a required property. Invalid property: 'metadata'"},
			"a metadatum takes no other fields": {method: "POST", path: base, body: `{"key": "a", "value": "b", "c": "d"}`,
				desc: "Provided object does not match schema 'SecretMetadatum': Additional properties are not allowed ('c' was unexpected). Invalid property: 'None'"},
			"a metadatum value is required": {method: "POST", path: base, body: `{"key": "a"}`,
				desc: "Provided object does not match schema 'SecretMetadatum': 'value' is a required property. Invalid property: 'value'"},
			"a metadatum value is at most 255 characters": {method: "POST", path: base, body: `{"key": "a", "value": "` + strings.Repeat("v", 256) + `"}`,
				desc: "Provided object does not match schema 'SecretMetadatum': '" + strings.Repeat("v", 256) + "' is too long. Invalid property: 'value'"},
		}
		for name, tc := range bad {
			t.Run(name, func(t *testing.T) {
				r := s.expect(admin, request{method: tc.method, path: tc.path, body: tc.body}, http.StatusBadRequest)
				if d := r.description(t); d != tc.desc {
					t.Errorf("description:\n got  %q\n want %q", d, tc.desc)
				}
			})
		}
	})
}
