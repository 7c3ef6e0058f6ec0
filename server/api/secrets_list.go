package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

var errBadQuery = newError(http.StatusBadRequest, "URI provided invalid query string parameters.")

// listSecrets is GET /v1/secrets with the reference's filters, sort keys and paging.
func (a *API) listSecrets(w http.ResponseWriter, r *http.Request) {
	const op = "Secret(s) retrieval"
	if !a.admit(w, r, guard{op: op, action: policy.ActionSecretsGet, accept: acceptJSON}, nil) {
		return
	}
	params := orderedQuery(r.URL.RawQuery)
	q, e := a.secretQuery(r, params)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	c := caller(r)
	tx := a.db.Read(r.Context())
	if q.ACLUserID == "" {
		projectID, err := tx.ProjectID(c.ProjectID)
		if errors.Is(err, store.ErrNotFound) {
			writeJSON(w, http.StatusOK, map[string]any{"secrets": []any{}, "total": 0})
			return
		}
		if err != nil {
			a.writeError(w, r, op, err)
			return
		}
		q.ProjectID = projectID
	}
	secrets, total, err := tx.ListSecrets(q)
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	if len(secrets) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"secrets": []any{}, "total": total})
		return
	}
	items := make([]secretJSON, len(secrets))
	withConsumers := microversion(r) >= 1
	for i := range secrets {
		items[i] = a.secretJSON(r, &secrets[i], withConsumers)
	}
	body := map[string]any{"secrets": items, "total": total}
	navLinks(body, a.baseHref(r), "secrets", page{offset: q.Offset, limit: q.Limit}, total,
		encodeQuery(params, "limit", "offset"))
	writeJSON(w, http.StatusOK, body)
}

// secretQuery validates and translates the list's query parameters.
func (a *API) secretQuery(r *http.Request, params []queryParam) (store.SecretQuery, *Error) {
	get := func(k string) string { v, _ := first(params, k); return v }
	offset, _ := first(params, "offset")
	limit, _ := first(params, "limit")
	p := a.cleanPaging(offset, limit)
	q := store.SecretQuery{
		Offset:     p.offset,
		Limit:      p.limit,
		Algorithm:  get("alg"),
		Mode:       get("mode"),
		SecretType: get("secret_type"),
		Consumers:  microversion(r) >= 1,
	}
	if name := get("name"); name != "" {
		// The reference unquotes the already-decoded value once more (unquote_plus).
		if unq, err := url.QueryUnescape(name); err == nil {
			name = unq
		}
		q.Name = name
	}
	if bits, err := strconv.Atoi(strings.TrimSpace(get("bits"))); err == nil && bits > 0 {
		q.BitLength = bits
	}
	for _, f := range []struct {
		key string
		dst *[]store.TimeFilter
	}{{"created", &q.Created}, {"updated", &q.Updated}, {"expiration", &q.Expiration}} {
		if v := get(f.key); v != "" {
			filters, ok := parseDateFilter(v)
			if !ok {
				return q, errBadQuery
			}
			*f.dst = filters
		}
	}
	if v := get("sort"); v != "" {
		keys, ok := parseSort(v)
		if !ok {
			return q, errBadQuery
		}
		q.Sort = keys
	}
	if strings.EqualFold(get("acl_only"), "true") && caller(r).UserID != "" {
		q.ACLUserID = caller(r).UserID
	}
	return q, nil
}

// parseDateFilter validates a created/updated/expiration filter: a comma list of [gt:|gte:|lt:|lte:]<ISO8601>
// with at most one lower bound, at most one upper bound, and a bare (equality) value only on its own or with
// strict bounds.
func parseDateFilter(v string) ([]store.TimeFilter, bool) {
	seen := map[string]bool{}
	var out []store.TimeFilter
	for _, part := range strings.Split(v, ",") {
		op, value := "eq", part
		for _, prefix := range []string{"gte", "gt", "lte", "lt"} {
			if rest, ok := strings.CutPrefix(part, prefix+":"); ok {
				op, value = prefix, rest
				break
			}
		}
		switch op {
		case "gt":
			if seen["gt"] || seen["gte"] {
				return nil, false
			}
		case "gte", "lte":
			lower := op == "gte"
			if (lower && (seen["gt"] || seen["gte"])) || (!lower && (seen["lt"] || seen["lte"])) || seen["eq"] {
				return nil, false
			}
		case "lt":
			if seen["lt"] || seen["lte"] {
				return nil, false
			}
		case "eq":
			if seen["eq"] || seen["gte"] || seen["lte"] {
				return nil, false
			}
		}
		// The reference parses the text after the operator as it is: no trimming (" 2026-01-01" is refused).
		t, err := parseISOTime(value)
		if err != nil {
			return nil, false
		}
		seen[op] = true
		out = append(out, store.TimeFilter{Op: op, Value: clampStoredTime(t.UTC())})
	}
	return out, true
}

var sortColumns = map[string]string{
	"algorithm": "algorithm", "bit_length": "bit_length", "created": "created_at", "expiration": "expiration",
	"mode": "mode", "name": "name", "secret_type": "secret_type", "status": "status", "updated": "updated_at",
}

// parseSort validates sort=key[:asc|desc],… (no duplicate keys).
func parseSort(v string) ([]store.SortKey, bool) {
	seen := map[string]bool{}
	var out []store.SortKey
	for _, part := range strings.Split(v, ",") {
		key, dir := part, "asc"
		if strings.Contains(part, ":") {
			fields := strings.Split(part, ":")
			if len(fields) != 2 {
				return nil, false
			}
			key, dir = fields[0], fields[1]
		}
		col, ok := sortColumns[key]
		if !ok || (dir != "asc" && dir != "desc") || seen[key] {
			return nil, false
		}
		seen[key] = true
		out = append(out, store.SortKey{Column: col, Desc: dir == "desc"})
	}
	return out, true
}

// Stored timestamps are naive DATETIMEs of the years 1-9999. A bound whose UTC value falls outside (a valid
// 9999-12-31T23:00:00-05:00) compares like the nearest representable instant, which selects the same rows.
var (
	minStoredTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxStoredTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

func clampStoredTime(t time.Time) time.Time {
	switch {
	case t.Before(minStoredTime):
		return minStoredTime
	case t.After(maxStoredTime):
		return maxStoredTime
	}
	return t
}
