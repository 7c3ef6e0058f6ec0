package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/auth"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/orders"
	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// testClock is an injectable UTC clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type setup struct {
	t      testing.TB
	server *httptest.Server
	db     *store.DB
	clock  *testClock
	keks   []simplecrypto.Key
	// orders is the order worker pool, nil withoutOrderWorkers.
	orders *orders.Pool
}

type setupOption func(*setupConfig)

type setupConfig struct {
	dbURL     string
	cfg       Config
	policy    policy.Options
	keks      []simplecrypto.Key
	skipClock bool
	logOut    io.Writer
	noWorkers bool
	multiple  bool
}

func withDB(url string) setupOption                 { return func(c *setupConfig) { c.dbURL = url } }
func withConfig(f func(*Config)) setupOption        { return func(c *setupConfig) { f(&c.cfg) } }
func withPolicy(o policy.Options) setupOption       { return func(c *setupConfig) { c.policy = o } }
func withKEKs(keys ...simplecrypto.Key) setupOption { return func(c *setupConfig) { c.keks = keys } }

// withMultipleBackends enables Barbican's multiple secret stores and synchronises the secret_stores rows, as
// the server does at start.
func withMultipleBackends() setupOption     { return func(c *setupConfig) { c.multiple = true } }
func withRealClock() setupOption            { return func(c *setupConfig) { c.skipClock = true } }
func withLogOutput(w io.Writer) setupOption { return func(c *setupConfig) { c.logOut = w } }

// withoutOrderWorkers leaves orders PENDING: no pool processes them.
func withoutOrderWorkers() setupOption { return func(c *setupConfig) { c.noWorkers = true } }

// newSetup starts the real API (real database, simple_crypto, policy engine) behind an httptest server.
func newSetup(t testing.TB, opts ...setupOption) *setup {
	t.Helper()
	sc := setupConfig{cfg: DefaultConfig()}
	for _, o := range opts {
		o(&sc)
	}
	if sc.dbURL == "" {
		sc.dbURL = "sqlite://" + filepath.Join(t.TempDir(), "test.db")
	}
	ctx := context.Background()
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	now := clock.Now
	if sc.skipClock {
		now = nil
	}
	db, err := store.Open(ctx, sc.dbURL, store.Options{SQLiteSynchronous: "NORMAL", Now: now})
	if err != nil {
		t.Fatalf("opening %s: %v", sc.dbURL, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Upgrade(ctx); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	if len(sc.keks) == 0 {
		k, err := simplecrypto.GenerateKEK()
		if err != nil {
			t.Fatal(err)
		}
		sc.keks = []simplecrypto.Key{k}
	}
	plugin, err := simplecrypto.New(sc.keks, simplecrypto.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := storecrypto.New(db, storecrypto.Options{
		Backends: []storecrypto.Backend{{Name: "Software Only Crypto", Plugin: plugin}}, Now: now,
		MultipleBackends: sc.multiple})
	if err != nil {
		t.Fatal(err)
	}
	if sc.multiple {
		err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.SyncSecretStores(secrets.SecretStoreRows())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	enforcer, err := policy.NewEnforcer(sc.policy)
	if err != nil {
		t.Fatal(err)
	}
	logOut := sc.logOut
	if logOut == nil {
		logOut = io.Discard
	}
	deps := Deps{DB: db, Secrets: secrets, Policy: enforcer, Auth: auth.NoAuth{AdminRole: "admin"},
		Logger:   slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(), Now: now}
	var pool *orders.Pool
	if !sc.noWorkers {
		o := orders.Options{Registry: deps.Registry, Now: now, Logger: deps.Logger}
		if pool, err = orders.New(db, secrets, o); err != nil {
			t.Fatal(err)
		}
		deps.Orders = pool
		pool.Start()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := pool.Stop(ctx); err != nil {
				t.Errorf("stopping the order workers: %v", err)
			}
		})
	}
	a, err := New(sc.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &setup{t: t, server: srv, db: db, clock: clock, keks: sc.keks, orders: pool}
}

// forEachDatabase runs f against SQLite and against the test MariaDB.
func forEachDatabase(t *testing.T, f func(t *testing.T, opts ...setupOption)) {
	t.Run("sqlite", func(t *testing.T) { f(t) })
	t.Run("mariadb", func(t *testing.T) { f(t, withDB(testbed.NewMySQLDatabase(t))) })
}

// request is one HTTP exchange with the test server.
type request struct {
	method, path string
	header       map[string]string
	body         string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// description returns the description of a Barbican error body.
func (r response) description(t testing.TB) any {
	t.Helper()
	m := r.json(t)
	if _, ok := m["code"]; !ok {
		t.Fatalf("not a Barbican error body: %s", r.body)
	}
	return m["description"]
}

// as is the no-auth identity of a request.
type as struct {
	project, user, roles string
}

var admin = as{project: "p1", user: "u-admin", roles: "admin"}

func (s *setup) do(who as, req request) response {
	s.t.Helper()
	r, err := http.NewRequest(req.method, s.server.URL+req.path, strings.NewReader(req.body))
	if err != nil {
		s.t.Fatal(err)
	}
	if who.project != "" {
		r.Header.Set("X-Project-Id", who.project)
	}
	if who.user != "" {
		r.Header.Set("X-User-Id", who.user)
	}
	if who.roles != "" {
		r.Header.Set("X-Roles", who.roles)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	// Redirects are answers under test, never followed: they may point at hosts that must not be contacted.
	client := *s.server.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// expect asserts the status and returns the response.
func (s *setup) expect(who as, req request, status int) response {
	s.t.Helper()
	resp := s.do(who, req)
	if resp.status != status {
		s.t.Fatalf("%s %s: expected status %d, got %d: %s", req.method, req.path, status, resp.status, resp.body)
	}
	return resp
}

// createSecret stores a secret and returns its id.
func (s *setup) createSecret(who as, body string) string {
	s.t.Helper()
	resp := s.expect(who, request{method: "POST", path: "/v1/secrets", body: body}, http.StatusCreated)
	ref, _ := resp.json(s.t)["secret_ref"].(string)
	return ref[strings.LastIndexByte(ref, '/')+1:]
}

func newTestLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// jsonEqual asserts that the response body is the JSON document want (a value that marshals to it): the same
// keys, no others, and the same values.
func (r response) jsonEqual(t testing.TB, want any) {
	t.Helper()
	var got any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var expected any
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, expected) {
		t.Fatalf("unexpected body\n got %s\nwant %s", r.body, raw)
	}
}

// expectError asserts a Barbican error answer: the status and the exact description (nil for a bare abort).
func (s *setup) expectError(who as, req request, status int, description any) {
	s.t.Helper()
	resp := s.expect(who, req, status)
	want := map[string]any{"code": status, "title": titles[status], "description": description}
	resp.jsonEqual(s.t, want)
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		s.t.Fatalf("an error should be application/json, got %q", ct)
	}
}

// idOf is the last path segment of an href.
func idOf(href string) string { return href[strings.LastIndexByte(href, '/')+1:] }

// createContainer stores a container and returns its id.
func (s *setup) createContainer(who as, body string) string {
	s.t.Helper()
	resp := s.expect(who, request{method: "POST", path: "/v1/containers/", body: body}, http.StatusCreated)
	ref, _ := resp.json(s.t)["container_ref"].(string)
	return idOf(ref)
}

// secretRef is the href of a secret on the test server, as containers reference secrets.
func (s *setup) secretRef(id string) string { return s.server.URL + "/v1/secrets/" + id }
