package auth

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestNoAuth(t *testing.T) {
	cases := map[string]struct {
		headers   map[string]string
		wantErr   error
		wantRoles []string
		wantAdmin bool
		wantUser  string
	}{
		"a request without X-Project-Id is refused": {
			headers: map[string]string{"X-Roles": "admin"},
			wantErr: ErrMissingProject,
		},
		"a blank X-Project-Id is refused": {
			headers: map[string]string{"X-Project-Id": "  "},
			wantErr: ErrMissingProject,
		},
		"no roles make the caller admin of the project": {
			headers:   map[string]string{"X-Project-Id": "p1"},
			wantRoles: []string{"admin"},
			wantAdmin: true,
		},
		"roles are split, trimmed, lower-cased and empties dropped": {
			headers:   map[string]string{"X-Project-Id": "p1", "X-Roles": " Creator, ,OBSERVER ", "X-User-Id": "u1"},
			wantRoles: []string{"creator", "observer"},
			wantUser:  "u1",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/secrets", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			c, err := NoAuth{AdminRole: "admin"}.Authenticate(r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("expected error %v, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !slices.Equal(c.Roles, tc.wantRoles) {
				t.Errorf("roles should be %v, got %v", tc.wantRoles, c.Roles)
			}
			if c.IsAdmin != tc.wantAdmin {
				t.Errorf("IsAdmin should be %v", tc.wantAdmin)
			}
			if c.UserID != tc.wantUser {
				t.Errorf("user should be %q, got %q", tc.wantUser, c.UserID)
			}
			if (c.CreatorID() == nil) != (tc.wantUser == "") {
				t.Errorf("creator id should be nil exactly when there is no user id")
			}
		})
	}
}
