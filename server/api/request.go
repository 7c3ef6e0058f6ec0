package api

import (
	"log/slog"
	"net/http"

	"github.com/keymanager-io/keymanager/server/auth"
)

// Per-request state and the accessors handlers use: the request id, the logger that carries it, the
// microversion, the matched route and the authenticated caller.

// requestState is what the middleware chain learns about a request, kept under one context key.
type requestState struct {
	id      string
	log     *slog.Logger
	version int    // microversion minor: 1.<version>
	pattern string // the matched route pattern
}

type stateKey struct{}

func stateOf(r *http.Request) *requestState {
	if s, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		return s
	}
	return &requestState{log: slog.Default()}
}

func logger(r *http.Request) *slog.Logger { return stateOf(r).log }
func requestID(r *http.Request) string    { return stateOf(r).id }
func microversion(r *http.Request) int    { return stateOf(r).version }

// caller returns the authenticated caller; the auth middleware guarantees one on every /v1 route.
func caller(r *http.Request) *auth.Context {
	if c, ok := auth.FromContext(r.Context()); ok {
		return c
	}
	return &auth.Context{}
}
