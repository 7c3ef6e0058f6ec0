// Package server assembles and runs the Barbican-compatible API server: configuration in, a listening HTTP
// server out, with the database, crypto plugins, policy and request context wired between them.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keymanager-io/keymanager/server/api"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/keystonelistener"
	"github.com/keymanager-io/keymanager/server/orders"
	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// Version is set at build time (-ldflags "-X github.com/keymanager-io/keymanager/server.Version=…").
var Version = "dev"

// Server is a configured, not yet listening API server.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	db      *store.DB
	handler http.Handler
	orders  *orders.Pool
	// listener, when --keystone-notifications-url is set, deletes the resources of projects deleted in Keystone.
	listener *keystonelistener.Listener
}

// clock is the one clock of the server: the store, the secret stores and the API all read it.
var clock = store.SystemClock

// New opens the database (migrating it when configured to), loads the KEKs and the policy and builds the API.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory %s: %w", cfg.DataDir, err)
	}
	db, err := OpenDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	if err := prepareSchema(ctx, cfg, db, log); err != nil {
		return nil, err
	}
	plugin, err := cryptoPlugins(ctx, cfg, db, log)
	if err != nil {
		return nil, err
	}
	secrets, err := newSecretStores(cfg, db, plugin)
	if err != nil {
		return nil, err
	}
	if secrets.MultipleBackends() {
		if _, err := syncSecretStores(ctx, db, secrets, log); err != nil {
			return nil, err
		}
	}
	enforcer, err := policy.NewEnforcer(policy.Options{EnforceNewDefaults: cfg.EnforceNewDefaults, PolicyFile: cfg.PolicyFile})
	if err != nil {
		return nil, fmt.Errorf("loading the policy: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pool, err := orders.New(db, secrets, orders.Options{Workers: cfg.OrderWorkers, Logger: log, Registry: reg, Now: clock})
	if err != nil {
		return nil, err
	}
	authn, err := newAuthenticator(cfg, log)
	if err != nil {
		return nil, err
	}
	a, err := api.New(api.Config{
		HostHref:               cfg.HostHref,
		MaxSecretBytes:         cfg.MaxSecretBytes,
		MaxRequestBytes:        cfg.MaxRequestBytes,
		DefaultLimit:           cfg.DefaultLimit,
		MaxLimit:               cfg.MaxLimit,
		HealthcheckDisableFile: cfg.HealthcheckDisableFile,
		Version:                Version,
		Quotas: api.Quotas{Secrets: config.QuotaValue(cfg.Quotas.Secrets), Orders: config.QuotaValue(cfg.Quotas.Orders),
			Containers: config.QuotaValue(cfg.Quotas.Containers), Consumers: config.QuotaValue(cfg.Quotas.Consumers),
			CAs: config.QuotaValue(cfg.Quotas.CAs)},
	}, api.Deps{
		DB: db, Secrets: secrets, Policy: enforcer, Auth: authn,
		Logger: log, Registry: reg, Now: clock, Orders: pool,
	})
	if err != nil {
		return nil, err
	}
	srv := &Server{cfg: cfg, log: log, db: db, handler: a.Handler(), orders: pool}
	if n := cfg.Auth.Notifications; n.URL != "" {
		if srv.listener, err = keystonelistener.New(keystonelistener.Config{URL: string(n.URL), Exchange: n.Exchange,
			Topic: n.Topic, Queue: n.Queue, Logger: log}, db); err != nil {
			return nil, err
		}
	}
	return srv, nil
}

// OpenDB opens the configured database.
func OpenDB(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL(), store.Options{
		MaxOpenConns:      cfg.DBMaxConns,
		SQLiteSynchronous: strings.ToUpper(cfg.SQLiteSync),
		Logger:            log,
		Now:               clock,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	return db, nil
}

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve listens on cfg.Listen until ctx ends, then stops accepting requests, lets the ones in flight finish
// within the shutdown timeout, and closes the database (which flushes pending SQLite writes).
func (s *Server) Serve(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.orders.Start()
	stopListener := s.startListener(ctx)
	defer stopListener()
	s.log.Info("serving the Barbican v1 API", slog.String("listen", ln.Addr().String()),
		slog.String("database", s.db.Dialect()), slog.String("version", Version))
	select {
	case err := <-errc:
		_ = s.orders.Stop(context.Background())
		stopListener()
		_ = s.db.Close()
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("requests still in flight at the shutdown deadline were cut off")
	}
	// Orders in flight finish within the same deadline; cut off, they stay PENDING and are redone.
	if oerr := s.orders.Stop(shutdownCtx); oerr != nil && !errors.Is(oerr, context.DeadlineExceeded) {
		err = errors.Join(err, oerr)
	}
	stopListener()
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing the database: %w", cerr))
	}
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// NewLogger builds the process logger: JSON (default) or text on stderr.
func NewLogger(level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
}

// startListener runs the Keystone notification listener, if configured, and returns what stops it and waits
// for it (idempotent): it must be done before the database closes.
func (s *Server) startListener(ctx context.Context) func() {
	if s.listener == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.listener.Run(ctx, nil)
	}()
	return func() {
		cancel()
		<-done
	}
}
