package api

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSecretPayloadRetrieval(t *testing.T) {
	s := newSetup(t)
	raw := []byte{0x00, 0xff, 0x10, 0x80, 'k', 'e', 'y'}
	binID := s.createSecret(admin, `{"payload": "`+base64.StdEncoding.EncodeToString(raw)+`",
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`)
	textID := s.createSecret(admin, `{"payload": "héllo", "payload_content_type": "text/plain"}`)
	emptyID := s.createSecret(admin, `{"name": "no payload"}`)
	cases := map[string]struct {
		id, accept, path string
		status           int
		body             []byte
		contentType      string
		desc             string
	}{
		"binary without Accept is octet-stream": {id: binID, status: 200, body: raw, contentType: "application/octet-stream"},
		"binary with */* uses the stored type":  {id: binID, accept: "*/*", status: 200, body: raw, contentType: "*/*"},
		"binary as text is 406 when not UTF-8": {id: binID, accept: "text/plain", status: 406,
			desc: "Secret payload retrieval issue seen - Wrong payload content-type."},
		"text as octet-stream is allowed": {id: textID, accept: "application/octet-stream", status: 200, body: []byte("héllo")},
		"text as text":                    {id: textID, accept: "text/plain", status: 200, body: []byte("héllo")},
		"an unsupported Accept is 406": {id: textID, accept: "application/json", status: 406,
			desc: "Secret payload retrieval issue seen - Wrong payload content-type."},
		"Accept is not parsed": {id: textID, accept: "text/plain, */*", status: 406},
		"an upper-case Accept passes the check but not the exact match": {id: textID, accept: "TEXT/PLAIN", status: 400,
			desc: "Secret payload retrieval issue seen - content-type of 'TEXT/PLAIN' not supported."},
		"a metadata-only secret has no payload": {id: emptyID, accept: "text/plain", status: 404,
			desc: "Not Found. Sorry but your secret has no payload."},
		"the deprecated payload path answers non-JSON Accepts": {id: textID, path: "/v1/secrets/" + textID, accept: "text/plain",
			status: 200, body: []byte("héllo")},
		"the deprecated path takes a JSON Accept with parameters as a payload request": {id: textID, path: "/v1/secrets/" + textID,
			accept: "application/json; charset=utf-8", status: 406},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v1/secrets/" + tc.id + "/payload"
			}
			resp := s.expect(admin, request{method: "GET", path: path, header: map[string]string{"Accept": tc.accept}}, tc.status)
			if tc.body != nil && !bytes.Equal(resp.body, tc.body) {
				t.Errorf("payload: want %q, got %q", tc.body, resp.body)
			}
			if tc.contentType != "" && resp.header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type: want %q, got %q", tc.contentType, resp.header.Get("Content-Type"))
			}
			if tc.desc != "" && resp.description(t) != tc.desc {
				t.Errorf("description: want %q, got %q", tc.desc, resp.description(t))
			}
			if resp.status == 200 && resp.header.Get("Cache-Control") != "no-store" {
				t.Errorf("payload responses must not be cached")
			}
		})
	}
	t.Run("other methods on payload are 405 after policy", func(t *testing.T) {
		s.expect(admin, request{method: "PUT", path: "/v1/secrets/" + textID + "/payload"}, http.StatusMethodNotAllowed)
		s.expect(as{project: "p2"}, request{method: "PUT", path: "/v1/secrets/" + textID + "/payload"}, http.StatusForbidden)
	})
}

func TestTwoStepUpload(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		put := func(id, contentType, encoding string, body []byte) response {
			return s.do(admin, request{method: "PUT", path: "/v1/secrets/" + id, body: string(body),
				header: map[string]string{"Content-Type": contentType, "Content-Encoding": encoding}})
		}
		key := bytes.Repeat([]byte{0xa5}, 32)
		id := s.createSecret(admin, `{"name": "k", "secret_type": "symmetric", "algorithm": "aes", "bit_length": 256}`)
		meta := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t)
		if _, ok := meta["content_types"]; ok {
			t.Fatalf("a metadata-only secret has no content_types")
		}
		if r := put(id, "application/octet-stream", "", key); r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("PUT payload: want 204 without body, got %d %s", r.status, r.body)
		}
		if r := put(id, "application/octet-stream", "", key); r.status != http.StatusConflict {
			t.Fatalf("a second PUT should be 409, got %d", r.status)
		}
		got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload"}, http.StatusOK)
		if !bytes.Equal(got.body, key) {
			t.Fatalf("payload mismatch")
		}
		if s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t)["content_types"] == nil {
			t.Fatalf("after the upload the secret has content_types")
		}

		b64 := s.createSecret(admin, `{}`)
		if r := put(b64, "application/octet-stream", "Base64", []byte(base64.StdEncoding.EncodeToString(key))); r.status != 204 {
			t.Fatalf("base64 PUT: %d %s", r.status, r.body)
		}
		if got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + b64 + "/payload"}, 200); !bytes.Equal(got.body, key) {
			t.Fatalf("a base64 upload should be stored decoded")
		}

		t.Run("base64 of nothing but non-alphabet bytes stores an empty payload", func(t *testing.T) {
			// The reference's store_crypto decodes the PUT body with Python's b64decode of bytes, which drops
			// every byte outside the alphabet: the four UTF-8 bytes of U+1F37A decode to an empty payload.
			id := s.createSecret(admin, `{}`)
			if r := put(id, "application/octet-stream", "base64", []byte("\U0001F37A")); r.status != http.StatusNoContent {
				t.Fatalf("want 204, got %d %s", r.status, r.body)
			}
			// An empty payload reads back as the reference's pecan answers an empty body: 204, no Content-Type.
			got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload"}, http.StatusNoContent)
			if len(got.body) != 0 || got.header.Get("Content-Type") != "" {
				t.Fatalf("an empty payload should be a bare 204, got %q %q", got.header.Get("Content-Type"), got.body)
			}
		})

		errorsCases := map[string]struct {
			contentType, encoding string
			body                  []byte
			status                int
			desc                  string
		}{
			"JSON is not a payload type": {contentType: "application/json", body: []byte("{}"), status: 415,
				desc: "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']"},
			"an empty body": {contentType: "text/plain", status: 400, desc: "Secret update issue seen - No data supplied to process.."},
			"a body over the limit": {contentType: "text/plain", body: bytes.Repeat([]byte("x"), 20001), status: 413,
				desc: "Secret update issue seen - Provided information too large to process."},
			"an unknown encoding": {contentType: "application/octet-stream", encoding: "gzip", body: []byte("x"), status: 400,
				desc: "Secret update issue seen - Text-based binary secret payloads must specify a content-encoding of 'base64'."},
			"badly padded base64": {contentType: "application/octet-stream", encoding: "base64", body: []byte("abc"), status: 400,
				desc: "Secret update issue seen - Problem decoding payload."},
		}
		for name, tc := range errorsCases {
			t.Run(name, func(t *testing.T) {
				id := s.createSecret(admin, `{}`)
				r := put(id, tc.contentType, tc.encoding, tc.body)
				if r.status != tc.status || r.description(t) != tc.desc {
					t.Fatalf("want %d %q, got %d %s", tc.status, tc.desc, r.status, r.body)
				}
			})
		}
		t.Run("text upload keeps the bytes", func(t *testing.T) {
			id := s.createSecret(admin, `{}`)
			if r := put(id, "text/plain; charset=utf-8", "", []byte(" pem\n")); r.status != 204 {
				t.Fatalf("text PUT: %d %s", r.status, r.body)
			}
			got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload",
				header: map[string]string{"Accept": "text/plain"}}, 200)
			if string(got.body) != " pem\n" {
				t.Fatalf("a PUT payload is stored verbatim, got %q", got.body)
			}
		})
	})
}

func TestDeleteAndExpiry(t *testing.T) {
	s := newSetup(t)
	id := s.createSecret(admin, `{"payload": "x", "payload_content_type": "text/plain"}`)
	s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + id}, http.StatusNoContent)
	s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusNotFound)
	s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + id}, http.StatusNotFound)

	t.Run("force must be a boolean at microversion 1.2", func(t *testing.T) {
		id := s.createSecret(admin, `{}`)
		r := s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + id + "?force=maybe",
			header: map[string]string{"OpenStack-API-Version": "key-manager 1.2"}}, http.StatusBadRequest)
		if r.description(t) != "URI provided invalid query string parameters." {
			t.Fatalf("unexpected body %s", r.body)
		}
		s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + id + "?force=maybe"}, http.StatusNoContent)
	})

	t.Run("expired secrets vanish", func(t *testing.T) {
		exp := s.clock.Now().Add(time.Hour).Format("2006-01-02T15:04:05")
		id := s.createSecret(as{project: "exp"}, `{"name": "short-lived", "expiration": "`+exp+`"}`)
		list := s.expect(as{project: "exp"}, request{method: "GET", path: "/v1/secrets"}, 200).json(t)
		if list["total"] != float64(1) {
			t.Fatalf("the secret should be listed before it expires: %v", list)
		}
		s.clock.Advance(2 * time.Hour)
		s.expect(as{project: "exp"}, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusNotFound)
		s.expect(as{project: "exp"}, request{method: "DELETE", path: "/v1/secrets/" + id}, http.StatusNotFound)
		list = s.expect(as{project: "exp"}, request{method: "GET", path: "/v1/secrets"}, 200).json(t)
		if list["total"] != float64(0) || len(list["secrets"].([]any)) != 0 {
			t.Fatalf("an expired secret must not be listed or counted: %v", list)
		}
	})

	t.Run("another project's secret is 403, not 404", func(t *testing.T) {
		id := s.createSecret(admin, `{}`)
		r := s.expect(as{project: "p2"}, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusForbidden)
		if !strings.HasPrefix(r.description(t).(string), "Secret retrieval attempt not allowed") {
			t.Fatalf("unexpected body %s", r.body)
		}
	})
}

func TestPayloadNeedsATransportKeyIDWithAWrappedSessionKey(t *testing.T) {
	s := newSetup(t)
	id := s.createSecret(admin, `{"payload": "x", "payload_content_type": "text/plain"}`)
	r := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload?trans_wrapped_session_key=abc",
		header: map[string]string{"Accept": "text/plain"}}, http.StatusBadRequest)
	if !strings.HasPrefix(r.description(t).(string), "Transport key wrapped session key has been provided") {
		t.Fatalf("unexpected body %s", r.body)
	}
}

func TestDeletingASecretWithConsumers(t *testing.T) {
	s := newSetup(t)
	withConsumer := func() string {
		id := s.createSecret(admin, `{}`)
		s.expect(admin, request{method: "POST", path: "/v1/secrets/" + id + "/consumers",
			body: `{"service": "image", "resource_type": "image", "resource_id": "2b1c1a4e-9f3e-4d5a-8c1b-0a2b3c4d5e6f"}`},
			http.StatusOK)
		return id
	}
	v12 := map[string]string{"OpenStack-API-Version": "key-manager 1.2"}

	id := withConsumer()
	got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id,
		header: map[string]string{"OpenStack-API-Version": "key-manager 1.1"}}, http.StatusOK).json(t)
	consumers, _ := got["consumers"].([]any)
	if len(consumers) != 1 || consumers[0].(map[string]any)["service"] != "image" {
		t.Fatalf("the consumer should be listed at 1.1, got %v", got["consumers"])
	}
	r := s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + id, header: v12}, http.StatusBadRequest)
	if r.description(t) != "Secret deletion issue seen - Secret cannot be deleted as it has consumers.." {
		t.Fatalf("unexpected body %s", r.body)
	}
	s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + id + "?force=true", header: v12}, http.StatusNoContent)
	s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusNotFound)

	// Before microversion 1.2 consumers do not block a delete.
	s.expect(admin, request{method: "DELETE", path: "/v1/secrets/" + withConsumer()}, http.StatusNoContent)
}
