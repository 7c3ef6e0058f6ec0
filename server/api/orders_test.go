package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// createOrder posts an order and returns its id.
func (s *setup) createOrder(who as, body string) string {
	s.t.Helper()
	resp := s.expect(who, request{method: "POST", path: "/v1/orders/", body: body}, http.StatusAccepted)
	m := resp.json(s.t)
	ref, _ := m["order_ref"].(string)
	if len(m) != 1 || ref == "" || resp.header.Get("Location") != ref {
		s.t.Fatalf("a created order answers only its order_ref, also in Location; got %s (Location %q)",
			resp.body, resp.header.Get("Location"))
	}
	return ref[strings.LastIndexByte(ref, '/')+1:]
}

// waitOrder polls an order as castellan does until it leaves PENDING. The deadline only bounds a broken pool;
// nothing is asserted on how long processing takes.
func (s *setup) waitOrder(who as, id string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m := s.expect(who, request{method: "GET", path: "/v1/orders/" + id}, http.StatusOK).json(s.t)
		if m["status"] != "PENDING" {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %s is still PENDING", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func refID(t testing.TB, v any) string {
	t.Helper()
	ref, _ := v.(string)
	if len(ref) < 36 {
		t.Fatalf("want a ref ending in a UUID, got %v", v)
	}
	return ref[len(ref)-36:]
}

// keys lists an object's keys, sorted.
func keys(m map[string]any) string { return strings.Join(slices.Sorted(maps.Keys(m)), ",") }

func TestCreateOrderRefusals(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withoutOrderWorkers())...)
		past := s.clock.Now().Add(-time.Hour).Format(time.RFC3339)
		order := "Provided object does not match schema 'Order': "
		meta := "Provided object does not match schema 'Secret' within 'Order': "
		cases := []struct{ name, body, want string }{
			{"no meta", `{"type": "key"}`, order + "'meta' is a required property. Invalid property: 'meta'"},
			{"no type", `{"meta": {}}`, order + "'type' is a required property. Invalid property: 'type'"},
			{"certificate orders were removed", `{"type": "certificate", "meta": {}}`,
				order + "'certificate' is not one of ['key', 'asymmetric']. Invalid property: 'type'"},
			{"the type is case-sensitive", `{"type": "Key", "meta": {}}`,
				order + "'Key' is not one of ['key', 'asymmetric']. Invalid property: 'type'"},
			{"meta is an object", `{"type": "key", "meta": []}`, order + "[] is not of type 'object'. Invalid property: 'meta'"},
			{"the body is an object", `[]`, order + "[] is not of type 'object'. Invalid property: 'None'"},
			{"a key needs an algorithm", `{"type": "key", "meta": {"bit_length": 256}}`,
				order + "'algorithm' is required field for key type order. Invalid property: 'meta'"},
			{"an empty algorithm is none", `{"type": "key", "meta": {"algorithm": " ", "bit_length": 256}}`,
				order + "'algorithm' is required field for key type order. Invalid property: 'meta'"},
			{"a key pair needs an algorithm", `{"type": "asymmetric", "meta": {"bit_length": 2048}}`,
				order + "'algorithm' is required field for asymmetric key type order. Invalid property: 'meta'"},
			{"a key needs a length", `{"type": "key", "meta": {"algorithm": "aes"}}`,
				order + "'bit_length' is required field for key type order. Invalid property: 'meta'"},
			{"a key pair needs a length", `{"type": "asymmetric", "meta": {"algorithm": "rsa"}}`,
				order + "'bit_length' is required field for asymmetric key type order. Invalid property: 'meta'"},
			{"lengths are whole bytes", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 12}}`,
				"Provided field value is not supported"},
			{"the secret rules apply to meta", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 0}}`,
				meta + "0 is less than the minimum of 1. Invalid property: 'bit_length'"},
			{"null algorithm", `{"type": "key", "meta": {"algorithm": null, "bit_length": 256}}`,
				meta + "None is not of type 'string'. Invalid property: 'algorithm'"},
			{"no payload in a key order", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
				"payload": "abc", "payload_content_type": "text/plain"}}`,
				order + "'payload' not allowed for key type order. Invalid property: 'meta'"},
			{"no payload in a key pair order", `{"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048,
				"payload": "abc", "payload_content_type": "text/plain"}}`,
				order + "'payload' not allowed for asymmetric type order. Invalid property: 'meta'"},
			{"a payload is checked before it is refused", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
				"payload": "abc"}}`,
				meta + "If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'"},
			{"the content type must be supported", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
				"payload_content_type": "application/json"}}`,
				meta + "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', " +
					"'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'"},
			{"expiration in the past", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
				"expiration": "` + past + `"}}`, meta + "'expiration' is before current time. Invalid property: 'expiration'"},
			{"unparsable expiration", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
				"expiration": "tomorrow"}}`, meta + "Invalid date for 'expiration'. Invalid property: 'expiration'"},
			{"malformed JSON", `{"type": "key",`, "Malformed JSON"},
		}
		for _, c := range cases {
			resp := s.expect(admin, request{method: "POST", path: "/v1/orders", body: c.body}, http.StatusBadRequest)
			m := resp.json(t)
			if m["description"] != c.want || m["title"] != "Bad Request" || m["code"] != 400.0 {
				t.Errorf("%s:\n got  %s\n want %q", c.name, resp.body, c.want)
			}
		}

		valid := `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256}}`
		resp := s.expect(admin, request{method: "POST", path: "/v1/orders", body: valid,
			header: map[string]string{"Content-Type": "text/plain"}}, http.StatusUnsupportedMediaType)
		if d := resp.description(t); d != "Unexpected content type. Expected content types are: ['application/json']" {
			t.Errorf("415 description: %v", d)
		}
		resp = s.expect(admin, request{method: "POST", path: "/v1/orders", body: valid,
			header: map[string]string{"Accept": "text/plain"}}, http.StatusNotAcceptable)
		if d := resp.description(t); d != nil {
			t.Errorf("406 description should be null, got %v", d)
		}
		// Policy before Content-Type: an observer may not order, whatever it sends.
		observer := as{project: "p1", user: "o", roles: "observer"}
		resp = s.expect(observer, request{method: "POST", path: "/v1/orders", body: valid,
			header: map[string]string{"Content-Type": "text/plain"}}, http.StatusForbidden)
		if d := resp.description(t); d != "Order creation attempt not allowed - please review your user/project privileges" {
			t.Errorf("403 description: %v", d)
		}
		if list := s.expect(admin, request{method: "GET", path: "/v1/orders"}, http.StatusOK).json(t); list["total"] != 0.0 {
			t.Errorf("no refused order should have been stored, got %v", list)
		}
	})
}

func TestOrderJSONWhilePendingAndStoredMeta(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withoutOrderWorkers())...)
		exp := s.clock.Now().Add(48 * time.Hour)
		id := s.createOrder(admin, `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
			"mode": "cbc", "payload_content_type": "application/octet-stream", "expiration": "`+
			exp.In(time.FixedZone("CEST", 7200)).Format(time.RFC3339)+`"}}`)
		m := s.expect(admin, request{method: "GET", path: "/v1/orders/" + id}, http.StatusOK).json(t)
		if got := keys(m); got != "created,creator_id,meta,order_ref,status,type,updated" {
			t.Fatalf("a PENDING order should carry only these keys, got %s: %v", got, m)
		}
		if m["status"] != "PENDING" || m["type"] != "key" || m["creator_id"] != "u-admin" ||
			m["order_ref"] != s.server.URL+"/v1/orders/"+id {
			t.Errorf("unexpected order %v", m)
		}
		want := map[string]any{"algorithm": "aes", "bit_length": 256.0, "mode": "cbc", "name": nil,
			"payload_content_type": "application/octet-stream",
			"expiration":           exp.UTC().Format("2006-01-02T15:04:05") + ".000000"}
		got, _ := json.Marshal(m["meta"])
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("meta should be the request's with name and a normalised expiration:\n got  %s\n want %s", got, wantJSON)
		}
	})
}

func TestKeyOrderLikeCastellan(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		id := s.createOrder(admin, `{"type": "key", "meta": {"name": "volume-key", "algorithm": "aes",
			"bit_length": 256, "mode": "cbc", "payload_content_type": "application/octet-stream"}}`)
		o := s.waitOrder(admin, id)
		if got := keys(o); got != "created,creator_id,meta,order_ref,secret_ref,status,sub_status,sub_status_message,type,updated" {
			t.Fatalf("an ACTIVE key order should carry exactly these keys, got %s: %v", got, o)
		}
		if o["status"] != "ACTIVE" || o["sub_status"] != "Unknown" || o["sub_status_message"] != "Unknown" {
			t.Fatalf("unexpected order %v", o)
		}
		secretID := refID(t, o["secret_ref"])
		if o["secret_ref"] != s.server.URL+"/v1/secrets/"+secretID {
			t.Errorf("secret_ref should be an href: %v", o["secret_ref"])
		}
		sec := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + secretID}, http.StatusOK).json(t)
		if sec["name"] != "volume-key" || sec["secret_type"] != "symmetric" || sec["algorithm"] != "aes" ||
			sec["bit_length"] != 256.0 || sec["mode"] != "cbc" || sec["creator_id"] != "u-admin" {
			t.Errorf("the secret should take its fields from the order: %v", sec)
		}
		if ct, _ := sec["content_types"].(map[string]any); ct["default"] != "application/octet-stream" {
			t.Errorf("content_types: %v", sec["content_types"])
		}
		payload := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + secretID + "/payload",
			header: map[string]string{"Accept": "application/octet-stream"}}, http.StatusOK)
		if len(payload.body) != 32 {
			t.Fatalf("a 256-bit key should be 32 bytes, got %d", len(payload.body))
		}

		// Deleting the order keeps its secret.
		s.expect(admin, request{method: "DELETE", path: "/v1/orders/" + id}, http.StatusNoContent)
		s.expect(admin, request{method: "GET", path: "/v1/orders/" + id}, http.StatusNotFound)
		s.expect(admin, request{method: "GET", path: "/v1/secrets/" + secretID}, http.StatusOK)
	})
}

func TestOrderFailuresLikeTheReference(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		cases := []struct{ name, meta, code, reason string }{
			{"a length simple_crypto does not generate", `{"algorithm": "aes", "bit_length": 512}`, "500",
				"Process TypeOrder failure seen - please contact site administrator."},
			{"an algorithm of no crypto plugin", `{"algorithm": "ec", "bit_length": 256}`, "400",
				"Process TypeOrder issue seen - Requested algorithm is not supported."},
			{"an algorithm of no secret store", `{"algorithm": "3des", "bit_length": 192}`, "400",
				"Process TypeOrder issue seen - Secret generate supported plugin not found.."},
		}
		for _, c := range cases {
			o := s.waitOrder(admin, s.createOrder(admin, `{"type": "key", "meta": `+c.meta+`}`))
			if o["status"] != "ERROR" || o["error_status_code"] != c.code || o["error_reason"] != c.reason {
				t.Errorf("%s: want ERROR %s %q, got %v", c.name, c.code, c.reason, o)
			}
			if _, ok := o["secret_ref"]; ok {
				t.Errorf("%s: a failed order has no secret", c.name)
			}
			if _, ok := o["sub_status"]; ok {
				t.Errorf("%s: a failed order has no sub-status", c.name)
			}
		}
		o := s.waitOrder(admin, s.createOrder(admin, `{"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 3072}}`))
		if o["status"] != "ERROR" || o["error_status_code"] != "500" {
			t.Errorf("an RSA length simple_crypto does not offer should fail with 500, got %v", o)
		}
	})
}
