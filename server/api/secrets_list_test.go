package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestListSecrets(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		p := as{project: "lister", user: "u1"}
		names := []string{"foo-1", "foo-2", "bar", "foo-3", "foo_4", "baz"}
		ids := make([]string, len(names))
		for i, n := range names {
			bits := 128 * (i%2 + 1)
			ids[i] = s.createSecret(p, fmt.Sprintf(`{"name": %q, "algorithm": "aes", "bit_length": %d, "mode": "cbc",
				"secret_type": %q}`, n, bits, map[bool]string{true: "symmetric", false: "opaque"}[i < 3]))
			s.clock.Advance(time.Second) // distinct created_at, second precision as on MariaDB
		}
		s.createSecret(as{project: "someone-else"}, `{"name": "foo-other"}`)

		list := func(query string) map[string]any {
			t.Helper()
			return s.expect(p, request{method: "GET", path: "/v1/secrets" + query}, http.StatusOK).json(t)
		}
		namesOf := func(m map[string]any) []string {
			var out []string
			for _, e := range m["secrets"].([]any) {
				out = append(out, e.(map[string]any)["name"].(string))
			}
			return out
		}
		cases := map[string]struct {
			query string
			want  []string
			total float64
		}{
			"default order is creation order":      {query: "", want: names, total: 6},
			"name is a LIKE pattern":               {query: "?name=foo%25", want: []string{"foo-1", "foo-2", "foo-3", "foo_4"}, total: 4},
			"underscore is a LIKE wildcard":        {query: "?name=foo_1", want: []string{"foo-1"}, total: 1},
			"bits filters exactly":                 {query: "?bits=256", want: []string{"foo-2", "foo-3", "baz"}, total: 3},
			"invalid bits means no filter":         {query: "?bits=many", want: names, total: 6},
			"secret_type is exact":                 {query: "?secret_type=symmetric", want: []string{"foo-1", "foo-2", "bar"}, total: 3},
			"sort by name descending":              {query: "?sort=name:desc", want: []string{"foo_4", "foo-3", "foo-2", "foo-1", "baz", "bar"}, total: 6},
			"sort by bit length then created desc": {query: "?sort=bit_length,created:desc", want: []string{"foo_4", "bar", "foo-1", "baz", "foo-3", "foo-2"}, total: 6},
			// LIKE is case-insensitive for ASCII on SQLite and on MariaDB's default collation.
			"alg and mode filters": {query: "?alg=AES&mode=cbc&limit=2", want: []string{"foo-1", "foo-2"}, total: 6},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				m := list(tc.query)
				got := namesOf(m)
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("want %v, got %v", tc.want, got)
				}
				if m["total"] != tc.total {
					t.Errorf("total: want %v, got %v", tc.total, m["total"])
				}
			})
		}

		t.Run("paging links keep filters, limit first", func(t *testing.T) {
			m := list("?limit=2&offset=1&name=foo%25&sort=name")
			base := s.server.URL + "/v1/secrets"
			if m["previous"] != base+"?limit=2&offset=0&name=foo%25&sort=name" || m["next"] != base+"?limit=2&offset=3&name=foo%25&sort=name" {
				t.Errorf("unexpected links: previous=%v next=%v", m["previous"], m["next"])
			}
			if strings.Join(namesOf(m), ",") != "foo-2,foo-3" {
				t.Errorf("unexpected page %v", namesOf(m))
			}
		})
		t.Run("an empty page has no links", func(t *testing.T) {
			m := list("?offset=10")
			if _, ok := m["next"]; ok || m["previous"] != nil || m["total"] != float64(6) || len(m["secrets"].([]any)) != 0 {
				t.Errorf("unexpected empty page %v", m)
			}
		})
		t.Run("bad paging values fall back silently", func(t *testing.T) {
			m := list("?limit=abc&offset=-3")
			if len(m["secrets"].([]any)) != 6 || m["previous"] != nil {
				t.Errorf("unexpected page %v", m)
			}
			m = list("?limit=0")
			if len(m["secrets"].([]any)) != 1 || !strings.Contains(m["next"].(string), "limit=1&offset=1") {
				t.Errorf("limit < 1 should become 1: %v", m)
			}
			m = list("?limit=1000")
			if len(m["secrets"].([]any)) != 6 {
				t.Errorf("limit > max is clamped: %v", m)
			}
		})
		t.Run("a project never seen lists nothing", func(t *testing.T) {
			m := s.expect(as{project: "new"}, request{method: "GET", path: "/v1/secrets"}, 200).json(t)
			if m["total"] != float64(0) {
				t.Errorf("unexpected %v", m)
			}
		})
		t.Run("date filters", func(t *testing.T) {
			all := list("")["secrets"].([]any)
			third := all[2].(map[string]any)["created"].(string)
			m := list("?created=gte:" + url.QueryEscape(third))
			if m["total"] != float64(4) {
				t.Errorf("created>=third should match 4, got %v", m["total"])
			}
			m = list("?created=gt:" + url.QueryEscape(third) + ",lt:2999-01-01T00:00:00")
			if m["total"] != float64(3) {
				t.Errorf("created>third should match 3, got %v", m["total"])
			}
		})
		bad := map[string]string{
			"two lower bounds":        "?created=gt:2020-01-01,gte:2020-01-01",
			"eq with gte":             "?updated=2020-01-01T00:00:00,gte:2020-01-01",
			"unparsable date":         "?expiration=gt:someday",
			"unknown sort key":        "?sort=colour",
			"unknown sort direction":  "?sort=name:up",
			"duplicate sort key":      "?sort=name,name:desc",
			"too many colons in sort": "?sort=name:asc:desc",
		}
		for name, q := range bad {
			t.Run("400 for "+name, func(t *testing.T) {
				r := s.expect(p, request{method: "GET", path: "/v1/secrets" + q}, http.StatusBadRequest)
				if r.description(t) != "URI provided invalid query string parameters." {
					t.Errorf("unexpected body %s", r.body)
				}
			})
		}
		t.Run("list items have exactly the documented keys", func(t *testing.T) {
			m := s.expect(p, request{method: "GET", path: "/v1/secrets?limit=1",
				header: map[string]string{"OpenStack-API-Version": "key-manager 1.1"}}, 200).json(t)
			item := m["secrets"].([]any)[0].(map[string]any)
			allowed := map[string]bool{"created": true, "updated": true, "status": true, "name": true, "secret_type": true,
				"expiration": true, "algorithm": true, "bit_length": true, "mode": true, "creator_id": true,
				"content_types": true, "consumers": true, "secret_ref": true}
			for k := range item {
				if !allowed[k] {
					t.Errorf("unexpected key %q would break python-barbicanclient", k)
				}
			}
			if _, ok := item["consumers"]; !ok {
				t.Errorf("consumers should be listed at microversion 1.1")
			}
		})
	})
}
