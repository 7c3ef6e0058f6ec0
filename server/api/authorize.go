package api

import (
	"errors"
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// accepts is which Accept headers a handler can answer: the framework's 406 check (spec §2.2).
type accepts int

const (
	// acceptJSON: list, create and JSON-returning handlers produce only application/json.
	acceptJSON accepts = iota
	// acceptAnyType: the "all-types" handlers (secret GET/PUT/DELETE, payload GET, metadata collection GET,
	// metadatum PUT, …) produce every type Python's mimetypes module knows.
	acceptAnyType
	// acceptHTML: the transport-key GET and DELETE handlers keep pecan's default template, text/html, so
	// Accept: application/json is a 406 there (spec §2.2), although GET answers JSON.
	acceptHTML
)

func (k accepts) ok(r *http.Request) bool {
	switch k {
	case acceptAnyType:
		return acceptsAnyType(r)
	case acceptHTML:
		return pecanAccepts(r, "text/html")
	}
	return acceptsJSON(r)
}

// guard is how a handler is admitted, in the reference's order of checks: the entity lookup (404, done by the
// per-entity helpers), the Accept check (406), the policy action (403), the request's Content-Type (415).
type guard struct {
	// op names the operation in error messages ("Secret retrieval").
	op     string
	action policy.Action
	accept accepts
	// jsonBody: the request carries a JSON body, so anything but Content-Type application/json is a 415.
	jsonBody bool
}

// admit runs a guard's checks past the lookup; target is nil for collection actions. On refusal it has
// answered and returns false.
func (a *API) admit(w http.ResponseWriter, r *http.Request, g guard, target policy.Target) bool {
	if !g.accept.ok(r) {
		writeErrorBody(w, r, bareError(http.StatusNotAcceptable))
		return false
	}
	if !a.authorize(w, r, g.op, g.action, target) {
		return false
	}
	if g.jsonBody {
		if e := requireContentType(r, mediaJSON); e != nil {
			writeErrorBody(w, r, e)
			return false
		}
	}
	return true
}

// admitBody admits a collection request that carries a JSON body (g.jsonBody) and reads the body; on refusal it
// has answered and returns false.
func (a *API) admitBody(w http.ResponseWriter, r *http.Request, g guard) (any, bool) {
	if !a.admit(w, r, g, nil) {
		return nil, false
	}
	body, e := a.readJSON(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return nil, false
	}
	return body, true
}

// authorize enforces a policy action for the caller; on refusal it answers 403 and returns false.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, op string, action policy.Action, target policy.Target) bool {
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

// targetOf is the one policy-target builder of the API: an entity of a kind, with its read-ACL keys as the
// caller meets them when withReader (the single-entity actions of secrets and containers; not the ACL actions
// nor orders, spec §5.2).
func targetOf(r *http.Request, kind policy.Kind, o store.Owner, withReader bool) policy.Target {
	e := policy.Entity{Kind: kind, ProjectID: o.ProjectExternalID, CreatorID: o.CreatorID}
	if withReader {
		reader := &policy.Reader{UserID: caller(r).UserID, ProjectAccess: true}
		if o.ReadACL != nil {
			reader.ACLUsers, reader.ProjectAccess = o.ReadACL.Users, o.ReadACL.ProjectAccess
		}
		e.Reader = reader
	}
	return e.Target()
}

// secretFor is how every /v1/secrets/{id}/… handler reaches its secret: look it up with load (404), then admit
// the request with g against the secret's target (406, 403, 415).
func (a *API) secretFor(w http.ResponseWriter, r *http.Request, g guard, load store.LoadOptions) (*store.SecretView, bool) {
	v, ok := a.lookupSecret(w, r, g.op, r.PathValue("id"), load)
	if !ok || !a.admit(w, r, g, targetOf(r, policy.KindSecret, v.Owner(), true)) {
		return nil, false
	}
	return v, true
}

// lookupSecret finds a secret by id in any project (404 for a malformed id or a missing, deleted or expired
// secret); authorisation comes after, so another project's secret is a 403, as in the reference.
func (a *API) lookupSecret(w http.ResponseWriter, r *http.Request, op, id string, o store.LoadOptions) (*store.SecretView, bool) {
	if !isUUID4(id) {
		writeErrorBody(w, r, newError(http.StatusNotFound, "Not Found. Provided secret id is invalid."))
		return nil, false
	}
	v, err := a.db.Read(r.Context()).Secret(id, o)
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, newError(http.StatusNotFound, "Secret not found."))
		return nil, false
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return nil, false
	}
	return v, true
}
