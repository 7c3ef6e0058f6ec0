package api

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// page is a cleaned offset/limit pair (barbican.common.utils.clean_paging_values): bad values fall back to
// defaults silently, the limit is clamped to [1, max].
type page struct{ offset, limit int }

func (a *API) cleanPaging(offsetArg, limitArg string) page {
	p := page{limit: a.cfg.DefaultLimit}
	if o, err := strconv.ParseInt(strings.TrimSpace(offsetArg), 10, 64); err == nil && o > 0 && o <= math.MaxInt32 {
		p.offset = int(o)
	}
	if limitArg != "" {
		if l, err := strconv.ParseInt(strings.TrimSpace(limitArg), 10, 64); err == nil {
			p.limit = int(max(1, min(l, int64(a.cfg.MaxLimit))))
		}
	}
	return p
}

// pageOf is the cleaned offset and limit of a list request's query.
func (a *API) pageOf(params []queryParam) page {
	offset, _ := first(params, "offset")
	limit, _ := first(params, "limit")
	return a.cleanPaging(offset, limit)
}

// writePage answers one page of a list as the reference does: {key: items, "total": N} with previous/next links
// to {base}/v1/{path}, and no links at all when the page is empty.
func writePage[T any](a *API, w http.ResponseWriter, r *http.Request, key, path string, items []T, total int, p page) {
	body := map[string]any{key: items, "total": total}
	if len(items) > 0 {
		navLinks(body, a.baseHref(r), path, p, total, "")
	}
	writeJSON(w, http.StatusOK, body)
}

// navLinks adds previous/next hrefs to a non-empty page: {base}/v1/{path}?limit=L&offset=O[&other params].
func navLinks(body map[string]any, base, path string, p page, total int, extraQuery string) {
	link := func(offset int) string {
		s := base + "/v1/" + path + "?limit=" + strconv.Itoa(p.limit) + "&offset=" + strconv.Itoa(offset)
		if extraQuery != "" {
			s += "&" + extraQuery
		}
		return s
	}
	if p.offset > 0 {
		body["previous"] = link(max(0, p.offset-p.limit))
	}
	if total > p.offset+p.limit {
		body["next"] = link(p.offset + p.limit)
	}
}

// queryParam is one key of a query string with its values, in order of first appearance.
type queryParam struct {
	key    string
	values []string
}

// orderedQuery parses a raw query preserving key order (WebOb's GET.mixed() feeding urlencode(doseq=True)).
func orderedQuery(raw string) []queryParam {
	var out []queryParam
	index := map[string]int{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if i, ok := index[key]; ok {
			out[i].values = append(out[i].values, val)
			continue
		}
		index[key] = len(out)
		out = append(out, queryParam{key: key, values: []string{val}})
	}
	return out
}

// encodeQuery is urlencode(params, doseq=True) without the given keys.
func encodeQuery(params []queryParam, skip ...string) string {
	var b strings.Builder
	for _, p := range params {
		if contains(skip, p.key) {
			continue
		}
		for _, v := range p.values {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(p.key))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// first returns the first value of key.
func first(params []queryParam, key string) (string, bool) {
	for _, p := range params {
		if p.key == key {
			return p.values[0], true
		}
	}
	return "", false
}
