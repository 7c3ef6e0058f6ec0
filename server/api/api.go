// Package api is keymanager's Barbican v1 HTTP API: routing, the middleware chain (request id, auth context,
// microversions), content negotiation, Barbican's error bodies, and one file per resource.
package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keymanager-io/keymanager/server/auth"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// Config holds the behaviour-relevant settings of the API (Barbican's [DEFAULT] options).
type Config struct {
	// HostHref is the base of every href; empty derives it from the request (Host, X-Forwarded-Proto).
	HostHref string
	// PathPrefix is the path the API is mounted under behind a proxy, used when HostHref is empty.
	PathPrefix string
	// MaxSecretBytes is max_allowed_secret_in_bytes (payload limit, 413).
	MaxSecretBytes int
	// MaxRequestBytes is max_allowed_request_size_in_bytes (JSON bodies are read up to this size).
	MaxRequestBytes int
	// DefaultLimit and MaxLimit are default_limit_paging and max_limit_paging.
	DefaultLimit, MaxLimit int
	// HealthcheckDisableFile makes /healthcheck answer 503 while it exists (oslo disable_by_file).
	HealthcheckDisableFile string
	// Version is reported by GET /?build.
	Version string
}

// DefaultConfig returns the reference server's defaults.
func DefaultConfig() Config {
	return Config{MaxSecretBytes: 20000, MaxRequestBytes: 25000, DefaultLimit: 10, MaxLimit: 100, Version: "dev"}
}

// Deps are the API's collaborators.
type Deps struct {
	DB      *store.DB
	Secrets *storecrypto.Store
	Policy  *policy.Enforcer
	Auth    auth.Authenticator
	Logger  *slog.Logger
	// Registry receives the API's metrics and is served on /metrics; nil keeps metrics private.
	Registry *prometheus.Registry
	// Now is the clock (UTC); tests inject one.
	Now func() time.Time
}

// API serves the Barbican v1 API.
type API struct {
	cfg     Config
	db      *store.DB
	secrets *storecrypto.Store
	policy  *policy.Enforcer
	auth    auth.Authenticator
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	mux     *http.ServeMux
}

// New builds the API.
func New(cfg Config, d Deps) (*API, error) {
	if d.DB == nil || d.Secrets == nil || d.Policy == nil || d.Auth == nil {
		return nil, errors.New("api: DB, Secrets, Policy and Auth are required")
	}
	def := DefaultConfig()
	if cfg.MaxSecretBytes <= 0 {
		cfg.MaxSecretBytes = def.MaxSecretBytes
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = def.MaxRequestBytes
	}
	if cfg.DefaultLimit <= 0 {
		cfg.DefaultLimit = def.DefaultLimit
	}
	if cfg.MaxLimit <= 0 {
		cfg.MaxLimit = def.MaxLimit
	}
	a := &API{cfg: cfg, db: d.DB, secrets: d.Secrets, policy: d.Policy, auth: d.Auth, log: d.Logger, now: d.Now}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	m, err := newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	a.metrics = m
	a.mux = a.routes(d.Registry)
	return a, nil
}

// routes registers every route; the whole surface fits on a screen.
func (a *API) routes(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.versionRoot)
	mux.HandleFunc("GET /v1", a.versionV1)
	mux.HandleFunc("GET /healthcheck", a.healthcheck)
	mux.HandleFunc("GET /readyz", a.readiness)
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}

	mux.HandleFunc("GET /v1/secrets", a.listSecrets)
	mux.HandleFunc("POST /v1/secrets", a.createSecret)
	mux.HandleFunc("GET /v1/secrets/{id}", a.getSecret)
	mux.HandleFunc("PUT /v1/secrets/{id}", a.putSecretPayload)
	mux.HandleFunc("DELETE /v1/secrets/{id}", a.deleteSecret)
	mux.HandleFunc("/v1/secrets/{id}/payload", a.getSecretPayload)
	mux.HandleFunc("GET /v1/secrets/{id}/metadata", a.getSecretMetadata)
	mux.HandleFunc("PUT /v1/secrets/{id}/metadata", a.putSecretMetadata)
	mux.HandleFunc("POST /v1/secrets/{id}/metadata", a.postSecretMetadatum)
	mux.HandleFunc("GET /v1/secrets/{id}/metadata/{key}", a.getSecretMetadatum)
	mux.HandleFunc("PUT /v1/secrets/{id}/metadata/{key}", a.putSecretMetadatum)
	mux.HandleFunc("DELETE /v1/secrets/{id}/metadata/{key}", a.deleteSecretMetadatum)
	return mux
}

// Handler returns the API with its middleware chain, outermost first: request id + access log + metrics +
// recovery, trailing-slash normalisation, authentication (for /v1), microversion, router -- the reference's
// paste pipeline (request_id, …, authtoken/context, microversion, app) in the same order.
func (a *API) Handler() http.Handler {
	var h http.Handler = http.HandlerFunc(a.route)
	h = withMicroversion(h)
	h = a.withAuth(h)
	h = withTrailingSlash(h)
	return a.withRequest(h)
}

// route dispatches to the mux, answering unmatched paths and methods in Barbican's JSON error shape (the mux's
// own answers are plain text).
func (a *API) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		stateOf(r).pattern = pattern
		a.mux.ServeHTTP(w, r)
		return
	}
	probe := &probeWriter{header: http.Header{}}
	h.ServeHTTP(probe, r)
	// Under /v1/secrets/{id} the secret is looked up first, as the reference's controllers do, so a bad or
	// unknown id is a 404 whatever the method or sub-resource.
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/secrets/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		if _, ok := a.lookupSecret(w, r, "Secret retrieval", id, store.LoadOptions{}); !ok {
			return
		}
	}
	e := bareError(http.StatusNotFound)
	if probe.status == http.StatusMethodNotAllowed {
		e = bareError(http.StatusMethodNotAllowed)
		e.Allow = probe.header.Get("Allow")
	}
	writeErrorBody(w, r, e)
}

// probeWriter captures what the mux would answer for an unmatched request.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.status = code }

// authorize enforces a policy action for the caller; on refusal it answers 403 and returns false.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, op, action string, target policy.Target) bool {
	ok, err := a.policy.Enforce(action, caller(r).Credentials(), target)
	if err != nil {
		a.writeError(w, r, op, err)
		return false
	}
	if !ok {
		writeErrorBody(w, r, denied(op))
		return false
	}
	return true
}
