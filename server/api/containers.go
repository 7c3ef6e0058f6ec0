package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

var (
	errContainerIDInvalid = newError(http.StatusNotFound, "Not Found. Provided container id is invalid.")
	errContainerNotFound  = newError(http.StatusNotFound, "Secrets container not found.")
)

// containerJSON is the container representation (python-barbicanclient maps it onto its Container classes).
type containerJSON struct {
	Created      string                 `json:"created"`
	Updated      string                 `json:"updated"`
	Status       string                 `json:"status"`
	Name         *string                `json:"name"`
	Type         *string                `json:"type"`
	CreatorID    *string                `json:"creator_id"`
	ContainerRef string                 `json:"container_ref"`
	SecretRefs   []containerSecretJSON  `json:"secret_refs"`
	Consumers    []containerConsumerRef `json:"consumers"`
}

type containerSecretJSON struct {
	Name      *string `json:"name"`
	SecretRef string  `json:"secret_ref"`
}

// containerConsumerRef is a consumer as the container JSON lists it; the key is upper-case URL, as Barbican's
// column is named.
type containerConsumerRef struct {
	Name *string `json:"name"`
	URL  *string `json:"URL"`
}

func (a *API) containerJSON(r *http.Request, v *store.ContainerView) containerJSON {
	out := containerJSON{
		Created:      isoformat(v.CreatedAt),
		Updated:      isoformat(v.UpdatedAt),
		Status:       v.Status,
		Name:         v.Name,
		Type:         v.Type,
		CreatorID:    v.CreatorID,
		ContainerRef: a.href(r, "containers/"+v.ID),
		SecretRefs:   make([]containerSecretJSON, len(v.SecretRefs)),
		Consumers:    make([]containerConsumerRef, len(v.Consumers)),
	}
	for i, ref := range v.SecretRefs {
		out.SecretRefs[i] = containerSecretJSON{Name: ref.Name, SecretRef: a.href(r, "secrets/"+ref.SecretID)}
	}
	for i, c := range v.Consumers {
		out.Consumers[i] = containerConsumerRef{Name: c.Name, URL: c.URL}
	}
	return out
}

// containerFor is how every /v1/containers/{id}/… handler reaches its container: look it up (404), with its
// secret references and consumers when details, then admit the request with g against the container's target
// (406, 403, 415).
func (a *API) containerFor(w http.ResponseWriter, r *http.Request, g guard, details bool) (*store.ContainerView, bool) {
	v, ok := a.lookupContainer(w, r, g.op, r.PathValue("id"), details)
	if !ok || !a.admit(w, r, g, targetOf(r, policy.KindContainer, v.Owner(), true)) {
		return nil, false
	}
	return v, true
}

// lookupContainer finds a container by id in any project (404 for a malformed id or a missing or deleted
// container); authorisation comes after, so another project's container is a 403, as in the reference.
func (a *API) lookupContainer(w http.ResponseWriter, r *http.Request, op, id string, details bool) (*store.ContainerView, bool) {
	if !isUUID4(id) {
		writeErrorBody(w, r, errContainerIDInvalid)
		return nil, false
	}
	v, err := a.db.Read(r.Context()).Container(id, details)
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errContainerNotFound)
		return nil, false
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return nil, false
	}
	return v, true
}

// pyStr is how the reference formats an optional string into a message: Python's str(), None for None.
func pyStr(s *string) string {
	if s == nil {
		return "None"
	}
	return *s
}

// createContainer is POST /v1/containers.
func (a *API) createContainer(w http.ResponseWriter, r *http.Request) {
	const op = "Container creation"
	if !a.admit(w, r, guard{op: op, action: policy.ActionContainersPost, accept: acceptJSON, jsonBody: true}, nil) {
		return
	}
	body, e := a.readJSON(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	nc, e := a.validateNewContainer(r, body)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	c := caller(r)
	container := &store.Container{Name: nc.name, Type: &nc.typ, CreatorID: c.CreatorID()}
	refs := make([]store.ContainerSecret, len(nc.refs))
	ids := make([]string, len(nc.refs))
	for i, ref := range nc.refs {
		refs[i] = store.ContainerSecret{Name: ref.name, SecretID: ref.secretID}
		ids[i] = ref.secretID
	}
	// One transaction: the project row, the checks that guard the insert (the quota first, as in the
	// reference), the insert.
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		projectID, err := tx.EnsureProject(c.ProjectID)
		if err != nil {
			return err
		}
		if err := a.enforceQuota(tx, projectID, store.CountContainers); err != nil {
			return err
		}
		live, err := tx.LiveSecretIDs(c.ProjectID, ids)
		if err != nil {
			return err
		}
		for _, ref := range nc.refs {
			if !live[ref.secretID] {
				return newError(http.StatusNotFound, fmt.Sprintf("Secret provided for '%s' doesn't exist.", pyStr(ref.name)))
			}
		}
		container.ProjectID = projectID
		return tx.CreateContainer(container, refs)
	})
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	ref := a.href(r, "containers/"+container.ID)
	w.Header().Set("Location", ref)
	writeJSON(w, http.StatusCreated, map[string]string{"container_ref": ref})
}

// listContainers is GET /v1/containers: the caller's project's containers, oldest first, filtered by name
// (SQL LIKE) and type.
func (a *API) listContainers(w http.ResponseWriter, r *http.Request) {
	const op = "Containers(s) retrieval"
	if !a.admit(w, r, guard{op: op, action: policy.ActionContainersGet, accept: acceptJSON}, nil) {
		return
	}
	params := orderedQuery(r.URL.RawQuery)
	p := a.pageOf(params)
	name, _ := first(params, "name")
	typ, _ := first(params, "type")
	tx := a.db.Read(r.Context())
	projectID, err := tx.ProjectID(caller(r).ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"containers": []any{}, "total": 0})
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	views, total, err := tx.ListContainers(store.ContainerQuery{ProjectID: projectID, Name: name, Type: typ,
		Offset: p.offset, Limit: p.limit})
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	items := make([]containerJSON, len(views))
	for i := range views {
		items[i] = a.containerJSON(r, &views[i])
	}
	writePage(a, w, r, "containers", "containers", items, total, p)
}

// getContainer is GET /v1/containers/{id}.
func (a *API) getContainer(w http.ResponseWriter, r *http.Request) {
	v, ok := a.containerFor(w, r, guard{op: "Container retrieval", action: policy.ActionContainerGet, accept: acceptJSON}, true)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.containerJSON(r, v))
}

// deleteContainer is DELETE /v1/containers/{id}: the container goes, the secrets it references stay.
func (a *API) deleteContainer(w http.ResponseWriter, r *http.Request) {
	const op = "Container deletion"
	v, ok := a.containerFor(w, r, guard{op: op, action: policy.ActionContainerDelete, accept: acceptAnyType}, false)
	if !ok {
		return
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteContainer(v.ID) })
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errContainerNotFound)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
