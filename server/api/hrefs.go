package api

import (
	"net/http"
	"regexp"
	"strings"
)

var versionSuffix = regexp.MustCompile(`/v[0-9.]+$`)

// baseHref is the URL every href starts with: the configured host_href, or, when that is empty, one derived from
// the request as the reference does (scheme from X-Forwarded-Proto or http, host from the Host header).
func (a *API) baseHref(r *http.Request) string {
	if a.cfg.HostHref != "" {
		return strings.TrimRight(a.cfg.HostHref, "/")
	}
	scheme := "http"
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	prefix := versionSuffix.ReplaceAllString(strings.TrimRight(a.cfg.PathPrefix, "/"), "")
	return scheme + "://" + r.Host + prefix
}

// href is {base}/v1/{resource}.
func (a *API) href(r *http.Request, resource string) string {
	return a.baseHref(r) + "/v1/" + resource
}
