package api

import (
	"errors"
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// Consumers: services registering their use of a secret (spec §4.4) or a container (§4.7). Registering is
// idempotent; removing is allowed to the consumer's project and the parent's project.

var (
	errConsumerIDInvalid = newError(http.StatusNotFound, "Not Found. Provided consumer id is invalid.")
	errConsumerNotFound  = newError(http.StatusNotFound, "Consumer not found.")
	errConsumerNotOwner  = newError(http.StatusForbidden,
		"Not Allowed. Sorry, only the creator of a consumer can delete it.")
)

// secretConsumerSchema is the reference's SecretConsumerValidator schema, except that resource_id is bounded by
// its 36-character column (the reference lets the database refuse a longer one).
var secretConsumerSchema = objectSchema{
	name: "Secret Consumer",
	properties: []property{
		{name: "service", types: []string{"string"}, maxLength: 255, minLength: 1},
		{name: "resource_type", types: []string{"string"}, maxLength: 255, minLength: 1},
		{name: "resource_id", types: []string{"string"}, maxLength: 36, minLength: 1},
	},
	required: []string{"service", "resource_type", "resource_id"},
}

// containerConsumerSchema is the reference's ContainerConsumerValidator schema (note the upper-case URL).
var containerConsumerSchema = objectSchema{
	name: "Consumer",
	properties: []property{
		{name: "URL", types: []string{"string"}, maxLength: 255, minLength: 1},
		{name: "name", types: []string{"string"}, maxLength: 36, minLength: 1},
	},
	required: []string{"name", "URL"},
}

// secretConsumerJSON is a secret consumer as the consumer list and GET show it.
type secretConsumerJSON struct {
	Created      string `json:"created"`
	Updated      string `json:"updated"`
	Status       string `json:"status"`
	Service      string `json:"service"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
}

func secretConsumerOf(c *store.SecretConsumerMetadatum) secretConsumerJSON {
	return secretConsumerJSON{Created: isoformat(c.CreatedAt), Updated: isoformat(c.UpdatedAt), Status: c.Status,
		Service: c.Service, ResourceType: c.ResourceType, ResourceID: c.ResourceID}
}

// containerConsumerJSON is a container consumer as the consumer list and GET show it.
type containerConsumerJSON struct {
	Created string  `json:"created"`
	Updated string  `json:"updated"`
	Status  string  `json:"status"`
	Name    *string `json:"name"`
	URL     *string `json:"URL"`
}

func containerConsumerOf(c *store.ContainerConsumerMetadatum) containerConsumerJSON {
	return containerConsumerJSON{Created: isoformat(c.CreatedAt), Updated: isoformat(c.UpdatedAt), Status: c.Status,
		Name: c.Name, URL: c.URL}
}

// consumerRequest is how a consumer registration or removal starts: its parent, found and admitted by
// parentFor, then its body, validated against schema.
func consumerRequest[V any](a *API, w http.ResponseWriter, r *http.Request, g guard, schema objectSchema,
	parentFor func(http.ResponseWriter, *http.Request, guard) (V, bool)) (parent V, body map[string]any, ok bool) {
	if parent, ok = parentFor(w, r, g); !ok {
		return parent, nil, false
	}
	raw, e := a.readJSON(r)
	if e == nil {
		body, e = schema.validate(raw)
	}
	if e != nil {
		writeErrorBody(w, r, e)
		return parent, nil, false
	}
	return parent, body, true
}

// secretOfConsumers and containerOfConsumers find and admit the parent of a consumer registration or removal.
func (a *API) secretOfConsumers(w http.ResponseWriter, r *http.Request, g guard) (*store.SecretView, bool) {
	return a.secretFor(w, r, g, store.LoadOptions{})
}

func (a *API) containerOfConsumers(w http.ResponseWriter, r *http.Request, g guard) (*store.ContainerView, bool) {
	return a.containerFor(w, r, g, false)
}

// listSecretConsumers is GET /v1/secrets/{id}/consumers, oldest first.
func (a *API) listSecretConsumers(w http.ResponseWriter, r *http.Request) {
	const op = "SecretConsumers(s) retrieval"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretConsumersGet, accept: acceptJSON}, store.LoadOptions{})
	if !ok {
		return
	}
	p := a.pageOf(orderedQuery(r.URL.RawQuery))
	rows, total, err := a.db.Read(r.Context()).ListSecretConsumers(v.ID, p.offset, p.limit)
	writeConsumerPage(a, w, r, op, "secrets/"+v.ID, p, rows, total, err, secretConsumerOf)
}

// addSecretConsumer is POST /v1/secrets/{id}/consumers: 200 with the secret, consumers included whatever the
// microversion.
func (a *API) addSecretConsumer(w http.ResponseWriter, r *http.Request) {
	const op = "SecretConsumer creation"
	g := guard{op: op, action: policy.ActionSecretConsumersPost, accept: acceptJSON, jsonBody: true}
	v, obj, ok := consumerRequest(a, w, r, g, secretConsumerSchema, a.secretOfConsumers)
	if !ok {
		return
	}
	// One transaction: the project row, the checks that guard the insert (the consumers quota, counted over
	// secret consumers alone as in the reference, checked for a repeated registration too), the insert, and the
	// secret as it is then.
	a.changeConsumers(w, r, op, v.ID, true, func(tx *store.Tx) (any, error) {
		projectID, err := tx.EnsureProject(caller(r).ProjectID)
		if err != nil {
			return nil, err
		}
		if err := a.enforceQuota(tx, projectID, store.CountSecretConsumers); err != nil {
			return nil, err
		}
		err = tx.AddSecretConsumer(&store.SecretConsumerMetadatum{SecretID: v.ID, ProjectID: &projectID,
			Service: obj["service"].(string), ResourceType: obj["resource_type"].(string),
			ResourceID: obj["resource_id"].(string)})
		if err != nil {
			return nil, err
		}
		return a.secretWithConsumers(tx, r, v.ID)
	})
}

// removeSecretConsumer is DELETE /v1/secrets/{id}/consumers.
func (a *API) removeSecretConsumer(w http.ResponseWriter, r *http.Request) {
	const op = "SecretConsumer deletion"
	g := guard{op: op, action: policy.ActionSecretConsumersDelete, accept: acceptJSON, jsonBody: true}
	v, obj, ok := consumerRequest(a, w, r, g, secretConsumerSchema, a.secretOfConsumers)
	if !ok {
		return
	}
	a.changeConsumers(w, r, op, v.ID, false, func(tx *store.Tx) (any, error) {
		// A project never seen has registered nothing (the reference does not create it here).
		projectID, err := tx.ProjectID(caller(r).ProjectID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errConsumerNotFound
		}
		if err != nil {
			return nil, err
		}
		c, err := tx.SecretConsumerByValues(v.ID, obj["service"].(string), obj["resource_type"].(string),
			obj["resource_id"].(string))
		if err != nil {
			return nil, err
		}
		if !mayRemoveConsumer(r, projectID, c.ProjectID, v.ProjectExternalID) {
			return nil, errConsumerNotOwner
		}
		if err := tx.DeleteSecretConsumer(c.ID); err != nil {
			return nil, err
		}
		return a.secretWithConsumers(tx, r, v.ID)
	})
}

// secretWithConsumers is the secret as consumer registrations and removals answer it.
func (a *API) secretWithConsumers(tx *store.Tx, r *http.Request, id string) (any, error) {
	v, err := tx.Secret(id, store.LoadOptions{Consumers: true})
	if err != nil {
		return nil, err
	}
	return a.secretJSON(r, v, true), nil
}

// getSecretConsumer is /v1/secrets/{id}/consumers/{consumer_id}.
func (a *API) getSecretConsumer(w http.ResponseWriter, r *http.Request) {
	const op = "SecretConsumer retrieval"
	v, ok := a.lookupSecret(w, r, op, r.PathValue("id"), store.LoadOptions{})
	if !ok || !a.admitConsumerGet(w, r, op, policy.KindSecret, v.Owner()) {
		return
	}
	c, err := a.db.Read(r.Context()).SecretConsumer(v.ID, r.PathValue("consumer_id"))
	writeConsumer(a, w, r, op, c, err, secretConsumerOf)
}

// listContainerConsumers is GET /v1/containers/{id}/consumers, by name.
func (a *API) listContainerConsumers(w http.ResponseWriter, r *http.Request) {
	const op = "ContainerConsumers(s) retrieval"
	v, ok := a.containerFor(w, r, guard{op: op, action: policy.ActionContainerConsumersGet, accept: acceptJSON}, false)
	if !ok {
		return
	}
	p := a.pageOf(orderedQuery(r.URL.RawQuery))
	rows, total, err := a.db.Read(r.Context()).ListContainerConsumers(v.ID, p.offset, p.limit)
	writeConsumerPage(a, w, r, op, "containers/"+v.ID, p, rows, total, err, containerConsumerOf)
}

// addContainerConsumer is POST /v1/containers/{id}/consumers: 200 with the container.
func (a *API) addContainerConsumer(w http.ResponseWriter, r *http.Request) {
	const op = "ContainerConsumer creation"
	g := guard{op: op, action: policy.ActionContainerConsumersPost, accept: acceptJSON, jsonBody: true}
	v, obj, ok := consumerRequest(a, w, r, g, containerConsumerSchema, a.containerOfConsumers)
	if !ok {
		return
	}
	name, url := obj["name"].(string), obj["URL"].(string)
	// One transaction: the project row, the checks that guard the insert (the consumers quota, counted over
	// container consumers alone as in the reference, checked for a repeated registration too), the insert, and the
	// container as it is then.
	a.changeConsumers(w, r, op, v.ID, true, func(tx *store.Tx) (any, error) {
		projectID, err := tx.EnsureProject(caller(r).ProjectID)
		if err != nil {
			return nil, err
		}
		if err := a.enforceQuota(tx, projectID, store.CountContainerConsumers); err != nil {
			return nil, err
		}
		err = tx.AddContainerConsumer(&store.ContainerConsumerMetadatum{ContainerID: v.ID, ProjectID: &projectID,
			Name: &name, URL: &url})
		if err != nil {
			return nil, err
		}
		return a.containerWithConsumers(tx, r, v.ID)
	})
}

// removeContainerConsumer is DELETE /v1/containers/{id}/consumers.
func (a *API) removeContainerConsumer(w http.ResponseWriter, r *http.Request) {
	const op = "ContainerConsumer deletion"
	g := guard{op: op, action: policy.ActionContainerConsumersDelete, accept: acceptJSON, jsonBody: true}
	v, obj, ok := consumerRequest(a, w, r, g, containerConsumerSchema, a.containerOfConsumers)
	if !ok {
		return
	}
	a.changeConsumers(w, r, op, v.ID, false, func(tx *store.Tx) (any, error) {
		// Unlike the secret variant, the reference creates the caller's project row here.
		projectID, err := tx.EnsureProject(caller(r).ProjectID)
		if err != nil {
			return nil, err
		}
		c, err := tx.ContainerConsumerByValues(v.ID, obj["name"].(string), obj["URL"].(string))
		if err != nil {
			return nil, err
		}
		if !mayRemoveConsumer(r, projectID, c.ProjectID, v.ProjectExternalID) {
			return nil, errConsumerNotOwner
		}
		if err := tx.DeleteContainerConsumer(c.ID); err != nil {
			return nil, err
		}
		return a.containerWithConsumers(tx, r, v.ID)
	})
}

// containerWithConsumers is the container as consumer registrations and removals answer it.
func (a *API) containerWithConsumers(tx *store.Tx, r *http.Request, id string) (any, error) {
	v, err := tx.Container(id, true)
	if err != nil {
		return nil, err
	}
	return a.containerJSON(r, v), nil
}

// getContainerConsumer is /v1/containers/{id}/consumers/{consumer_id}.
func (a *API) getContainerConsumer(w http.ResponseWriter, r *http.Request) {
	const op = "ContainerConsumer retrieval"
	v, ok := a.lookupContainer(w, r, op, r.PathValue("id"), false)
	if !ok || !a.admitConsumerGet(w, r, op, policy.KindContainer, v.Owner()) {
		return
	}
	c, err := a.db.Read(r.Context()).ContainerConsumer(v.ID, r.PathValue("consumer_id"))
	writeConsumer(a, w, r, op, c, err, containerConsumerOf)
}

// mayRemoveConsumer is the reference's rule for removing a consumer: only the project that registered it
// (callerProjectID is the caller's internal project id) or the project owning its secret or container may.
func mayRemoveConsumer(r *http.Request, callerProjectID string, consumerProjectID *string, parentProjectExternalID string) bool {
	return (consumerProjectID != nil && *consumerProjectID == callerProjectID) ||
		parentProjectExternalID == caller(r).ProjectID
}

// changeConsumers runs change in one transaction and answers 200 with what it returns, the parent as it is
// then; a registration also carries the reference's Location, {base}/v1/consumers/{parent id}/consumers (a path
// that does not exist, sic).
func (a *API) changeConsumers(w http.ResponseWriter, r *http.Request, op, parentID string, registered bool,
	change func(tx *store.Tx) (any, error)) {
	var body any
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		var err error
		body, err = change(tx)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		// The consumer vanished, or its parent, between the lookup and the write.
		writeErrorBody(w, r, errConsumerNotFound)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	if registered {
		w.Header().Set("Location", a.href(r, "consumers/"+parentID+"/consumers"))
	}
	writeJSON(w, http.StatusOK, body)
}

// writeConsumerPage answers a page of the consumers of the parent at parentPath ("secrets/{id}").
func writeConsumerPage[T, J any](a *API, w http.ResponseWriter, r *http.Request, op, parentPath string, p page,
	rows []T, total int, err error, render func(*T) J) {
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	items := make([]J, len(rows))
	for i := range rows {
		items[i] = render(&rows[i])
	}
	writePage(a, w, r, "consumers", parentPath+"/consumers", items, total, p)
}

// admitConsumerGet checks a consumer path's id (404) and method (405) in the reference's order, then admits
// the request against the parent's target (406, 403).
func (a *API) admitConsumerGet(w http.ResponseWriter, r *http.Request, op string, kind policy.Kind, parent store.Owner) bool {
	if !isUUID4(r.PathValue("consumer_id")) {
		writeErrorBody(w, r, errConsumerIDInvalid)
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e := bareError(http.StatusMethodNotAllowed)
		e.Allow = "GET"
		writeErrorBody(w, r, e)
		return false
	}
	return a.admit(w, r, guard{op: op, action: policy.ActionConsumerGet, accept: acceptJSON}, targetOf(r, kind, parent, true))
}

// writeConsumer answers a consumer lookup: the consumer, a 404 or the error.
func writeConsumer[T, J any](a *API, w http.ResponseWriter, r *http.Request, op string, c *T, err error, render func(*T) J) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeErrorBody(w, r, errConsumerNotFound)
	case err != nil:
		a.writeError(w, r, op, err)
	default:
		writeJSON(w, http.StatusOK, render(c))
	}
}
