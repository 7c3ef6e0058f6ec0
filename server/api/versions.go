package api

import (
	"fmt"
	"net/http"
	"os"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
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

// Offers of the version documents (GET / and GET /v1): pecan's Accept check lets a request through when one of
// them is acceptable.
var versionOffers = []string{mediaJSON, mediaJSONHome}

const mediaJSONHome = "application/json-home"

// versionRoot is GET /, unauthenticated, in the reference's order: the Accept check (406), the json-home redirect
// (302), ?build (200 with the version), and otherwise the version list with 300 Multiple Choices.
func (a *API) versionRoot(w http.ResponseWriter, r *http.Request) {
	if !pecanAccepts(r, versionOffers...) {
		// The reference's root app renders this 406 as a text or HTML page; spec REC: always JSON.
		writeErrorBody(w, r, bareError(http.StatusNotAcceptable))
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
	if _, ok := r.URL.Query()["build"]; ok {
		// pecan only sets 300 on the version list; the build answer keeps the default 200.
		writeJSON(w, http.StatusOK, map[string]string{"build": a.cfg.Version})
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
	if !pecanAccepts(r, versionOffers...) {
		writeErrorBody(w, r, bareError(http.StatusNotAcceptable))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": a.versionDoc(r)})
}

// prefersJSONHome is the reference's redirect test: WebOb's legacy best_match between application/json and
// application/json-home picks json-home.
func prefersJSONHome(r *http.Request) bool {
	return bestMatch(acceptHeader(r), versionOffers) == mediaJSONHome
}

// The healthcheck is oslo.middleware's Healthcheck app with the disable_by_file backend, as the reference's
// paste pipeline configures it (detailed = False). It negotiates among its three renderings with WebOb's
// acceptable_offers and falls back to text/plain, never 406.
var healthOffers = []string{"text/plain", "text/html", mediaJSON}

// healthHTML is oslo.middleware's HTML_RESPONSE_TEMPLATE rendered for one check, stripped, as it renders it.
const healthHTML = "<HTML>\n<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>\n<BODY>\n\n" +
	"<H2>Result of 1 checks:</H2>\n<TABLE bgcolor=\"#ffffff\" border=\"1\">\n<TBODY>\n<TR>\n\n<TH>\nReason\n</TH>\n</TR>\n" +
	"<TR>\n\n    <TD>%s</TD>\n\n</TR>\n</TBODY>\n</TABLE>\n<HR></HR>\n\n</BODY>\n</HTML>"

// healthcheck is the liveness check: "OK", or 503 "DISABLED BY FILE" while the disable file exists. HEAD answers
// 204 (or 503) without a body.
func (a *API) healthcheck(w http.ResponseWriter, r *http.Request) {
	healthy, reason := true, "OK"
	if f := a.cfg.HealthcheckDisableFile; f != "" {
		if _, err := os.Stat(f); err == nil {
			healthy, reason = false, "DISABLED BY FILE"
		}
	}
	status := http.StatusOK
	if !healthy {
		status = http.StatusServiceUnavailable
	}
	if r.Method == http.MethodHead {
		if healthy {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(status)
		return
	}
	offer := "text/plain"
	if header := acceptHeader(r); header != "" {
		if accepted := acceptableOffers(header, healthOffers); len(accepted) > 0 {
			offer = accepted[0]
		}
	}
	var body string
	switch offer {
	case mediaJSON:
		// json.dumps(..., indent=4, sort_keys=True), without a charset parameter (WebOb adds none to JSON).
		w.Header().Set("Content-Type", mediaJSON)
		body = "{\n    \"detailed\": false,\n    \"reasons\": [\n        \"" + reason + "\"\n    ]\n}"
	case "text/html":
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		body = fmt.Sprintf(healthHTML, reason)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		body = reason
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// readiness answers 200 when the database answers, for Kubernetes readiness probes.
// backends are the configured secret stores (none for an API built without them, in tests).
func (a *API) backends() []*storecrypto.Backend {
	if a.secrets == nil {
		return nil
	}
	return a.secrets.Backends()
}

func (a *API) readiness(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	if err := a.db.Ping(r.Context()); err != nil {
		logger(r).Warn("readiness check failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable"))
		return
	}
	for _, b := range a.backends() {
		if p, ok := b.Plugin.(crypto.Pinger); ok {
			if err := p.Ping(r.Context()); err != nil {
				logger(r).Warn("readiness check failed", "secret_store", b.Name, "error", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("secret store " + b.Name + " unavailable"))
				return
			}
		}
	}
	_, _ = w.Write([]byte("OK"))
}
