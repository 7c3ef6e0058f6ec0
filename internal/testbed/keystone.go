package testbed

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	amqp "github.com/rabbitmq/amqp091-go"
)

// EnvKeystone names hack/keystone.sh, which runs the test Keystone.
const EnvKeystone = "KEYMANAGER_TEST_KEYSTONE"

// KeystonePassword is the password of every user hack/keystone.sh creates (test fixtures on a loopback
// Keystone, not a credential).
const KeystonePassword = "keymanager-test" //nolint:gosec // a test fixture

// KeystoneServiceUser and KeystoneServiceProject are the service user keymanager validates tokens with.
const (
	KeystoneServiceUser    = "km-service"
	KeystoneServiceProject = "service"
)

// Keystone is the running test Keystone.
type Keystone struct {
	// URL is its identity endpoint, http://127.0.0.1:PORT/v3.
	URL string
}

var keystoneStart struct {
	sync.Mutex
	url string
	err error
}

// StartKeystone makes sure the test Keystone runs (hack/keystone.sh start, idempotent) and returns it. A
// missing Keystone fails the test under CI=true and skips it elsewhere.
func StartKeystone(t testing.TB) *Keystone {
	t.Helper()
	script, err := lookup(EnvKeystone)
	if err == nil {
		err = checkScript(script)
	}
	Require(t, "Keystone", err)
	keystoneStart.Lock()
	defer keystoneStart.Unlock()
	if keystoneStart.url == "" && keystoneStart.err == nil {
		out, err := runScript(script, "", "start")
		if err != nil {
			t.Fatalf("%s start: %v\n%s", script, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		keystoneStart.url = strings.TrimSpace(lines[len(lines)-1])
	}
	return &Keystone{URL: keystoneStart.url}
}

func (k *Keystone) identity(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	provider, err := openstack.NewClient(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Token logs user in (domain Default) scoped to project and returns the token and its expiry.
func (k *Keystone) Token(t testing.TB, user, project string) (string, time.Time) {
	t.Helper()
	return k.token(t, &tokens.AuthOptions{Username: user, Password: KeystonePassword, DomainID: "default",
		Scope: tokens.Scope{ProjectName: project, DomainID: "default"}})
}

// SystemToken logs user in with a system-scoped token.
func (k *Keystone) SystemToken(t testing.TB, user string) string {
	t.Helper()
	tok, _ := k.token(t, &tokens.AuthOptions{Username: user, Password: KeystonePassword, DomainID: "default",
		Scope: tokens.Scope{System: true}})
	return tok
}

func (k *Keystone) token(t testing.TB, opts *tokens.AuthOptions) (string, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := tokens.Create(ctx, k.identity(t), opts)
	tok, err := r.ExtractToken()
	if err != nil {
		t.Fatalf("logging in to Keystone as %s: %v", opts.Username, err)
	}
	return tok.ID, tok.ExpiresAt
}

// ProjectID returns the id of a fixture project, read from a token scoped to it.
func (k *Keystone) ProjectID(t testing.TB, user, project string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := tokens.Create(ctx, k.identity(t), &tokens.AuthOptions{Username: user, Password: KeystonePassword,
		DomainID: "default", Scope: tokens.Scope{ProjectName: project, DomainID: "default"}})
	p, err := r.ExtractProject()
	if err != nil || p == nil {
		t.Fatalf("reading project %s: %v", project, err)
	}
	return p.ID
}

// Revoke revokes token (as its own subject, which Keystone allows).
func (k *Keystone) Revoke(t testing.TB, token string) {
	t.Helper()
	c := k.identity(t)
	c.ProviderClient.SetToken(token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tokens.Revoke(ctx, c, token).Err; err != nil {
		t.Fatalf("revoking a token: %v", err)
	}
}

// CountingProxy is a reverse proxy in front of a real server that counts the token validations
// (GET /v3/auth/tokens) passing through it, so that a test can tell whether a request reached Keystone.
type CountingProxy struct {
	URL         string
	srv         *httptest.Server
	validations atomic.Int64
}

// NewCountingProxy proxies to the identity endpoint target (…/v3); its URL is the matching …/v3 URL.
func NewCountingProxy(t testing.TB, target string) *CountingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	p := &CountingProxy{}
	rp := httputil.NewSingleHostReverseProxy(base)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v3/auth/tokens" && r.Header.Get("X-Subject-Token") != "" {
			p.validations.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL + u.Path
	return p
}

// Validations is how many token validations went through.
func (p *CountingProxy) Validations() int64 { return p.validations.Load() }

// Close stops the proxy: Keystone is then unreachable through it.
func (p *CountingProxy) Close() { p.srv.Close() }

// EnvAMQPURL names RabbitMQ, where the test Keystone publishes its notifications.
const EnvAMQPURL = "KEYMANAGER_TEST_AMQP_URL"

// AMQPURL returns the RabbitMQ URL; a missing RabbitMQ fails the test under CI=true and skips it elsewhere.
func AMQPURL(t testing.TB) string {
	t.Helper()
	v, err := lookup(EnvAMQPURL)
	Require(t, "RabbitMQ", err)
	return v
}

// Admin returns an identity client logged in as the bootstrap admin (project admin).
func (k *Keystone) Admin(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: k.URL,
		Username: "admin", Password: KeystonePassword, DomainID: "default",
		Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainID: "default"}})
	if err != nil {
		t.Fatalf("logging in to Keystone as admin: %v", err)
	}
	c, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// AMQPChannel opens a channel on RabbitMQ, closed when the test ends.
func AMQPChannel(t testing.TB, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("connecting to RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("opening a RabbitMQ channel: %v", err)
	}
	return ch
}

// DeleteQueueAtCleanup deletes a test's own queue when the test ends (after the cleanups registered later,
// such as stopping its consumer).
func DeleteQueueAtCleanup(t testing.TB, url, queue string) {
	t.Helper()
	t.Cleanup(func() {
		if conn, err := amqp.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(queue, false, false, false)
			}
			_ = conn.Close()
		}
	})
}
