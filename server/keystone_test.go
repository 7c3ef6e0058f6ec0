package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/config"
)

// keystoneServer runs keymanager behind the real test Keystone.
func keystoneServer(t *testing.T, ks *testbed.Keystone, newDefaults bool) string {
	t.Helper()
	cfg := testConfig(t)
	cfg.Auth.Mode = config.AuthKeystone
	cfg.Auth.Keystone.AuthURL = ks.URL
	cfg.Auth.Keystone.Username = testbed.KeystoneServiceUser
	cfg.Auth.Keystone.ProjectName = testbed.KeystoneServiceProject
	cfg.Auth.Keystone.Password = testbed.KeystonePassword
	cfg.EnforceNewDefaults = newDefaults
	s, logs, err := newServer(t, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

type call struct {
	method, path, token, body string
}

func do(t *testing.T, base string, c call) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if strings.HasSuffix(c.path, "/payload") {
		req.Header.Set("Accept", "application/octet-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// storeSecret stores a secret as token's caller and returns its path.
func storeSecret(t *testing.T, base, token string) string {
	t.Helper()
	status, _, body := do(t, base, call{"POST", "/v1/secrets", token,
		`{"name":"k","payload":"c2VjcmV0","payload_content_type":"application/octet-stream","payload_content_encoding":"base64"}`})
	if status != http.StatusCreated {
		t.Fatalf("storing a secret: %d %s", status, body)
	}
	var ref struct {
		SecretRef string `json:"secret_ref"`
	}
	if err := json.Unmarshal(body, &ref); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(ref.SecretRef, "/v1/")
	if i < 0 {
		t.Fatalf("unexpected secret_ref %q", ref.SecretRef)
	}
	return ref.SecretRef[i:]
}

// TestKeystoneLegacyPolicy checks Barbican 15's default (legacy) policy with Keystone's roles, as
// reference-behaviour.md records it.
func TestKeystoneLegacyPolicy(t *testing.T) {
	ks := testbed.StartKeystone(t)
	base := keystoneServer(t, ks, false)
	tok := map[string]string{}
	for _, u := range []string{"km-admin", "km-creator", "km-observer", "km-audit", "km-member", "km-reader"} {
		tok[u], _ = ks.Token(t, u, "km-a")
	}
	tok["km-creator-b"], _ = ks.Token(t, "km-creator-b", "km-b")
	secret := storeSecret(t, base, tok["km-creator"])
	byAdmin := storeSecret(t, base, tok["km-admin"])

	status, h, body := do(t, base, call{"GET", "/v1/secrets", "", ""})
	if status != 401 || h.Get("WWW-Authenticate") != `Keystone uri="`+ks.URL+`"` ||
		!bytes.Contains(body, []byte(`"title": "Unauthorized"`)) && !bytes.Contains(body, []byte(`"title":"Unauthorized"`)) {
		t.Fatalf("no token: %d %v %s", status, h, body)
	}
	if status, _, _ := do(t, base, call{"GET", "/", "", ""}); status != 300 {
		t.Fatalf("the version document is public, got %d", status)
	}

	cases := []struct {
		user, method, path string
		want               int
	}{
		{"km-member", "GET", "/v1/secrets", 403},
		{"km-member", "GET", secret, 403},
		{"km-member", "POST", "/v1/secrets", 403},
		{"km-reader", "GET", "/v1/secrets", 403},
		{"km-reader", "GET", secret, 403},
		{"km-reader", "GET", "/v1/orders", 403},
		{"km-admin", "GET", secret + "/payload", 200},
		{"km-creator", "GET", byAdmin, 200},
		{"km-observer", "GET", secret + "/payload", 200},
		{"km-observer", "DELETE", secret, 403},
		{"km-audit", "GET", secret, 200},
		{"km-audit", "GET", secret + "/payload", 403},
		{"km-audit", "GET", "/v1/secrets", 403},
		{"km-creator-b", "GET", secret, 403},
		{"km-creator-b", "GET", secret + "/payload", 403},
		{"km-creator-b", "DELETE", secret, 403},
		{"km-creator", "DELETE", secret, 204},
	}
	for _, c := range cases {
		body := ""
		if c.method == "POST" {
			body = `{"name":"x","payload":"eA==","payload_content_type":"application/octet-stream","payload_content_encoding":"base64"}`
		}
		status, _, b := do(t, base, call{c.method, c.path, tok[c.user], body})
		if status != c.want {
			t.Errorf("%s %s %s: got %d, want %d (%s)", c.user, c.method, c.path, status, c.want, b)
		}
	}
}

// TestKeystoneNewDefaults checks the secure-RBAC rules (--enforce-new-defaults) with Keystone's roles.
func TestKeystoneNewDefaults(t *testing.T) {
	ks := testbed.StartKeystone(t)
	base := keystoneServer(t, ks, true)
	tok := map[string]string{}
	for _, u := range []string{"km-admin", "km-member", "km-reader", "km-creator"} {
		tok[u], _ = ks.Token(t, u, "km-a")
	}
	tok["km-member-b"], _ = ks.Token(t, "km-member-b", "km-b")
	secret := storeSecret(t, base, tok["km-member"])
	cases := []struct {
		user, method, path string
		want               int
	}{
		{"km-member", "GET", secret + "/payload", 200},
		{"km-member", "GET", "/v1/secrets", 200},
		{"km-admin", "GET", secret + "/payload", 200},
		{"km-reader", "GET", "/v1/secrets", 403},
		{"km-reader", "GET", "/v1/quotas", 200},
		{"km-creator", "GET", "/v1/secrets", 403},
		{"km-member-b", "GET", secret, 403},
		{"km-member-b", "GET", secret + "/payload", 403},
		{"km-admin", "DELETE", secret, 204},
	}
	for _, c := range cases {
		status, _, b := do(t, base, call{c.method, c.path, tok[c.user], ""})
		if status != c.want {
			t.Errorf("%s %s %s: got %d, want %d (%s)", c.user, c.method, c.path, status, c.want, b)
		}
	}
}

// TestKeystoneGophercloud drives keymanager with gophercloud's key-manager client logged in to Keystone, the
// way a Go service (e.g. an operator or a CSI driver) reaches Barbican.
func TestKeystoneGophercloud(t *testing.T) {
	ks := testbed.StartKeystone(t)
	base := keystoneServer(t, ks, false)
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: ks.URL, Username: "km-creator", Password: testbed.KeystonePassword, DomainID: "default",
		Scope: &gophercloud.AuthScope{ProjectName: "km-a", DomainID: "default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The endpoint is given rather than read from the catalog, which other tests may point elsewhere.
	client := &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: base + "/", ResourceBase: base + "/v1/"}
	created, err := secrets.Create(ctx, client, secrets.CreateOpts{Name: "gophercloud", Payload: "s3cr3t",
		PayloadContentType: "text/plain", SecretType: secrets.OpaqueSecret}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	id := created.SecretRef[strings.LastIndex(created.SecretRef, "/")+1:]
	payload, err := secrets.GetPayload(ctx, client, id, nil).Extract()
	if err != nil || string(payload) != "s3cr3t" {
		t.Fatalf("payload %q, %v", payload, err)
	}
	if err := secrets.Delete(ctx, client, id).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.Get(ctx, client, id).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("want 404 after delete, got %v", err)
	}
}

// TestServeDeletesProjectsDeletedInKeystone runs the server with --keystone-notifications-url: a project
// deleted in the real Keystone loses its secrets, announced through the real RabbitMQ.
func TestServeDeletesProjectsDeletedInKeystone(t *testing.T) {
	amqpURL := testbed.AMQPURL(t)
	ks := testbed.StartKeystone(t)
	admin := ks.Admin(t)
	name := fmt.Sprintf("km-serve-%d", time.Now().UnixNano())
	p, err := projects.Create(context.Background(), admin, projects.CreateOpts{Name: name, DomainID: "default"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Auth.Notifications.URL = config.Secret(amqpURL)
	cfg.Auth.Notifications.Queue = name
	s, logs, err := newServer(t, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeListener(ctx, ln) }()
	testbed.DeleteQueueAtCleanup(t, amqpURL, name)
	t.Cleanup(func() {
		cancel()
		<-served
	})
	base := "http://" + ln.Addr().String()
	create := func(project string) string {
		req, _ := http.NewRequest("POST", base+"/v1/secrets", strings.NewReader(`{"name":"n","payload":"x","payload_content_type":"text/plain"}`))
		req.Header.Set("X-Project-Id", project)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var ref struct {
			SecretRef string `json:"secret_ref"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ref); err != nil || resp.StatusCode != 201 {
			t.Fatalf("create: %d %v", resp.StatusCode, err)
		}
		return ref.SecretRef
	}
	status := func(project, ref string) int {
		req, _ := http.NewRequest("GET", ref, nil)
		req.Header.Set("X-Project-Id", project)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	doomed, kept := create(p.ID), create("km-serve-other")
	// The listener binds its queue once the server runs; a deletion announced before that would be lost, so
	// wait (bounded) until RabbitMQ shows the queue with its consumer.
	for i := 0; consumers(t, amqpURL, name) == 0; i++ {
		if i == 300 {
			t.Fatal("the listener did not start consuming")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := projects.Delete(context.Background(), admin, p.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	for i := 0; status(p.ID, doomed) != http.StatusNotFound; i++ {
		if i == 600 {
			t.Fatal("the deleted project's secret is still there after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := status("km-serve-other", kept); got != http.StatusOK {
		t.Fatalf("another project's secret: %d", got)
	}
}

// consumers is how many consumers RabbitMQ counts on queue (0 while it does not exist).
func consumers(t *testing.T, url, queue string) int {
	t.Helper()
	// A passive declaration of a missing queue closes the channel: one channel per look.
	ch := testbed.AMQPChannel(t, url)
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return 0
	}
	return q.Consumers
}
