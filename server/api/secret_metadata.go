package api

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

var urlSafeKey = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

var (
	errMetadataNotStrings = newError(http.StatusBadRequest, "Invalid Metadata. Keys and Values must be Strings.")
	errMetadataKey        = newError(http.StatusBadRequest, "Invalid Key. Key must be URL safe.")
	errMetadatumNotFound  = newError(http.StatusNotFound, "Secret metadata not found.")
)

var secretMetadataSchema = objectSchema{name: "SecretMetadata", properties: []property{
	{name: "metadata", types: []string{"object"}, required: true},
}}

var secretMetadatumSchema = objectSchema{name: "SecretMetadatum", noAdditional: true, properties: []property{
	{name: "key", types: []string{"string"}, maxLength: 255, required: true},
	{name: "value", types: []string{"string"}, maxLength: 255, required: true},
}}

// getSecretMetadata is GET /v1/secrets/{id}/metadata.
func (a *API) getSecretMetadata(w http.ResponseWriter, r *http.Request) {
	const op = "Secret metadata retrieval"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretMetaGet, accept: acceptAnyType}, store.LoadOptions{})
	if !ok {
		return
	}
	md, err := a.db.Read(r.Context()).SecretUserMetadata(v.ID)
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	if md == nil {
		md = map[string]string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"metadata": md})
}

// putSecretMetadata is PUT /v1/secrets/{id}/metadata: replace the whole set.
func (a *API) putSecretMetadata(w http.ResponseWriter, r *http.Request) {
	const op = "Secret metadata creation"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretMetaPut, accept: acceptJSON, jsonBody: true},
		store.LoadOptions{})
	if !ok {
		return
	}
	body, e := a.readJSON(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	obj, e := secretMetadataSchema.validate(body)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	md := map[string]string{}
	for key, value := range obj["metadata"].(map[string]any) {
		if !urlSafeKey.MatchString(key) {
			writeErrorBody(w, r, errMetadataKey)
			return
		}
		s, ok := value.(string)
		if !ok {
			writeErrorBody(w, r, errMetadataNotStrings)
			return
		}
		// The columns are 255 characters; the reference lets the database fail (500), a 400 says why.
		if len([]rune(key)) > 255 || len([]rune(s)) > 255 {
			writeErrorBody(w, r, invalidObject("SecretMetadata", "keys and values must be at most 255 characters", "metadata"))
			return
		}
		md[strings.ToLower(key)] = s
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.ReplaceSecretUserMetadata(v.ID, md) })
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"metadata_ref": a.href(r, "secrets/"+v.ID+"/metadata")})
}

// readMetadatum reads and validates a {"key": k, "value": v} body; the key comes back lower-cased.
func (a *API) readMetadatum(r *http.Request) (key, value string, e *Error) {
	body, e := a.readJSON(r)
	if e != nil {
		return "", "", e
	}
	obj, e := secretMetadatumSchema.validate(body)
	if e != nil {
		return "", "", e
	}
	key, value = obj["key"].(string), obj["value"].(string)
	if !urlSafeKey.MatchString(key) {
		return "", "", errMetadataKey
	}
	return strings.ToLower(key), value, nil
}

// postSecretMetadatum is POST /v1/secrets/{id}/metadata: add one key.
func (a *API) postSecretMetadatum(w http.ResponseWriter, r *http.Request) {
	const op = "Secret metadatum creation"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretMetaPost, accept: acceptJSON, jsonBody: true},
		store.LoadOptions{})
	if !ok {
		return
	}
	key, value, e := a.readMetadatum(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.CreateSecretUserMetadatum(v.ID, key, value) })
	if errors.Is(err, store.ErrConflict) {
		writeErrorBody(w, r, newError(http.StatusConflict, "Conflict. Key in request is already in the secret metadata"))
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.Header().Set("Location", a.href(r, "secrets/"+v.ID+"/metadata/"+key))
	writeJSON(w, http.StatusCreated, map[string]string{"key": key, "value": value})
}

// getSecretMetadatum is GET /v1/secrets/{id}/metadata/{key}; the URL key is used as given (not lower-cased).
func (a *API) getSecretMetadatum(w http.ResponseWriter, r *http.Request) {
	const op = "Secret metadatum retrieval"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretMetaGet, accept: acceptJSON}, store.LoadOptions{})
	if !ok {
		return
	}
	key := r.PathValue("key")
	value, err := a.db.Read(r.Context()).SecretUserMetadatum(v.ID, key)
	a.answerMetadatum(w, r, op, key, value, err)
}

// answerMetadatum answers a single-key request: the pair, a 404 for a missing key, or the error.
func (a *API) answerMetadatum(w http.ResponseWriter, r *http.Request, op, key, value string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeErrorBody(w, r, errMetadatumNotFound)
	case err != nil:
		a.writeError(w, r, op, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"key": key, "value": value})
	}
}

// putSecretMetadatum is PUT /v1/secrets/{id}/metadata/{key}: update an existing key.
func (a *API) putSecretMetadatum(w http.ResponseWriter, r *http.Request) {
	const op = "Secret metadatum update"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretMetaPut, accept: acceptAnyType, jsonBody: true},
		store.LoadOptions{})
	if !ok {
		return
	}
	urlKey := r.PathValue("key")
	key, value, e := a.readMetadatum(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	var mismatch bool
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		if _, err := tx.SecretUserMetadatum(v.ID, urlKey); err != nil {
			return err
		}
		if mismatch = key != urlKey; mismatch {
			return nil
		}
		return tx.UpdateSecretUserMetadatum(v.ID, key, value)
	})
	if err == nil && mismatch {
		// The reference's message is cut short (its second line is a separate statement, not a continuation):
		// the text is kept as clients see it from the reference.
		writeErrorBody(w, r, newError(http.StatusConflict, "Key in request data does not match key in the "))
		return
	}
	if err != nil {
		key = urlKey
	}
	a.answerMetadatum(w, r, op, key, value, err)
}

// deleteSecretMetadatum is DELETE /v1/secrets/{id}/metadata/{key}: 204 whether or not the key existed.
func (a *API) deleteSecretMetadatum(w http.ResponseWriter, r *http.Request) {
	const op = "Secret metadatum removal"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretMetaDelete, accept: acceptJSON}, store.LoadOptions{})
	if !ok {
		return
	}
	key := r.PathValue("key")
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteSecretUserMetadatum(v.ID, key) })
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
