package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

var (
	errOnlyGeneric = newError(http.StatusBadRequest, "Only 'generic' containers can be modified.")
	errLinkExists  = newError(http.StatusConflict, "Conflict. A secret with that name and ID is already stored in "+
		"this container. The same secret can exist in a container as long as the name is unique.")
	errLinkSecretMissing = newError(http.StatusNotFound, "Secret provided doesn't exist.")
	errLinkNotFound      = newError(http.StatusNotFound, "Secret provided is not in the container")
)

// containerSecretRef is a validated {"name", "secret_ref"} body of /v1/containers/{id}/secrets.
type containerSecretRef struct {
	name     *string
	ref      string
	secretID string
}

// readContainerSecretRef reads and validates the body. The secret id is the text after the last slash, so a
// trailing slash names no secret; a ref without any slash is taken as a bare id (the reference fails with a 500
// there).
func (a *API) readContainerSecretRef(r *http.Request) (*containerSecretRef, *Error) {
	body, e := a.readJSON(r)
	if e != nil {
		return nil, e
	}
	obj, e := containerSecretSchema.validate(body)
	if e != nil {
		return nil, e
	}
	ref := &containerSecretRef{ref: obj["secret_ref"].(string)}
	if name, ok := obj["name"].(string); ok {
		ref.name = &name
	}
	ref.secretID = ref.ref[strings.LastIndexByte(ref.ref, '/')+1:]
	return ref, nil
}

// changeLink runs change in one transaction once the secret the request names is known to be a live secret of
// the caller's project -- the only secrets a container may take in or give up through this API -- and answers
// missing otherwise, or the error change returns (storeErr is what its store sentinel becomes). It reports
// whether the change was made.
func (a *API) changeLink(w http.ResponseWriter, r *http.Request, op string, ref *containerSecretRef, missing *Error,
	sentinel error, storeErr *Error, change func(tx *store.Tx) error) bool {
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		live, err := tx.LiveSecretIDs(caller(r).ProjectID, []string{ref.secretID})
		if err != nil {
			return err
		}
		if !live[ref.secretID] {
			return missing
		}
		err = change(tx)
		if errors.Is(err, sentinel) {
			return storeErr
		}
		return err
	})
	if err != nil {
		a.writeError(w, r, op, err)
		return false
	}
	return true
}

// addContainerSecret is POST /v1/containers/{id}/secrets: link one more secret into a generic container.
func (a *API) addContainerSecret(w http.ResponseWriter, r *http.Request) {
	const op = "Container Secret creation"
	g := guard{op: op, action: policy.ActionContainerSecretPost, accept: acceptJSON, jsonBody: true}
	v, ok := a.containerFor(w, r, g, false)
	if !ok {
		return
	}
	// The type is checked before the body is read, as in the reference.
	if v.Type == nil || *v.Type != store.ContainerGeneric {
		writeErrorBody(w, r, errOnlyGeneric)
		return
	}
	ref, e := a.readContainerSecretRef(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	if !a.changeLink(w, r, op, ref, errLinkSecretMissing, store.ErrConflict, errLinkExists, func(tx *store.Tx) error {
		return tx.AddContainerSecret(v.ID, ref.secretID, ref.name)
	}) {
		return
	}
	href := a.href(r, "containers/"+v.ID)
	w.Header().Set("Location", href)
	writeJSON(w, http.StatusCreated, map[string]string{"container_ref": href})
}

// removeContainerSecret is DELETE /v1/containers/{id}/secrets: unlink a secret (by id and name) from a container
// of any type. The reference parses the JSON body without checking its Content-Type.
func (a *API) removeContainerSecret(w http.ResponseWriter, r *http.Request) {
	const op = "Container Secret deletion"
	v, ok := a.containerFor(w, r, guard{op: op, action: policy.ActionContainerSecretDelete, accept: acceptAnyType}, false)
	if !ok {
		return
	}
	ref, e := a.readContainerSecretRef(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	missing := newError(http.StatusNotFound, fmt.Sprintf("Secret '%s' with reference '%s' doesn't exist.",
		pyStr(ref.name), ref.ref))
	if !a.changeLink(w, r, op, ref, missing, store.ErrNotFound, errLinkNotFound, func(tx *store.Tx) error {
		return tx.RemoveContainerSecret(v.ID, ref.secretID, ref.name)
	}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
