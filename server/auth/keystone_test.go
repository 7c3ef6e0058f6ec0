package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// fakeClock lets a test move the validator's clock past the cache time or a token's expiry; Keystone keeps
// its own real clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// newValidator returns a validator that reaches the real Keystone through a counting proxy.
func newValidator(t *testing.T, cacheTime time.Duration) (*Keystone, *testbed.Keystone, *testbed.CountingProxy, *fakeClock) {
	t.Helper()
	ks := testbed.StartKeystone(t)
	proxy := testbed.NewCountingProxy(t, ks.URL)
	clock := &fakeClock{now: time.Now()}
	v, err := NewKeystone(KeystoneConfig{
		AuthURL: proxy.URL, WWWAuthenticateURI: "https://keystone.example.com/v3",
		Username: testbed.KeystoneServiceUser, Password: testbed.KeystonePassword, UserDomainID: "default",
		ProjectName: testbed.KeystoneServiceProject, ProjectDomainID: "default",
		CacheTime: cacheTime, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, ks, proxy, clock
}

func authenticate(v *Keystone, token string) (*Context, error) {
	r := httptest.NewRequest(http.MethodGet, "/v1/secrets", nil)
	if token != "" {
		r.Header.Set("X-Auth-Token", token)
	}
	return v.Authenticate(r)
}

func wantStatus(t *testing.T, err error, status int) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != status {
		t.Fatalf("want an auth error with status %d, got %v", status, err)
	}
	return ae
}

func TestKeystoneValidToken(t *testing.T) {
	v, ks, proxy, _ := newValidator(t, DefaultTokenCacheTime)
	token, _ := ks.Token(t, "km-creator", "km-a")
	c, err := authenticate(v, token)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProjectID != ks.ProjectID(t, "km-creator", "km-a") || c.UserID == "" || c.UserDomainID != "default" ||
		c.ProjectDomainID != "default" || !slices.Equal(c.Roles, []string{"creator"}) || c.IsAdmin {
		t.Fatalf("unexpected caller %+v", c)
	}
	if n := proxy.Validations(); n != 1 {
		t.Fatalf("want one validation at Keystone, got %d", n)
	}
	// A warm token costs no call to Keystone.
	for range 5 {
		if _, err := authenticate(v, token); err != nil {
			t.Fatal(err)
		}
	}
	if n := proxy.Validations(); n != 1 {
		t.Fatalf("cache hits should not reach Keystone, got %d validations", n)
	}

	admin, _ := ks.Token(t, "km-admin", "km-a")
	c, err = authenticate(v, admin)
	if err != nil {
		t.Fatal(err)
	}
	// Keystone expands implied roles: admin implies member and reader.
	if !c.IsAdmin || !slices.Contains(c.Roles, "member") || !slices.Contains(c.Roles, "reader") {
		t.Fatalf("unexpected admin caller %+v", c)
	}
}

func TestKeystoneRefusals(t *testing.T) {
	v, ks, proxy, _ := newValidator(t, DefaultTokenCacheTime)
	for name, token := range map[string]string{"no token": "", "a bad token": "gAAAAABnot-a-token"} {
		t.Run(name, func(t *testing.T) {
			_, err := authenticate(v, token)
			ae := wantStatus(t, err, http.StatusUnauthorized)
			if got := ae.Header.Get("WWW-Authenticate"); got != `Keystone uri="https://keystone.example.com/v3"` {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
			var body struct {
				Error struct {
					Code  int    `json:"code"`
					Title string `json:"title"`
				} `json:"error"`
			}
			if err := json.Unmarshal(ae.Body, &body); err != nil || body.Error.Code != 401 || body.Error.Title != "Unauthorized" {
				t.Fatalf("want keystonemiddleware's body, got %s (%v)", ae.Body, err)
			}
		})
	}
	// A refused token is remembered: retrying it does not reach Keystone again.
	before := proxy.Validations()
	_, err := authenticate(v, "gAAAAABnot-a-token")
	wantStatus(t, err, http.StatusUnauthorized)
	if proxy.Validations() != before {
		t.Fatalf("a refused token should be answered from the cache")
	}

	t.Run("a system-scoped token has no project", func(t *testing.T) {
		_, err := authenticate(v, ks.SystemToken(t, "km-system-reader"))
		wantStatus(t, err, http.StatusUnauthorized)
	})
	t.Run("a revoked token", func(t *testing.T) {
		token, _ := ks.Token(t, "km-creator", "km-a")
		ks.Revoke(t, token)
		_, err := authenticate(v, token)
		wantStatus(t, err, http.StatusUnauthorized)
	})
}

// TestKeystoneRevokedWithoutCache: with the cache off, a token revoked after it was accepted is refused at once.
func TestKeystoneRevokedWithoutCache(t *testing.T) {
	v, ks, proxy, _ := newValidator(t, 0)
	token, _ := ks.Token(t, "km-creator", "km-a")
	if _, err := authenticate(v, token); err != nil {
		t.Fatal(err)
	}
	ks.Revoke(t, token)
	_, err := authenticate(v, token)
	wantStatus(t, err, http.StatusUnauthorized)
	if n := proxy.Validations(); n != 2 {
		t.Fatalf("without a cache every request is validated, got %d validations", n)
	}
}

// TestKeystoneCacheTime: an entry lives the cache time, and never past the token's expiry, even when Keystone
// (whose clock has not moved) still calls the token valid.
func TestKeystoneCacheTime(t *testing.T) {
	v, ks, proxy, clock := newValidator(t, time.Minute)
	token, expires := ks.Token(t, "km-observer", "km-a")
	start := clock.Now()
	if _, err := authenticate(v, token); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(59 * time.Second))
	if _, err := authenticate(v, token); err != nil || proxy.Validations() != 1 {
		t.Fatalf("within the cache time: err %v, %d validations", err, proxy.Validations())
	}
	clock.Set(start.Add(61 * time.Second))
	if _, err := authenticate(v, token); err != nil || proxy.Validations() != 2 {
		t.Fatalf("past the cache time Keystone is asked again: err %v, %d validations", err, proxy.Validations())
	}
	clock.Set(expires)
	_, err := authenticate(v, token)
	wantStatus(t, err, http.StatusUnauthorized)
	if proxy.Validations() != 3 {
		t.Fatalf("an expired token is not answered from the cache, got %d validations", proxy.Validations())
	}
}

func TestKeystoneUnreachable(t *testing.T) {
	v, ks, proxy, _ := newValidator(t, DefaultTokenCacheTime)
	warm, _ := ks.Token(t, "km-creator", "km-a")
	if _, err := authenticate(v, warm); err != nil {
		t.Fatal(err)
	}
	cold, _ := ks.Token(t, "km-observer", "km-a")
	proxy.Close()
	_, err := authenticate(v, cold)
	wantStatus(t, err, http.StatusServiceUnavailable)
	// A token validated before Keystone went away still works until its cache entry ends.
	if _, err := authenticate(v, warm); err != nil {
		t.Fatalf("a cached token should not need Keystone: %v", err)
	}

	t.Run("the service user cannot log in", func(t *testing.T) {
		var logs bytes.Buffer
		v, err := NewKeystone(KeystoneConfig{AuthURL: ks.URL, Username: testbed.KeystoneServiceUser,
			Password: "wrong-password", UserDomainID: "default", ProjectName: testbed.KeystoneServiceProject,
			ProjectDomainID: "default", CacheTime: DefaultTokenCacheTime, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = authenticate(v, cold)
		wantStatus(t, err, http.StatusServiceUnavailable)
		if !strings.Contains(logs.String(), "km-service") || strings.Contains(logs.String(), cold) ||
			strings.Contains(logs.String(), "wrong-password") {
			t.Fatalf("the log should name the service user, never a token or password:\n%s", logs.String())
		}
	})
}

func TestTokenCacheBounds(t *testing.T) {
	c := newTokenCache(2)
	now := time.Unix(1000, 0)
	for _, tok := range []string{"a", "b", "c"} {
		c.put(cacheEntry{key: keyOf(tok), caller: &Context{UserID: tok}, until: now.Add(time.Minute)}, now)
	}
	if c.len() != 2 {
		t.Fatalf("the cache should hold at most 2 entries, holds %d", c.len())
	}
	if _, ok := c.get(keyOf("a"), now); ok {
		t.Fatal("the least recently used entry should have gone")
	}
	if e, ok := c.get(keyOf("c"), now); !ok || e.caller.UserID != "c" {
		t.Fatal("the newest entry should be there")
	}
	if _, ok := c.get(keyOf("c"), now.Add(time.Minute)); ok {
		t.Fatal("an entry at its end should be gone")
	}
	c.put(cacheEntry{key: keyOf("d"), until: now}, now)
	if _, ok := c.get(keyOf("d"), now); ok {
		t.Fatal("an entry already stale should not be stored")
	}
}

// TestKeystoneConcurrentMisses: requests in flight with the same fresh token share one validation.
func TestKeystoneConcurrentMisses(t *testing.T) {
	v, ks, proxy, _ := newValidator(t, DefaultTokenCacheTime)
	token, _ := ks.Token(t, "km-creator", "km-a")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := authenticate(v, token)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := proxy.Validations(); n != 1 {
		t.Fatalf("8 concurrent requests with one token should cost one validation, got %d", n)
	}
}
