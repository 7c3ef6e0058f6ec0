package api

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// Transport keys are a KRA (Dogtag) feature: keymanager stores and lists them as the reference does, but no
// secret store here wraps payloads with them (store_crypto has no transport-key support, spec §4.12).

var transportKeySchema = objectSchema{name: "Transport Key", properties: []property{
	{name: "plugin_name", types: []string{"string"}},
	{name: "transport_key", types: []string{"string"}},
}}

var errTransportKeyNotFound = newError(http.StatusNotFound, "Not Found. Transport Key not found.")

// lookupTransportKeyID is the reference's only check before a transport-key handler: the id must be a UUIDv4.
func lookupTransportKeyID(w http.ResponseWriter, r *http.Request, id string) bool {
	if !isUUID4(id) {
		writeErrorBody(w, r, newError(http.StatusNotFound, "Not Found. Provided transport key id is invalid."))
		return false
	}
	return true
}

// listTransportKeys is GET /v1/transport_keys: hrefs, not objects.
func (a *API) listTransportKeys(w http.ResponseWriter, r *http.Request) {
	const op = "Transport Key(s) retrieval"
	if !a.admit(w, r, guard{op: op, action: policy.ActionTransportKeysGet, accept: acceptJSON}, nil) {
		return
	}
	params := orderedQuery(r.URL.RawQuery)
	offset, _ := first(params, "offset")
	limit, _ := first(params, "limit")
	p := a.cleanPaging(offset, limit)
	plugin, _ := first(params, "plugin_name")
	// The reference unquotes the already-decoded value once more (unquote_plus).
	if unq, err := url.QueryUnescape(plugin); err == nil {
		plugin = unq
	}
	ids, total, err := a.db.Read(r.Context()).TransportKeyIDs(plugin, p.offset, p.limit)
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	if len(ids) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"transport_keys": []string{}, "total": total})
		return
	}
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = a.href(r, "transport_keys/"+id)
	}
	body := map[string]any{"transport_keys": refs, "total": total}
	navLinks(body, a.baseHref(r), "transport_keys", p, total, "")
	writeJSON(w, http.StatusOK, body)
}

// createTransportKey is POST /v1/transport_keys.
func (a *API) createTransportKey(w http.ResponseWriter, r *http.Request) {
	const op = "Transport Key Creation"
	g := guard{op: op, action: policy.ActionTransportKeysPost, accept: acceptJSON, jsonBody: true}
	if !a.admit(w, r, g, nil) {
		return
	}
	body, e := a.readJSON(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	obj, e := transportKeySchema.validate(body)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	k := &store.TransportKey{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"plugin_name", &k.PluginName}, {"transport_key", &k.TransportKey}} {
		// Strings arrive stripped (readJSON); an absent or blank one is refused by name.
		if *f.dst, _ = obj[f.name].(string); *f.dst == "" {
			writeErrorBody(w, r, invalidObject(transportKeySchema.name, f.name+" must be provided", f.name))
			return
		}
	}
	now := a.now()
	k.Model = store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: store.StatusActive}
	if err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.CreateTransportKey(k) }); err != nil {
		a.writeError(w, r, op, err)
		return
	}
	ref := a.href(r, "transport_keys/"+k.ID)
	w.Header().Set("Location", ref)
	writeJSON(w, http.StatusCreated, map[string]string{"transport_key_ref": ref})
}

// getTransportKey is GET /v1/transport_keys/{id}. Policy comes before the lookup here (the reference's
// controller enforces, then reads), and the answer is the row itself, as pecan serialises a model object.
func (a *API) getTransportKey(w http.ResponseWriter, r *http.Request) {
	const op = "Transport Key retrieval"
	if !lookupTransportKeyID(w, r, r.PathValue("id")) ||
		!a.admit(w, r, guard{op: op, action: policy.ActionTransportKeyGet, accept: acceptHTML}, nil) {
		return
	}
	k, err := a.db.Read(r.Context()).TransportKey(r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		// The reference answers 500 here (an unhandled NotFound); the spec's recommendation is this 404.
		writeErrorBody(w, r, errTransportKeyNotFound)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	var deletedAt *string
	if k.DeletedAt != nil {
		s := pyDatetime(*k.DeletedAt)
		deletedAt = &s
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": k.ID, "created_at": pyDatetime(k.CreatedAt), "updated_at": pyDatetime(k.UpdatedAt),
		"deleted_at": deletedAt, "deleted": k.Deleted, "status": k.Status,
		"plugin_name": k.PluginName, "transport_key": k.TransportKey,
	})
}

// deleteTransportKey is DELETE /v1/transport_keys/{id}: a soft delete.
func (a *API) deleteTransportKey(w http.ResponseWriter, r *http.Request) {
	const op = "Transport Key deletion"
	if !lookupTransportKeyID(w, r, r.PathValue("id")) ||
		!a.admit(w, r, guard{op: op, action: policy.ActionTransportKeyDelete, accept: acceptHTML}, nil) {
		return
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteTransportKey(r.PathValue("id")) })
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errTransportKeyNotFound)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pyDatetime renders a naive UTC time as Python's str(datetime) does: a space between date and time, and
// microseconds only when non-zero.
func pyDatetime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format(time.DateTime)
	}
	return t.Format("2006-01-02 15:04:05.000000")
}
