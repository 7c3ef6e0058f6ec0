package api

import (
	"net/http"
	"os"
)

type link struct {
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
	Href string `json:"href"`
}

// versionDoc is the v1 version object: the legacy form for microversion 1.0, the microversion form from 1.1.
// Its id must be "v1": castellan builds its base URL as endpoint + id.
func (a *API) versionDoc(r *http.Request) map[string]any {
	links := []link{
		{Rel: "self", Href: a.baseHref(r) + "/v1/"},
		{Rel: "describedby", Type: "text/html", Href: "https://docs.openstack.org/"},
	}
	if microversion(r) >= 1 {
		return map[string]any{"id": "v1", "status": "CURRENT", "min_version": "1.0", "max_version": "1.2", "links": links}
	}
	return map[string]any{"id": "v1", "status": "stable", "links": links, "media-types": []map[string]string{
		{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}}}
}

// versionRoot is GET /: always 300 Multiple Choices, unauthenticated.
func (a *API) versionRoot(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.URL.Query()["build"]; ok {
		writeJSON(w, http.StatusMultipleChoices, map[string]string{"build": a.cfg.Version})
		return
	}
	if prefersJSONHome(r) {
		target := "/v1/"
		if a.cfg.HostHref != "" {
			target = a.baseHref(r) + "/v1/" // a configured base, not a value from the request
		}
		http.Redirect(w, r, target, http.StatusFound) //nolint:gosec // target is a fixed path or the configured host_href
		return
	}
	doc := a.versionDoc(r)
	if microversion(r) >= 1 {
		writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": []any{doc}})
		return
	}
	writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{doc}}})
}

// versionV1 is GET /v1 (authenticated).
func (a *API) versionV1(w http.ResponseWriter, r *http.Request) {
	if !acceptsJSON(r) && !prefersJSONHome(r) {
		writeErrorBody(w, r, bareError(http.StatusNotAcceptable))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": a.versionDoc(r)})
}

// prefersJSONHome reports whether Accept ranks application/json-home above application/json.
func prefersJSONHome(r *http.Request) bool {
	var home, js float64
	for _, rng := range parseAccept(r.Header.Get("Accept")) {
		if rng.typ == "application/json-home" && rng.q > home {
			home = rng.q
		}
		if (rng.typ == mediaJSON || rng.typ == "application/*" || rng.typ == "*/*") && rng.q > js {
			js = rng.q
		}
	}
	return home > 0 && home > js
}

// healthcheck is the oslo.middleware liveness check: "OK", or 503 while the disable file exists.
func (a *API) healthcheck(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	if f := a.cfg.HealthcheckDisableFile; f != "" {
		if _, err := os.Stat(f); err == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("DISABLED BY FILE"))
			return
		}
	}
	_, _ = w.Write([]byte("OK"))
}

// readiness answers 200 when the database answers, for Kubernetes readiness probes.
func (a *API) readiness(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	if err := a.db.Ping(r.Context()); err != nil {
		logger(r).Warn("readiness check failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable"))
		return
	}
	_, _ = w.Write([]byte("OK"))
}
