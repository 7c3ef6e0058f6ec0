// Package api is keymanager's Barbican v1 HTTP API: the route table (routes.go), the middleware chain (request
// id, auth context, microversions), the one way a handler reaches an entity and is authorised (authorize.go),
// content negotiation, Barbican's error bodies, and one file per resource.
package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// Quotas are the default project quotas.
	Quotas Quotas
}

// DefaultConfig returns the reference server's defaults.
func DefaultConfig() Config {
	return Config{MaxSecretBytes: 20000, MaxRequestBytes: 25000, DefaultLimit: 10, MaxLimit: 100, Version: "dev",
		Quotas: UnlimitedQuotas()}
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
	// Now is the clock (UTC): the same one the store and the secret stores use. nil is the system clock.
	Now func() time.Time
	// Orders is told of every new order; nil leaves new orders to the order workers' poll.
	Orders OrderNotifier
}

// OrderNotifier is the order worker pool as the API sees it: told when an order has been committed, so that a
// worker takes it at once instead of at its next poll (castellan polls an order once a second and should find it
// ACTIVE on its first try).
type OrderNotifier interface{ Notify() }

// API serves the Barbican v1 API.
type API struct {
	cfg     Config
	db      *store.DB
	secrets *storecrypto.Store
	policy  *policy.Enforcer
	auth    auth.Authenticator
	log     *slog.Logger
	now     func() time.Time
	orders  OrderNotifier
	metrics *metrics
	mux     *http.ServeMux

	quotaCache quotaCache
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
	a := &API{cfg: cfg, db: d.DB, secrets: d.Secrets, policy: d.Policy, auth: d.Auth, log: d.Logger, now: d.Now,
		orders: d.Orders}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = store.SystemClock
	}
	m, err := newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	a.metrics = m
	a.mux = a.routes(d.Registry)
	return a, nil
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
