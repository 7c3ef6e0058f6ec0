package api

import (
	"net/http"
	"strings"
	"testing"
)

// Identities are stored in VARCHAR(255) utf8mb4 columns (projects.external_id, creator_id). A longer or non-UTF-8
// X-Project-Id or X-User-Id made the create fail with 500 on MariaDB (a long one does in the reference too); it is
// a client error.
func TestIdentityHeadersFitTheirColumns(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		refused := map[string]struct {
			who  as
			want string
		}{
			"a 5000-byte X-Project-Id": {as{project: strings.Repeat("p", 5000)},
				`{"code":400,"title":"Bad Request","description":"Invalid X-Project-Id: longer than 255 bytes"}`},
			"a 256-byte X-Project-Id": {as{project: strings.Repeat("p", 256)},
				`{"code":400,"title":"Bad Request","description":"Invalid X-Project-Id: longer than 255 bytes"}`},
			"a 256-byte X-User-Id": {as{project: "p1", user: strings.Repeat("u", 256)},
				`{"code":400,"title":"Bad Request","description":"Invalid X-User-Id: longer than 255 bytes"}`},
			// MariaDB refuses these bytes in a utf8mb4 column (a 500); SQLite would keep them.
			"a Latin-1 X-Project-Id": {as{project: "caf\xe9"},
				`{"code":400,"title":"Bad Request","description":"Invalid X-Project-Id: not UTF-8"}`},
			"a Latin-1 X-User-Id": {as{project: "p1", user: "caf\xe9"},
				`{"code":400,"title":"Bad Request","description":"Invalid X-User-Id: not UTF-8"}`},
		}
		for name, tc := range refused {
			t.Run(name, func(t *testing.T) {
				s := s.on(t)
				assertBody(t, s.expect(tc.who, request{method: "POST", path: "/v1/secrets", body: `{}`}, http.StatusBadRequest),
					tc.want)
				// Every /v1 request is refused alike (the reference lists nothing for such a project).
				assertBody(t, s.expect(tc.who, request{method: "GET", path: "/v1/secrets"}, http.StatusBadRequest), tc.want)
			})
		}
		t.Run("255 bytes fit", func(t *testing.T) {
			s := s.on(t)
			who := as{project: strings.Repeat("p", 255), user: strings.Repeat("ü", 127) + "u"}
			id := s.createSecret(who, `{}`)
			got := s.expect(who, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t)["creator_id"]
			if got != who.user {
				t.Fatalf("creator_id should be the 255-byte user id, got %v", got)
			}
		})
	})
}
