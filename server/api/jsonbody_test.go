package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A JSON body that is not UTF-8 is refused, never stored with U+FFFD in place of its bytes. The reference's pecan
// decodes the body before Barbican does and answers the failure with a bare 400 (measured).
func TestJSONBodiesMustBeUTF8(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		id := s.createSecret(admin, `{"name": "kept"}`)
		const bare = `{"code":400,"title":"Bad Request","description":""}`
		const malformed = `{"code":400,"title":"Bad Request","description":"Malformed JSON"}`
		cases := map[string]struct {
			method, path, body, contentType, want string
		}{
			"an invalid byte in a name": {"POST", "/v1/secrets", "{\"name\": \"a\xffb\"}", "", bare},
			"a UTF-8 encoded surrogate": {"POST", "/v1/secrets", "{\"name\": \"a\xed\xa0\x80b\"}", "", bare},
			"a Latin-1 payload":         {"POST", "/v1/secrets", "{\"payload\": \"caf\xe9\", \"payload_content_type\": \"text/plain\"}", "", bare},
			"an explicit utf-8 charset": {"POST", "/v1/secrets", "{\"name\": \"a\xffb\"}", "application/json; charset=UTF-8", bare},
			// pecan decodes Latin-1 happily; Barbican's own json.loads then fails.
			"a latin-1 charset": {"POST", "/v1/secrets", "{\"name\": \"a\xffb\"}", "application/json; charset=latin-1", malformed},
			"metadata":          {"PUT", "/v1/secrets/" + id + "/metadata", "{\"metadata\": {\"k\": \"\xc3\"}}", "", bare},
			"a metadatum":       {"POST", "/v1/secrets/" + id + "/metadata", "{\"key\": \"k\", \"value\": \"\x80\"}", "", bare},
			// A body over the limit is cut, here inside a two-byte character: malformed, not mis-encoded.
			"a cut inside a character": {"POST", "/v1/secrets", `{"name": "x", "algorithm": "` +
				strings.Repeat("é", 13000) + `"}`, "", malformed},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				header := map[string]string{}
				if tc.contentType != "" {
					header["Content-Type"] = tc.contentType
				}
				resp := s.on(t).expect(admin, request{method: tc.method, path: tc.path, body: tc.body, header: header},
					http.StatusBadRequest)
				assertBody(t, resp, tc.want)
			})
		}
		list := s.expect(admin, request{method: "GET", path: "/v1/secrets"}, http.StatusOK).json(t)
		if list["total"] != float64(1) {
			t.Errorf("only the first secret should exist, got %v", list)
		}
		md := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/metadata"}, http.StatusOK)
		assertBody(t, md, `{"metadata":{}}`)
		// Valid UTF-8 beyond ASCII is of course fine.
		created := s.createSecret(admin, `{"name": "café ☕ 😀"}`)
		got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + created}, http.StatusOK).json(t)["name"]
		if got != "café ☕ 😀" {
			t.Errorf("name should round-trip, got %q", got)
		}
	})
}

// schemaCase is a body and the description the reference gives for it (read off the reference's validators
// run under jsonschema 4.26, as Debian's Barbican 15 ships them), "" when the body is valid.
type schemaCase struct {
	body, want string
}

// checkSchema runs every case through s.validate.
func checkSchema(t *testing.T, s objectSchema, cases []schemaCase) {
	t.Helper()
	for _, c := range cases {
		dec := json.NewDecoder(bytes.NewReader([]byte(c.body)))
		dec.UseNumber()
		var body any
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("bad test body %s: %v", c.body, err)
		}
		_, e := s.validate(body)
		got := ""
		if e != nil {
			got = *e.Description
		}
		if got != c.want {
			t.Errorf("%s: %s\n got %q\nwant %q", s.name, c.body, got, c.want)
		}
	}
}

// TestSchemaBestMatch holds the validator to jsonschema's choice among several violations: the one highest up
// in the document wins, then a value of the wrong type, then the first in schema order.
func TestSchemaBestMatch(t *testing.T) {
	const prefix = "Provided object does not match schema "
	checkSchema(t, secretMetadatumSchema, []schemaCase{
		{`{}`, prefix + "'SecretMetadatum': 'key' is a required property. Invalid property: 'key'"},
		{`{"key": "a"}`, prefix + "'SecretMetadatum': 'value' is a required property. Invalid property: 'value'"},
		{`{"key": 5, "extra": 1}`, prefix + "'SecretMetadatum': Additional properties are not allowed ('extra' was unexpected). Invalid property: 'None'"},
		{`{"extra": 1, "value": "x"}`, prefix + "'SecretMetadatum': Additional properties are not allowed ('extra' was unexpected). Invalid property: 'None'"},
		{`{"key": "a", "value": "b"}`, ""},
	})
	checkSchema(t, secretSchema, []schemaCase{
		{`{"algorithm": "` + string(bytes.Repeat([]byte("a"), 256)) + `", "bit_length": "x"}`,
			prefix + "'Secret': 'x' is not of type 'integer'. Invalid property: 'bit_length'"},
		{`{"name": 5, "mode": 5}`, prefix + "'Secret': 5 is not of type 'string', 'null'. Invalid property: 'name'"},
		{`{"secret_type": "foo", "mode": 5}`, prefix + "'Secret': 5 is not of type 'string'. Invalid property: 'mode'"},
		{`[]`, prefix + "'Secret': [] is not of type 'object'. Invalid property: 'None'"},
	})
}
