package store

import (
	"slices"
	"testing"
	"time"
)

func TestListSecrets(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "list-a")
		_, pb := newFixture(t, db, "list-b")
		base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		at := func(i int) Model { return Model{CreatedAt: base.Add(time.Duration(i) * time.Second)} }
		soon := base.Add(2 * time.Hour)
		// Secrets named by their role; creation order is n0 < n1 < ... .
		specs := []Secret{
			{Model: at(0), Name: ptr("alpha"), Algorithm: ptr("aes"), BitLength: ptr(256), Mode: ptr("cbc"), SecretType: "symmetric"},
			{Model: at(1), Name: ptr("beta"), Algorithm: ptr("aes"), BitLength: ptr(128), Mode: ptr("gcm"), SecretType: "symmetric"},
			{Model: at(2), Name: ptr("gamma"), Algorithm: ptr("rsa"), BitLength: ptr(2048), SecretType: "private", Expiration: &soon},
			{Model: at(3), Name: ptr("alphabet"), SecretType: "opaque"},
			{Model: at(4), SecretType: "passphrase"},
		}
		ids := map[string]string{}
		for i, s := range specs {
			got := f.secret(pa, s, "text/plain")
			ids[[]string{"alpha", "beta", "gamma", "alphabet", "noname"}[i]] = got.ID
		}
		expired := f.secret(pa, Secret{Model: at(5), Name: ptr("expired"), Expiration: ptr(base.Add(30 * time.Minute))}, "")
		_ = expired
		other := f.secret(pb, Secret{Model: at(6), Name: ptr("alpha")}, "")
		addACL(t, db, ids["beta"], false, "reader")
		addACL(t, db, other.ID, true, "reader")
		now := base.Add(time.Hour)

		names := func(page []SecretView) []string {
			out := []string{}
			for _, v := range page {
				for k, id := range ids {
					if id == v.ID {
						out = append(out, k)
					}
				}
				if v.ID == other.ID {
					out = append(out, "other")
				}
			}
			return out
		}
		cases := map[string]struct {
			q     SecretQuery
			want  []string
			total int
		}{
			"the default order is creation order and expired secrets are left out": {
				q: SecretQuery{}, want: []string{"alpha", "beta", "gamma", "alphabet", "noname"}, total: 5},
			"limit and offset page through the list with the full total": {
				q: SecretQuery{Offset: 1, Limit: 2}, want: []string{"beta", "gamma"}, total: 5},
			"an offset past the end gives an empty page and the total": {
				q: SecretQuery{Offset: 10, Limit: 2}, want: []string{}, total: 5},
			"name is a LIKE pattern": {
				q: SecretQuery{Name: "alpha%"}, want: []string{"alpha", "alphabet"}, total: 2},
			"algorithm and mode are LIKE patterns": {
				q: SecretQuery{Algorithm: "ae_", Mode: "g%"}, want: []string{"beta"}, total: 1},
			"bit length filters exactly": {
				q: SecretQuery{BitLength: 2048}, want: []string{"gamma"}, total: 1},
			"secret type filters exactly": {
				q: SecretQuery{SecretType: "symmetric"}, want: []string{"alpha", "beta"}, total: 2},
			"created gt and lte bound a range": {
				q:    SecretQuery{Created: []TimeFilter{{"gt", base}, {"lte", base.Add(2 * time.Second)}}},
				want: []string{"beta", "gamma"}, total: 2},
			"created eq matches one instant": {
				q: SecretQuery{Created: []TimeFilter{{"eq", base.Add(3 * time.Second)}}}, want: []string{"alphabet"}, total: 1},
			"created gte and lt bound a half-open range": {
				q:    SecretQuery{Created: []TimeFilter{{"gte", base.Add(time.Second)}, {"lt", base.Add(2 * time.Second)}}},
				want: []string{"beta"}, total: 1},
			"an expiration filter never brings back expired secrets": {
				q: SecretQuery{Expiration: []TimeFilter{{"lt", base.Add(3 * time.Hour)}}}, want: []string{"gamma"}, total: 1},
			"updated filters use updated_at": {
				q: SecretQuery{Updated: []TimeFilter{{"gte", base.Add(4 * time.Second)}}}, want: []string{"noname"}, total: 1},
			"sort by name ascending puts NULL first": {
				q: SecretQuery{Sort: []SortKey{{"name", false}}}, want: []string{"noname", "alpha", "alphabet", "beta", "gamma"}, total: 5},
			"sort by bit length descending then name": {
				q:    SecretQuery{Sort: []SortKey{{"bit_length", true}, {"name", false}}, Limit: 3},
				want: []string{"gamma", "alpha", "beta"}, total: 5},
			"acl_only lists secrets whose read ACL names the user in any project": {
				q: SecretQuery{ProjectID: "-", ACLUserID: "reader"}, want: []string{"beta", "other"}, total: 2},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				q := tc.q
				if q.ProjectID == "" {
					q.ProjectID = pa
				}
				page, total, err := readAt(db, now).ListSecrets(q)
				if err != nil {
					t.Fatalf("ListSecrets: %v", err)
				}
				got := names(page)
				if q.ACLUserID != "" {
					slices.Sort(got)
				}
				if !slices.Equal(got, tc.want) || total != tc.total {
					t.Errorf("got %v total %d, want %v total %d", got, total, tc.want, tc.total)
				}
			})
		}

		page, _, err := readAt(db, now).ListSecrets(SecretQuery{ProjectID: pa, Name: "beta", Consumers: true})
		if err != nil || len(page) != 1 {
			t.Fatalf("ListSecrets: %v", err)
		}
		v := page[0]
		if !v.HasPayload || v.ContentType != "text/plain" || v.ReadACL == nil || v.ReadACL.Users[0] != "reader" ||
			v.Consumers == nil || v.ProjectExternalID != "list-a" {
			t.Errorf("page entries should carry payload, ACL and consumer details: %+v", v)
		}
		if _, _, err := readAt(db, now).ListSecrets(SecretQuery{ProjectID: pa, Sort: []SortKey{{"secret", false}}}); err == nil {
			t.Errorf("an unknown sort column should be rejected")
		}
	})
}
