package api

import (
	"errors"
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// The secret-stores resource (spec §4.11) exists only in multiple-backend mode; otherwise every route of it is a
// 404 naming the setting.

var (
	errMultipleBackendsDisabled = newError(http.StatusNotFound,
		"Not Found. Multiple backends support is not enabled in service configuration.")
	errSecretStoreNotFound  = newError(http.StatusNotFound, "Not Found. Secret store not found.")
	errNoPreferredStore     = newError(http.StatusNotFound, "Not Found. No preferred secret store defined for this project.")
	errSecretStoreNoSubpath = bareError(http.StatusMethodNotAllowed)
)

// secretStoreJSON is the reference's to_dict_fields of a secret_stores row, store_plugin renamed.
type secretStoreJSON struct {
	Created       string  `json:"created"`
	Updated       string  `json:"updated"`
	Status        string  `json:"status"`
	StorePlugin   string  `json:"secret_store_plugin"`
	CryptoPlugin  *string `json:"crypto_plugin"`
	GlobalDefault bool    `json:"global_default"`
	Name          string  `json:"name"`
	Ref           string  `json:"secret_store_ref"`
}

func (a *API) secretStoreJSON(r *http.Request, s *store.SecretStore) secretStoreJSON {
	return secretStoreJSON{Created: isoformat(s.CreatedAt), Updated: isoformat(s.UpdatedAt), Status: s.Status,
		StorePlugin: s.StorePlugin, CryptoPlugin: s.CryptoPlugin, GlobalDefault: s.GlobalDefault, Name: s.Name,
		Ref: a.href(r, "secret-stores/"+s.ID)}
}

// ensureProject returns the caller's internal project id, creating the row on first sight: the reference's
// get_or_create_project, which several read-only endpoints call too.
func (a *API) ensureProject(r *http.Request) (string, error) {
	external := caller(r).ProjectID
	id, err := a.db.Read(r.Context()).ProjectID(external)
	if !errors.Is(err, store.ErrNotFound) {
		return id, err
	}
	err = a.db.Write(r.Context(), func(tx *store.Tx) error {
		id, err = tx.EnsureProject(external)
		return err
	})
	return id, err
}

// storesCollection is the shared part of the collection-level handlers: admission (policy comes before the
// mode check there, as the reference's decorators run first) and the caller's project.
func (a *API) storesCollection(w http.ResponseWriter, r *http.Request, op string, action policy.Action) (string, bool) {
	if !a.admit(w, r, guard{op: op, action: action, accept: acceptJSON}, nil) {
		return "", false
	}
	if !a.secrets.MultipleBackends() {
		writeErrorBody(w, r, errMultipleBackendsDisabled)
		return "", false
	}
	projectID, err := a.ensureProject(r)
	if err != nil {
		a.writeError(w, r, op, err)
		return "", false
	}
	return projectID, true
}

// listSecretStores is GET /v1/secret-stores (no paging, no total).
func (a *API) listSecretStores(w http.ResponseWriter, r *http.Request) {
	const op = "List available secret stores"
	if _, ok := a.storesCollection(w, r, op, policy.ActionSecretStoresGet); !ok {
		return
	}
	rows, err := a.db.Read(r.Context()).SecretStores()
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	items := make([]secretStoreJSON, len(rows))
	for i := range rows {
		items[i] = a.secretStoreJSON(r, &rows[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret_stores": items})
}

// getGlobalDefaultSecretStore is GET /v1/secret-stores/global-default.
func (a *API) getGlobalDefaultSecretStore(w http.ResponseWriter, r *http.Request) {
	const op = "Retrieve global default secret store"
	if _, ok := a.storesCollection(w, r, op, policy.ActionSecretStoresGetGlobalDefault); !ok {
		return
	}
	rows, err := a.db.Read(r.Context()).SecretStores()
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	for i := range rows {
		if rows[i].GlobalDefault {
			writeJSON(w, http.StatusOK, a.secretStoreJSON(r, &rows[i]))
			return
		}
	}
	// The stores are synchronised at start, so a missing default is a broken database, not a request error.
	a.writeError(w, r, op, errors.New("no secret store is marked global default: run 'keymanager manage db sync-secret-stores'"))
}

// getPreferredSecretStore is GET /v1/secret-stores/preferred.
func (a *API) getPreferredSecretStore(w http.ResponseWriter, r *http.Request) {
	const op = "Retrieve project preferred store"
	projectID, ok := a.storesCollection(w, r, op, policy.ActionSecretStoresGetPreferred)
	if !ok {
		return
	}
	row, err := a.db.Read(r.Context()).PreferredSecretStore(projectID)
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errNoPreferredStore)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	writeJSON(w, http.StatusOK, a.secretStoreJSON(r, row))
}

// lookupSecretStore is what the reference does under /v1/secret-stores/{id} before anything else: the mode
// check, then the store by id (404 either way).
func (a *API) lookupSecretStore(w http.ResponseWriter, r *http.Request, op, id string) (*store.SecretStore, bool) {
	if !a.secrets.MultipleBackends() {
		writeErrorBody(w, r, errMultipleBackendsDisabled)
		return nil, false
	}
	row, err := a.db.Read(r.Context()).SecretStore(id)
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errSecretStoreNotFound)
		return nil, false
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return nil, false
	}
	return row, true
}

// getSecretStore is GET /v1/secret-stores/{id}.
func (a *API) getSecretStore(w http.ResponseWriter, r *http.Request) {
	const op = "Secret store retrieval"
	row, ok := a.lookupSecretStore(w, r, op, r.PathValue("id"))
	if !ok || !a.admit(w, r, guard{op: op, action: policy.ActionSecretStoreGet, accept: acceptJSON}, nil) {
		return
	}
	writeJSON(w, http.StatusOK, a.secretStoreJSON(r, row))
}

// secretStoreSubpath answers any other sub-path of a secret store: the store is looked up, then 405, as the
// reference's controller aborts.
func (a *API) secretStoreSubpath(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.lookupSecretStore(w, r, "Secret store retrieval", r.PathValue("id")); ok {
		writeErrorBody(w, r, errSecretStoreNoSubpath)
	}
}

// setPreferredSecretStore is POST /v1/secret-stores/{id}/preferred (no body).
func (a *API) setPreferredSecretStore(w http.ResponseWriter, r *http.Request) {
	const op = "Setting preferred secret store"
	row, ok := a.lookupSecretStore(w, r, op, r.PathValue("id"))
	if !ok || !a.admit(w, r, guard{op: op, action: policy.ActionSecretStorePreferredPost, accept: acceptJSON}, nil) {
		return
	}
	external := caller(r).ProjectID
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		projectID, err := tx.EnsureProject(external)
		if err != nil {
			return err
		}
		return tx.SetPreferredSecretStore(projectID, row.ID)
	})
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deletePreferredSecretStore is DELETE /v1/secret-stores/{id}/preferred: it removes the project's preference
// whichever store it names; the id is only checked to exist, as in the reference.
func (a *API) deletePreferredSecretStore(w http.ResponseWriter, r *http.Request) {
	const op = "Removing preferred secret store"
	if _, ok := a.lookupSecretStore(w, r, op, r.PathValue("id")); !ok ||
		!a.admit(w, r, guard{op: op, action: policy.ActionSecretStorePreferredDelete, accept: acceptJSON}, nil) {
		return
	}
	external := caller(r).ProjectID
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		projectID, err := tx.EnsureProject(external)
		if err != nil {
			return err
		}
		return tx.DeletePreferredSecretStore(projectID)
	})
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errNoPreferredStore)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
