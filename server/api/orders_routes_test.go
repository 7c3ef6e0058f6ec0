package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestListOrders(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withoutOrderWorkers())...)
		other := as{project: "p2", user: "u2", roles: "admin"}
		if m := s.expect(other, request{method: "GET", path: "/v1/orders"}, http.StatusOK).json(t); keys(m) != "orders,total" || m["total"] != 0.0 {
			t.Fatalf("a project that never ordered has an empty list: %v", m)
		}
		var ids []string
		for i := range 5 {
			ids = append(ids, s.createOrder(admin, fmt.Sprintf(
				`{"type": "key", "meta": {"name": "n%d", "algorithm": "aes", "bit_length": 256}}`, i%2)))
			s.clock.Advance(time.Second) // creation order is visible on MariaDB's whole seconds too
		}
		s.createOrder(other, `{"type": "key", "meta": {"name": "n0", "algorithm": "aes", "bit_length": 256}}`)

		m := s.expect(admin, request{method: "GET", path: "/v1/orders?limit=2&offset=2"}, http.StatusOK).json(t)
		base := s.server.URL + "/v1/orders"
		if m["total"] != 5.0 || m["previous"] != base+"?limit=2&offset=0" || m["next"] != base+"?limit=2&offset=4" {
			t.Fatalf("paging: %v", m)
		}
		page, _ := m["orders"].([]any)
		if len(page) != 2 || refID(t, page[0].(map[string]any)["order_ref"]) != ids[2] ||
			refID(t, page[1].(map[string]any)["order_ref"]) != ids[3] {
			t.Fatalf("the page should hold the 3rd and 4th orders, oldest first: %v", page)
		}
		if m := s.expect(admin, request{method: "GET", path: "/v1/orders?offset=9"}, http.StatusOK).json(t); keys(m) != "orders,total" || m["total"] != 5.0 {
			t.Errorf("an empty page has no links: %v", m)
		}
		// The meta filter matches the JSON-encoded value, quotes included, as the reference's does.
		m = s.expect(admin, request{method: "GET", path: "/v1/orders?meta=n1"}, http.StatusOK).json(t)
		if m["total"] != 2.0 {
			t.Errorf("meta=n1 should match the two orders named n1, got %v", m["total"])
		}
		if m := s.expect(admin, request{method: "GET", path: "/v1/orders?meta=n"}, http.StatusOK).json(t); m["total"] != 0.0 {
			t.Errorf("meta=n matches no whole JSON string, got %v", m["total"])
		}
		s.expect(admin, request{method: "GET", path: "/v1/orders", header: map[string]string{"Accept": "text/plain"}},
			http.StatusNotAcceptable)
		audit := as{project: "p1", user: "a", roles: "audit"}
		resp := s.expect(audit, request{method: "GET", path: "/v1/orders"}, http.StatusForbidden)
		if d := resp.description(t); d != "Order(s) retrieval attempt not allowed - please review your user/project privileges" {
			t.Errorf("403 description: %v", d)
		}
	})
}

func TestOrderLookupAndDeletion(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withoutOrderWorkers())...)
		id := s.createOrder(admin, `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256}}`)
		notFound := func(who as, req request) {
			t.Helper()
			resp := s.expect(who, req, http.StatusNotFound)
			if d := resp.description(t); d != "Order not found." {
				t.Errorf("%s %s: want 'Order not found.', got %v", req.method, req.path, d)
			}
		}
		other := as{project: "p2", user: "u2", roles: "admin"}
		notFound(other, request{method: "GET", path: "/v1/orders/" + id})
		notFound(other, request{method: "DELETE", path: "/v1/orders/" + id})
		notFound(admin, request{method: "GET", path: "/v1/orders/not-a-uuid"})
		notFound(admin, request{method: "PUT", path: "/v1/orders/not-a-uuid", body: `{}`})
		// A known order: the method is refused after the lookup.
		resp := s.expect(admin, request{method: "PUT", path: "/v1/orders/" + id, body: `{}`}, http.StatusMethodNotAllowed)
		if d := resp.description(t); d != "" || resp.header.Get("Allow") != "DELETE, GET" {
			t.Errorf("routing 405 has an empty description and Allow: DELETE, GET; got %v, %q", d, resp.header.Get("Allow"))
		}
		s.expect(admin, request{method: "GET", path: "/v1/orders/" + id + "/", header: map[string]string{"Accept": "text/plain"}},
			http.StatusNotAcceptable)

		// Legacy policy: only admin deletes orders; creators and observers read them.
		creator := as{project: "p1", user: "c", roles: "creator"}
		s.expect(creator, request{method: "GET", path: "/v1/orders/" + id}, http.StatusOK)
		resp = s.expect(creator, request{method: "DELETE", path: "/v1/orders/" + id}, http.StatusForbidden)
		if d := resp.description(t); d != "Order deletion attempt not allowed - please review your user/project privileges" {
			t.Errorf("403 description: %v", d)
		}
		// DELETE answers any Accept (an all-types handler).
		s.expect(admin, request{method: "DELETE", path: "/v1/orders/" + id, header: map[string]string{"Accept": "text/plain"}},
			http.StatusNoContent)
		notFound(admin, request{method: "GET", path: "/v1/orders/" + id})
		notFound(admin, request{method: "DELETE", path: "/v1/orders/" + id})
	})
}

func TestPutOrdersIsRefusedAfterThePolicy(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withoutOrderWorkers())...)
		resp := s.expect(admin, request{method: "PUT", path: "/v1/orders", body: `{}`}, http.StatusMethodNotAllowed)
		if m := resp.json(t); m["description"] != "Order update is not supported." || m["title"] != "Method Not Allowed" {
			t.Errorf("405: %s", resp.body)
		}
		observer := as{project: "p1", user: "o", roles: "observer"}
		resp = s.expect(observer, request{method: "PUT", path: "/v1/orders/", body: `{}`}, http.StatusForbidden)
		if d := resp.description(t); d != "Order update attempt not allowed - please review your user/project privileges" {
			t.Errorf("403 description: %v", d)
		}
	})
}
