// Package auth turns an incoming request into the caller's identity: the request context that every
// handler and the policy engine read. Its implementations are the no-auth pipeline of the reference
// Barbican (identity from X-Project-Id / X-Roles / X-User-Id headers), Keystone token validation (what
// keystonemiddleware's authtoken does in front of the reference) and a static token file.
package auth

import (
	"context"
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
)

// Context is the authenticated caller of one request (oslo.context's RequestContext, reduced to what keymanager
// uses). Handlers read it from the request context, never from headers.
type Context struct {
	UserID          string
	ProjectID       string
	DomainID        string
	UserDomainID    string
	ProjectDomainID string
	Roles           []string
	// SystemScope is "all" for a system-scoped Keystone token.
	SystemScope string
	// IsAdmin is informational (admin_role in roles), as in Barbican: no default policy reads it.
	IsAdmin bool
}

// Credentials returns the caller as the policy engine sees it.
func (c *Context) Credentials() policy.Credentials {
	return policy.Credentials{
		UserID:          c.UserID,
		ProjectID:       c.ProjectID,
		DomainID:        c.DomainID,
		UserDomainID:    c.UserDomainID,
		ProjectDomainID: c.ProjectDomainID,
		Roles:           c.Roles,
		SystemScope:     c.SystemScope,
	}
}

// CreatorID is the value recorded as creator_id of new resources: the caller's user id, or nil without one.
func (c *Context) CreatorID() *string {
	if c.UserID == "" {
		return nil
	}
	id := c.UserID
	return &id
}

type contextKey struct{}

// NewContext returns ctx carrying the caller.
func NewContext(ctx context.Context, c *Context) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// FromContext returns the caller stored by NewContext, if any.
func FromContext(ctx context.Context) (*Context, bool) {
	c, ok := ctx.Value(contextKey{}).(*Context)
	return c, ok
}

// Authenticator establishes the caller of a request. Implementations return an *Error for requests they
// refuse, so that the API can answer with the right status in Barbican's error shape.
type Authenticator interface {
	Authenticate(r *http.Request) (*Context, error)
}

// Error is an authentication failure with the HTTP status and headers to answer it with.
type Error struct {
	Status  int
	Message string
	Header  http.Header
	// Body, when set, is the whole JSON answer (keystonemiddleware's own error shape) instead of Barbican's.
	Body []byte
}

func (e *Error) Error() string { return e.Message }
