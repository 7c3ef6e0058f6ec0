package auth

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
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
		"an X-Project-Id longer than its column is refused": {
			headers: map[string]string{"X-Project-Id": strings.Repeat("p", 256)},
			wantErr: &Error{Status: 400, Message: "Invalid X-Project-Id: longer than 255 bytes"},
		},
		"an X-User-Id longer than creator_id is refused": {
			headers: map[string]string{"X-Project-Id": "p1", "X-User-Id": strings.Repeat("é", 128)},
			wantErr: &Error{Status: 400, Message: "Invalid X-User-Id: longer than 255 bytes"},
		},
		"an X-User-Id that is not UTF-8 is refused": {
			headers: map[string]string{"X-Project-Id": "p1", "X-User-Id": "caf\xe9"},
			wantErr: &Error{Status: 400, Message: "Invalid X-User-Id: not UTF-8"},
		},
		"identities of exactly 255 bytes are fine": {
			headers:   map[string]string{"X-Project-Id": strings.Repeat("p", 255), "X-User-Id": strings.Repeat("u", 255)},
			wantRoles: []string{"admin"}, wantAdmin: true, wantUser: strings.Repeat("u", 255),
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
				var got, want *Error
				if !errors.As(err, &got) || !errors.As(tc.wantErr, &want) || got.Status != want.Status ||
					got.Message != want.Message {
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
