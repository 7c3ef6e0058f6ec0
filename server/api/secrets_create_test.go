package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestCreateSecretValidation(t *testing.T) {
	s := newSetup(t)
	const prefix = "Provided object does not match schema 'Secret': "
	cases := map[string]struct {
		body   string
		status int
		desc   string
	}{
		"an empty object is a metadata-only secret": {body: `{}`, status: 201},
		"a null name is allowed":                    {body: `{"name": null}`, status: 201},
		"a null algorithm is refused": {body: `{"algorithm": null}`, status: 400,
			desc: prefix + "None is not of type 'string'. Invalid property: 'algorithm'"},
		"a string bit length is refused": {body: `{"bit_length": "256"}`, status: 400,
			desc: prefix + "'256' is not of type 'integer'. Invalid property: 'bit_length'"},
		"a zero bit length is refused": {body: `{"bit_length": 0}`, status: 400,
			desc: prefix + "0 is less than the minimum of 1. Invalid property: 'bit_length'"},
		"a huge bit length is refused": {body: `{"bit_length": 32768}`, status: 400,
			desc: prefix + "32768 is greater than the maximum of 32767. Invalid property: 'bit_length'"},
		"an integral float bit length is accepted": {body: `{"bit_length": 256.0}`, status: 201},
		"a boolean bit length is refused": {body: `{"bit_length": true}`, status: 400,
			desc: prefix + "True is not of type 'integer'. Invalid property: 'bit_length'"},
		"an unknown secret type is refused": {body: `{"secret_type": "magic"}`, status: 400,
			desc: prefix + "'magic' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'"},
		"a long name is refused": {body: `{"name": "` + strings.Repeat("n", 256) + `"}`, status: 400,
			desc: prefix + "'" + strings.Repeat("n", 256) + "' is too long. Invalid property: 'name'"},
		"a list body is refused": {body: `[]`, status: 400,
			desc: prefix + "[] is not of type 'object'. Invalid property: 'None'"},
		"a payload without content type is refused": {body: `{"payload": "x"}`, status: 400,
			desc: prefix + "If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'"},
		"an unsupported content type is refused": {body: `{"payload": "x", "payload_content_type": "text/html"}`, status: 400,
			desc: prefix + "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'"},
		"a binary payload needs base64": {body: `{"payload": "abc", "payload_content_type": "application/octet-stream"}`, status: 400,
			desc: prefix + "payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'"},
		"a text payload must not name an encoding": {body: `{"payload": "abc", "payload_content_type": "text/plain", "payload_content_encoding": "base64"}`, status: 400,
			desc: prefix + "payload_content_encoding is not one of None. Invalid property: 'payload_content_encoding'"},
		"binary encoding is refused by the schema": {body: `{"payload": "abc", "payload_content_type": "application/octet-stream", "payload_content_encoding": "binary"}`, status: 400,
			desc: prefix + "'binary' is not one of ['base64']. Invalid property: 'payload_content_encoding'"},
		"a blank payload is refused": {body: `{"payload": "   ", "payload_content_type": "text/plain"}`, status: 400,
			desc: prefix + "If 'payload' specified, must be non empty. Invalid property: 'payload'"},
		"a null payload is refused": {body: `{"payload": null, "payload_content_type": "text/plain"}`, status: 400,
			desc: prefix + "None is not of type 'string'. Invalid property: 'payload'"},
		"bad base64 is refused": {body: `{"payload": "abc", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`, status: 400,
			desc: prefix + "Invalid payload for payload_content_encoding. Invalid property: 'payload'"},
		"a content type without payload is refused": {body: `{"payload_content_type": "text/plain"}`, status: 400,
			desc: prefix + "payload must be provided when payload_content_type is specified. Invalid property: 'payload'"},
		"a null content type without payload is refused too": {body: `{"payload_content_type": null}`, status: 400,
			desc: prefix + "payload must be provided when payload_content_type is specified. Invalid property: 'payload'"},
		"a payload over 20000 bytes is 413": {body: `{"payload": "` + strings.Repeat("x", 20001) + `", "payload_content_type": "text/plain"}`,
			status: 413, desc: "Provided information too large to process"},
		"a payload of exactly 20000 bytes is fine": {body: `{"payload": "` + strings.Repeat("x", 20000) + `", "payload_content_type": "text/plain"}`,
			status: 201},
		"a past expiration is refused": {body: `{"expiration": "2001-01-01T00:00:00"}`, status: 400,
			desc: prefix + "'expiration' is before current time. Invalid property: 'expiration'"},
		"an unparsable expiration is refused": {body: `{"expiration": "next tuesday"}`, status: 400,
			desc: prefix + "Invalid date for 'expiration'. Invalid property: 'expiration'"},
		"a blank expiration means none":               {body: `{"expiration": "  "}`, status: 201},
		"a future expiration with offset is accepted": {body: `{"expiration": "2999-01-01T00:00:00+02:00"}`, status: 201},
		"a charset variant is accepted":               {body: `{"payload": "x", "payload_content_type": "text/plain; charset=utf-8"}`, status: 201},
		"an unknown transport key is refused with a payload": {body: `{"payload": "x", "payload_content_type": "text/plain", "transport_key_id": "abc"}`,
			status: 400, desc: "Secret creation issue seen - Provided transport key was not found.."},
		"a transport key id without a payload is ignored": {body: `{"transport_key_id": "abc"}`, status: 201},
		"a transport key for a two-step upload is refused": {body: `{"transport_key_needed": "true"}`, status: 400,
			desc: "Secret creation issue seen - Secret store supported plugin not found.."},
		"a transport key request with a payload is ignored": {body: `{"payload": "x", "payload_content_type": "text/plain", "transport_key_needed": "true"}`,
			status: 201},
		"unknown fields are ignored": {body: `{"colour": "blue"}`, status: 201},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp := s.expect(admin, request{method: "POST", path: "/v1/secrets", body: tc.body}, tc.status)
			if tc.desc != "" {
				if d := resp.description(t); d != tc.desc {
					t.Errorf("description:\n got  %q\n want %q", d, tc.desc)
				}
			}
			if tc.status == http.StatusCreated {
				ref := resp.json(t)["secret_ref"].(string)
				if resp.header.Get("Location") != ref || !strings.HasPrefix(ref, s.server.URL+"/v1/secrets/") {
					t.Errorf("Location and secret_ref should be the secret's href, got %q and %q", resp.header.Get("Location"), ref)
				}
			}
		})
	}
}

func TestCreateSecretStoresWhatWasSent(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		id := s.createSecret(as{project: "p1", user: "alice"}, `{"name": "  db-pass ", "payload": "  s3cr3t\n",
			"payload_content_type": "text/plain", "algorithm": "aes", "bit_length": 7, "mode": "cbc",
			"secret_type": "passphrase", "expiration": "2999-12-28T19:14:44.180394", "creator_id": "mallory"}`)
		resp := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id,
			header: map[string]string{"OpenStack-API-Version": "key-manager 1.1"}}, http.StatusOK)
		m := resp.json(t)
		want := map[string]any{
			"name": "db-pass", "status": "ACTIVE", "algorithm": "aes", "bit_length": float64(7), "mode": "cbc",
			"secret_type": "passphrase", "creator_id": "alice", "secret_ref": s.server.URL + "/v1/secrets/" + id,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: want %v, got %v", k, v, m[k])
			}
		}
		if exp, _ := m["expiration"].(string); !strings.HasPrefix(exp, "2999-12-28T19:14:44") || strings.ContainsAny(exp, "Z+") {
			t.Errorf("expiration should be a naive UTC timestamp, got %q", exp)
		}
		if ct, _ := m["content_types"].(map[string]any); ct["default"] != "text/plain" {
			t.Errorf("content_types should be text/plain, got %v", m["content_types"])
		}
		if c, ok := m["consumers"].([]any); !ok || len(c) != 0 {
			t.Errorf("consumers should be an empty list at microversion 1.1, got %v", m["consumers"])
		}
		if len(m) != 13 {
			t.Errorf("the secret JSON should have exactly the documented keys, got %d: %v", len(m), m)
		}
		created, _ := m["created"].(string)
		if created != m["updated"] || strings.ContainsAny(created, "Z+") {
			t.Errorf("created and updated should be equal naive timestamps, got %v and %v", m["created"], m["updated"])
		}
		payload := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload",
			header: map[string]string{"Accept": "text/plain"}}, http.StatusOK)
		if string(payload.body) != "s3cr3t" {
			t.Errorf("the payload should come back whitespace-stripped, got %q", payload.body)
		}
		if ct := payload.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("text payloads carry a charset, got %q", ct)
		}
		meta := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t)
		if _, ok := meta["consumers"]; ok {
			t.Errorf("consumers must not appear at microversion 1.0")
		}
	})
}
