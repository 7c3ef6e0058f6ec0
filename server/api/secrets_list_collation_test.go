package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"testing"
)

// Barbican's MariaDB compares text with utf8mb4_general_ci: case and accents fold, '=' ignores trailing spaces,
// LIKE escapes with '\'. The list's filters and sorts must answer the same on the embedded SQLite default.
func TestListFiltersAndSortsCompareLikeMariaDB(t *testing.T) {
	results := map[string]map[string][]string{}
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		got := map[string][]string{}
		results[t.Name()] = got
		filter := as{project: "filters", roles: "admin"}
		for _, body := range []string{
			`{"name": "alpha", "algorithm": "AES", "secret_type": "symmetric"}`,
			`{"name": "Alpha", "algorithm": "aes", "secret_type": "symmetric"}`,
			`{"name": "älpha", "algorithm": "Aès"}`,
			`{"name": "alphabet"}`, `{"name": "beta", "algorithm": "RSA", "secret_type": "private"}`,
			`{"name": "a_c"}`, `{"name": "abc"}`, `{"name": "straße"}`, `{"name": "😀"}`, `{}`,
		} {
			s.createSecret(filter, body)
		}
		filters := map[string]struct {
			query string
			want  []string // names, sorted
		}{
			"name folds case and accents":           {"name=alpha", []string{"Alpha", "alpha", "älpha"}},
			"name is a LIKE pattern":                {"name=ALPHA%25", []string{"Alpha", "alpha", "alphabet", "älpha"}},
			"'_' is any one character":              {"name=a_c", []string{"a_c", "abc"}},
			`'\' escapes a wildcard`:                {"name=" + url.QueryEscape(`a\_c`), []string{"a_c"}},
			"ß weighs as s":                         {"name=STRASE", []string{"straße"}},
			"characters beyond the BMP weigh alike": {"name=" + url.QueryEscape("😁"), []string{"😀"}},
			"algorithm folds too":                   {"alg=aes", []string{"Alpha", "alpha", "älpha"}},
			"secret_type ignores case":              {"secret_type=SYMMETRIC", []string{"Alpha", "alpha"}},
			"secret_type ignores trailing spaces":   {"secret_type=" + url.QueryEscape("Symmetric  "), []string{"Alpha", "alpha"}},
			"a trailing tab is no space":            {"secret_type=" + url.QueryEscape("symmetric\t"), []string{}},
		}
		for name, tc := range filters {
			t.Run(name, func(t *testing.T) {
				names := listNames(t, s, filter, tc.query)
				sort.Strings(names)
				got[name] = names
				if !slices.Equal(names, tc.want) {
					t.Errorf("%s: want %q, got %q", tc.query, tc.want, names)
				}
			})
		}

		sorting := as{project: "sorting", roles: "admin"}
		for _, body := range []string{`{"name": "beta"}`, `{"name": "Alpha"}`, `{"name": "ébène"}`, `{"name": "Delta"}`,
			`{"name": "gamma"}`, `{"name": "😀"}`, `{"name": "alphabet"}`, `{}`} {
			s.createSecret(sorting, body)
		}
		order := []string{"<null>", "Alpha", "alphabet", "beta", "Delta", "ébène", "gamma", "😀"}
		t.Run("sort=name", func(t *testing.T) {
			names := listNames(t, s, sorting, "sort=name")
			got["sort=name"] = names
			if !slices.Equal(names, order) {
				t.Errorf("want %q, got %q", order, names)
			}
		})
		t.Run("sort=name:desc", func(t *testing.T) {
			names := listNames(t, s, sorting, "sort=name:desc")
			got["sort=name:desc"] = names
			want := slices.Clone(order)
			slices.Reverse(want)
			if !slices.Equal(names, want) {
				t.Errorf("want the reverse of %q, got %q", order, names)
			}
		})
	})
	sqlite, mariadb := results[t.Name()+"/sqlite"], results[t.Name()+"/mariadb"]
	a, _ := json.Marshal(sqlite)
	b, _ := json.Marshal(mariadb)
	if string(a) != string(b) {
		t.Errorf("SQLite and MariaDB should answer alike:\nsqlite  %s\nmariadb %s", a, b)
	}
}

// listNames lists a project's secrets with query and returns their names in order ("<null>" for none).
func listNames(t *testing.T, s *setup, who as, query string) []string {
	t.Helper()
	m := s.on(t).expect(who, request{method: "GET", path: "/v1/secrets?limit=100&" + query}, http.StatusOK).json(t)
	names := []string{}
	for _, item := range m["secrets"].([]any) {
		name, ok := item.(map[string]any)["name"].(string)
		if !ok {
			name = "<null>"
		}
		names = append(names, name)
	}
	return names
}
