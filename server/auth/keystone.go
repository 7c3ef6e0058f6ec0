package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"golang.org/x/sync/singleflight"
)

// KeystoneConfig is what validating tokens against Keystone needs: where Keystone is, the service user that
// may validate other users' tokens (keystonemiddleware's [keystone_authtoken] password plugin), and the cache.
type KeystoneConfig struct {
	// AuthURL is Keystone's identity endpoint, e.g. http://keystone:5000/v3 ([keystone_authtoken] auth_url).
	AuthURL string
	// WWWAuthenticateURI is where a refused client is told to authenticate (www_authenticate_uri); it defaults
	// to AuthURL.
	WWWAuthenticateURI string

	Username          string
	Password          string
	UserDomainName    string
	UserDomainID      string
	ProjectName       string
	ProjectDomainName string
	ProjectDomainID   string

	// CacheTime bounds how long a validated token is trusted without asking Keystone again (token_cache_time,
	// 300 s by default); never past the token's expiry. 0 disables the cache.
	CacheTime time.Duration
	// CacheSize bounds how many tokens the cache holds.
	CacheSize int
	// Timeout bounds one call to Keystone (http_connect_timeout plus reading the answer).
	Timeout time.Duration

	// AdminRole is [DEFAULT] admin_role, which sets Context.IsAdmin.
	AdminRole string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Logger receives why Keystone could not be asked (never a token).
	Logger *slog.Logger
}

// Defaults of KeystoneConfig, keystonemiddleware's where it has one.
const (
	DefaultTokenCacheTime  = 300 * time.Second
	DefaultTokenCacheSize  = 10000
	DefaultKeystoneTimeout = 10 * time.Second
)

// Keystone validates X-Auth-Token against Keystone's v3 API (GET /v3/auth/tokens with the service user's own
// token), as keystonemiddleware's authtoken does in front of the reference. Valid and refused tokens are
// cached; when Keystone cannot be asked the request is answered 503, never let through.
type Keystone struct {
	cfg      KeystoneConfig
	cache    *tokenCache
	rejected *Error
	opts     gophercloud.AuthOptions

	inflight singleflight.Group

	mu       sync.Mutex // guards identity until the service user has logged in once
	identity *gophercloud.ServiceClient
}

// NewKeystone checks cfg and prepares the client. It does not call Keystone: a server whose Keystone is down
// at start answers 503 until it is back, rather than not starting.
func NewKeystone(cfg KeystoneConfig) (*Keystone, error) {
	if cfg.AuthURL == "" {
		return nil, errors.New("keystone: no auth URL (--keystone-auth-url, or [keystone_authtoken] auth_url)")
	}
	if !strings.HasPrefix(cfg.AuthURL, "http://") && !strings.HasPrefix(cfg.AuthURL, "https://") {
		return nil, fmt.Errorf("keystone: auth URL %q: want an http:// or https:// URL", cfg.AuthURL)
	}
	if cfg.Username == "" {
		return nil, errors.New("keystone: no service user (--keystone-username, or [keystone_authtoken] username)")
	}
	if cfg.Password == "" {
		return nil, errors.New("keystone: no service user password (--keystone-password-file or KEYMANAGER_KEYSTONE_PASSWORD, " +
			"or [keystone_authtoken] password)")
	}
	if cfg.ProjectName == "" {
		return nil, errors.New("keystone: no service project (--keystone-project-name, or [keystone_authtoken] project_name)")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultTokenCacheSize
	}
	if cfg.CacheTime <= 0 {
		cfg.CacheSize = 0
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultKeystoneTimeout
	}
	if cfg.WWWAuthenticateURI == "" {
		cfg.WWWAuthenticateURI = cfg.AuthURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AdminRole == "" {
		cfg.AdminRole = "admin"
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": http.StatusUnauthorized, "title": "Unauthorized",
		"message": "The request you have made requires authentication.",
	}})
	k := &Keystone{
		cfg:   cfg,
		cache: newTokenCache(cfg.CacheSize),
		rejected: &Error{
			Status:  http.StatusUnauthorized,
			Message: "The request you have made requires authentication.",
			Header:  http.Header{"Www-Authenticate": {`Keystone uri="` + cfg.WWWAuthenticateURI + `"`}},
			Body:    body,
		},
		opts: gophercloud.AuthOptions{
			IdentityEndpoint: cfg.AuthURL,
			Username:         cfg.Username,
			Password:         cfg.Password,
			DomainName:       cfg.UserDomainName,
			DomainID:         cfg.UserDomainID,
			// The service user's token is renewed when Keystone says it expired.
			AllowReauth: true,
			Scope: &gophercloud.AuthScope{
				ProjectName: cfg.ProjectName,
				DomainName:  cfg.ProjectDomainName,
				DomainID:    cfg.ProjectDomainID,
			},
		},
	}
	// Keystone takes a domain by id or by name, not both; an id is the more precise.
	if k.opts.DomainID != "" {
		k.opts.DomainName = ""
	}
	if k.opts.Scope.DomainID != "" {
		k.opts.Scope.DomainName = ""
	}
	return k, nil
}

// ErrKeystoneUnavailable is the answer while Keystone cannot validate tokens: the request is refused, never let
// through unauthenticated.
var ErrKeystoneUnavailable = &Error{Status: http.StatusServiceUnavailable,
	Message: "The Keystone service is temporarily unavailable."}

// Authenticate validates X-Auth-Token (or X-Storage-Token) and returns the caller it stands for.
func (k *Keystone) Authenticate(r *http.Request) (*Context, error) {
	token := r.Header.Get("X-Auth-Token")
	if token == "" {
		token = r.Header.Get("X-Storage-Token")
	}
	if token == "" {
		return nil, k.rejected
	}
	key := keyOf(token)
	now := k.cfg.Now()
	if e, ok := k.cache.get(key, now); ok {
		if e.invalid {
			return nil, k.rejected
		}
		return e.caller, nil
	}
	caller, expires, err := k.validateShared(r.Context(), key, token)
	switch {
	case errors.Is(err, errTokenInvalid):
		k.cache.put(cacheEntry{key: key, invalid: true, until: now.Add(k.cfg.CacheTime)}, now)
		return nil, k.rejected
	case err != nil:
		k.cfg.Logger.Error("cannot validate a token with Keystone", slog.String("keystone", k.cfg.AuthURL),
			slog.String("error", err.Error()))
		return nil, ErrKeystoneUnavailable
	}
	now = k.cfg.Now()
	if !now.Before(expires) {
		return nil, k.rejected
	}
	if caller.ProjectID == "" {
		// Barbican's context middleware refuses domain- and system-scoped tokens: every resource belongs to a
		// project. Such a token is valid, so it is cached like any other (as refused, for this server).
		k.cache.put(cacheEntry{key: key, invalid: true, until: minTime(now.Add(k.cfg.CacheTime), expires)}, now)
		return nil, k.rejected
	}
	k.cache.put(cacheEntry{key: key, caller: caller, until: minTime(now.Add(k.cfg.CacheTime), expires)}, now)
	return caller, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

var errTokenInvalid = errors.New("keystone: token not valid")

type validation struct {
	caller  *Context
	expires time.Time
}

// validateShared makes concurrent requests with the same uncached token share one call to Keystone: a client
// that fans out with a fresh token would otherwise cost Keystone one validation per request in flight. The
// call is detached from the first caller's cancellation (the others still wait for it) and bounded by the
// Keystone timeout.
func (k *Keystone) validateShared(ctx context.Context, key tokenKey, token string) (*Context, time.Time, error) {
	v, err, _ := k.inflight.Do(string(key[:]), func() (any, error) {
		caller, expires, err := k.validate(context.WithoutCancel(ctx), token)
		return validation{caller, expires}, err
	})
	res, _ := v.(validation)
	return res.caller, res.expires, err
}

// tokenBody is the part of Keystone's GET /v3/auth/tokens answer that makes the caller.
type tokenBody struct {
	Token struct {
		ExpiresAt time.Time `json:"expires_at"`
		User      struct {
			ID     string `json:"id"`
			Domain struct {
				ID string `json:"id"`
			} `json:"domain"`
		} `json:"user"`
		Project *struct {
			ID     string `json:"id"`
			Domain struct {
				ID string `json:"id"`
			} `json:"domain"`
		} `json:"project"`
		Domain *struct {
			ID string `json:"id"`
		} `json:"domain"`
		System map[string]bool `json:"system"`
		Roles  []struct {
			Name string `json:"name"`
		} `json:"roles"`
	} `json:"token"`
}

// validate asks Keystone about token. errTokenInvalid means Keystone refused it (unknown, expired, revoked);
// any other error means Keystone could not answer.
func (k *Keystone) validate(ctx context.Context, token string) (*Context, time.Time, error) {
	identity, err := k.client(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	var body tokenBody
	// ?nocatalog: the catalog is most of the answer and nothing here reads it.
	resp, err := identity.Get(ctx, identity.ServiceURL("auth", "tokens")+"?nocatalog", &body, &gophercloud.RequestOpts{
		MoreHeaders: map[string]string{"X-Subject-Token": token},
		OkCodes:     []int{http.StatusOK, http.StatusNonAuthoritativeInfo},
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return nil, time.Time{}, errTokenInvalid
	case gophercloud.ResponseCodeIs(err, http.StatusUnauthorized):
		// After gophercloud has logged the service user in again: Keystone refuses the subject token.
		return nil, time.Time{}, errTokenInvalid
	case err != nil:
		// Not gophercloud's message for an unexpected status: it quotes Keystone's body, and Keystone quotes
		// the subject token in some of its errors. The token must not reach a log.
		var unexpected gophercloud.ErrUnexpectedResponseCode
		if errors.As(err, &unexpected) {
			return nil, time.Time{}, fmt.Errorf("validating a token: Keystone answered %d", unexpected.Actual)
		}
		return nil, time.Time{}, fmt.Errorf("validating a token: %w", err)
	}
	t := body.Token
	if t.ExpiresAt.IsZero() || t.User.ID == "" {
		return nil, time.Time{}, errors.New("validating a token: Keystone's answer has no expires_at or user")
	}
	c := &Context{UserID: t.User.ID, UserDomainID: t.User.Domain.ID}
	if t.Project != nil {
		c.ProjectID, c.ProjectDomainID = t.Project.ID, t.Project.Domain.ID
	}
	if t.Domain != nil {
		c.DomainID = t.Domain.ID
	}
	if t.System["all"] {
		c.SystemScope = "all"
	}
	admin := strings.ToLower(strings.TrimSpace(k.cfg.AdminRole))
	for _, role := range t.Roles {
		name := strings.ToLower(role.Name)
		c.Roles = append(c.Roles, name)
		if name == admin {
			c.IsAdmin = true
		}
	}
	for header, v := range map[string]string{"project id": c.ProjectID, "user id": c.UserID} {
		if err := checkID(header, v); err != nil {
			return nil, time.Time{}, fmt.Errorf("validating a token: Keystone's %w", err)
		}
	}
	return c, t.ExpiresAt, nil
}

// client returns the identity client, logging the service user in on first use. Until that succeeds every
// request is answered 503.
func (k *Keystone) client(ctx context.Context) (*gophercloud.ServiceClient, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.identity != nil {
		return k.identity, nil
	}
	provider, err := openstack.NewClient(k.cfg.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("keystone client for %s: %w", k.cfg.AuthURL, err)
	}
	provider.HTTPClient = http.Client{
		Timeout: k.cfg.Timeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: k.cfg.Timeout}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	if err := openstack.Authenticate(ctx, provider, k.opts); err != nil {
		// The password is not in gophercloud's errors; the user name helps find a misconfiguration.
		return nil, fmt.Errorf("logging in to Keystone %s as service user %s: %w", k.cfg.AuthURL,
			k.cfg.Username, err)
	}
	identity, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		return nil, fmt.Errorf("keystone identity client: %w", err)
	}
	k.identity = identity
	return identity, nil
}
