package api

import (
	"errors"
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// createOrder is POST /v1/orders: the order is committed PENDING and acknowledged with 202; an order worker
// generates its key off the request path (server/orders).
func (a *API) createOrder(w http.ResponseWriter, r *http.Request) {
	const op = "Order creation"
	body, ok := a.admitBody(w, r, guard{op: op, action: policy.ActionOrdersPost, accept: acceptJSON, jsonBody: true})
	if !ok {
		return
	}
	now := a.now()
	req, e := a.validateNewOrder(body, now)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	c := caller(r)
	order := &store.Order{
		Model:     store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: store.StatusPending},
		Type:      req.orderType,
		Meta:      &req.meta,
		CreatorID: c.CreatorID(),
	}
	// The one transaction of an order's creation: checks that must hold when the order is recorded (the
	// project's order quota) belong in here, before the insert.
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		projectID, err := tx.EnsureProject(c.ProjectID)
		if err != nil {
			return err
		}
		if err := a.enforceQuota(tx, projectID, store.CountOrders); err != nil {
			return err
		}
		order.ProjectID = projectID
		return tx.CreateOrder(order)
	})
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	if a.orders != nil {
		a.orders.Notify()
	}
	ref := a.href(r, "orders/"+order.ID)
	w.Header().Set("Location", ref)
	writeJSON(w, http.StatusAccepted, map[string]string{"order_ref": ref})
}

// listOrders is GET /v1/orders: the caller's project's orders, oldest first, paged, with the reference's meta
// filter.
func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	const op = "Order(s) retrieval"
	if !a.admit(w, r, guard{op: op, action: policy.ActionOrdersGet, accept: acceptJSON}, nil) {
		return
	}
	q := r.URL.Query()
	p := a.cleanPaging(q.Get("offset"), q.Get("limit"))
	tx := a.db.Read(r.Context())
	projectID, err := tx.ProjectID(caller(r).ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"orders": []any{}, "total": 0})
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	query := store.OrderQuery{ProjectID: projectID, Offset: p.offset, Limit: p.limit}
	if meta := q.Get("meta"); meta != "" {
		// The reference's meta column encodes the bound value as JSON too: it looks for the quoted string.
		query.MetaContains = pythonJSON(meta)
	}
	orders, total, err := tx.ListOrders(query)
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	if len(orders) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"orders": []any{}, "total": total})
		return
	}
	items := make([]orderJSON, len(orders))
	for i := range orders {
		items[i] = a.orderJSON(r, &orders[i])
	}
	body := map[string]any{"orders": items, "total": total}
	navLinks(body, a.baseHref(r), "orders", p, total, "")
	writeJSON(w, http.StatusOK, body)
}

// putOrders is PUT /v1/orders: the policy is checked, then the update is refused, as in the reference.
func (a *API) putOrders(w http.ResponseWriter, r *http.Request) {
	const op = "Order update"
	if !a.admit(w, r, guard{op: op, action: policy.ActionOrdersPut, accept: acceptJSON}, nil) {
		return
	}
	writeErrorBody(w, r, newError(http.StatusMethodNotAllowed, "Order update is not supported."))
}

// getOrder is GET /v1/orders/{id}.
func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	v, ok := a.orderFor(w, r, guard{op: "Order retrieval", action: policy.ActionOrderGet, accept: acceptJSON})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.orderJSON(r, &v.Order))
}

// deleteOrder is DELETE /v1/orders/{id}: the order goes, the secrets and containers it generated stay.
func (a *API) deleteOrder(w http.ResponseWriter, r *http.Request) {
	const op = "Order deletion"
	v, ok := a.orderFor(w, r, guard{op: op, action: policy.ActionOrderDelete, accept: acceptAnyType})
	if !ok {
		return
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteOrder(v.ID) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// orderFor is how every /v1/orders/{id} handler reaches its order: look it up in the caller's project (404),
// then admit the request with g against the order's target (406, 403, 415).
func (a *API) orderFor(w http.ResponseWriter, r *http.Request, g guard) (*store.OrderView, bool) {
	v, ok := a.lookupOrder(w, r, g.op, r.PathValue("id"))
	if !ok || !a.admit(w, r, g, targetOf(r, policy.KindOrder, v.Owner(), false)) {
		return nil, false
	}
	return v, true
}

// lookupOrder finds an order by id in the caller's project: the reference does not check the id's form, and
// another project's order is not found rather than forbidden.
func (a *API) lookupOrder(w http.ResponseWriter, r *http.Request, op, id string) (*store.OrderView, bool) {
	v, err := a.db.Read(r.Context()).Order(id, caller(r).ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, newError(http.StatusNotFound, "Order not found."))
		return nil, false
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return nil, false
	}
	return v, true
}
