package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// Quotas are the default project quotas (Barbican's [quotas] quota_*): -1 (or any negative) is unlimited, 0
// disables creation, n allows n live ones. A project's own quotas (project_quotas) win where set.
type Quotas struct {
	Secrets, Orders, Containers, Consumers, CAs int
}

// UnlimitedQuotas are Barbican's defaults.
func UnlimitedQuotas() Quotas { return Quotas{-1, -1, -1, -1, -1} }

// quotaJSON is the quotas object of the quota endpoints, in the reference's key order.
type quotaJSON struct {
	Secrets    *int `json:"secrets"`
	Orders     *int `json:"orders"`
	Containers *int `json:"containers"`
	Consumers  *int `json:"consumers"`
	CAs        *int `json:"cas"`
}

func quotaJSONOf(q store.QuotaValues) quotaJSON {
	return quotaJSON{Secrets: q.Secrets, Orders: q.Orders, Containers: q.Containers, Consumers: q.Consumers, CAs: q.CAs}
}

// effective fills the unset values of q with the defaults.
func (d Quotas) effective(q store.QuotaValues) quotaJSON {
	pick := func(v *int, def int) *int {
		if v != nil {
			return v
		}
		return &def
	}
	return quotaJSON{Secrets: pick(q.Secrets, d.Secrets), Orders: pick(q.Orders, d.Orders),
		Containers: pick(q.Containers, d.Containers), Consumers: pick(q.Consumers, d.Consumers), CAs: pick(q.CAs, d.CAs)}
}

// limit is the effective quota of one counted resource (both kinds of consumer share the consumers quota).
func (q quotaJSON) limit(resource string) int {
	switch resource {
	case store.CountSecrets:
		return *q.Secrets
	case store.CountOrders:
		return *q.Orders
	case store.CountContainers:
		return *q.Containers
	default:
		return *q.Consumers
	}
}

// quotaCacheTTL bounds how long a project's configured quotas are reused from memory: a change made through
// another server is enforced here after at most this long (this server's own changes at once).
const quotaCacheTTL = 10 * time.Second

// maxCachedQuotas bounds the quota cache.
const maxCachedQuotas = 65536

// quotaCache remembers projects' configured quotas, so that a create in a project without quotas costs no query.
type quotaCache struct {
	mu      sync.Mutex
	entries map[string]cachedQuota // internal project id
}

type cachedQuota struct {
	values  store.QuotaValues
	expires time.Time
}

func (c *quotaCache) get(projectID string, now time.Time) (store.QuotaValues, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[projectID]
	return e.values, ok && now.Before(e.expires)
}

func (c *quotaCache) put(projectID string, v store.QuotaValues, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedQuotas {
		c.entries = map[string]cachedQuota{}
	}
	c.entries[projectID] = cachedQuota{values: v, expires: now.Add(quotaCacheTTL)}
}

func (c *quotaCache) forget(projectID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, projectID)
}

// enforceQuota refuses a create of resource in a project at its quota (store.ErrQuotaReached, answered 403). It
// runs inside the create's transaction, after the project row is ensured.
func (a *API) enforceQuota(tx *store.Tx, projectID, resource string) error {
	now := a.now()
	configured, ok := a.quotaCache.get(projectID, now)
	if !ok {
		var err error
		configured, err = tx.ProjectQuotas(projectID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		a.quotaCache.put(projectID, configured, now)
	}
	return tx.CheckQuota(projectID, resource, a.cfg.Quotas.effective(configured).limit(resource))
}

// getQuotas is GET /v1/quotas: the effective quotas of the caller's project (whose row it creates, as the
// reference does).
func (a *API) getQuotas(w http.ResponseWriter, r *http.Request) {
	const op = "Quotas"
	if !a.admit(w, r, guard{op: op, action: policy.ActionQuotasGet, accept: acceptJSON}, nil) {
		return
	}
	projectID, err := a.ensureProject(r)
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	q, err := a.db.Read(r.Context()).ProjectQuotas(projectID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.writeError(w, r, op, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"quotas": a.cfg.Quotas.effective(q)})
}

// listProjectQuotas is GET /v1/project-quotas.
func (a *API) listProjectQuotas(w http.ResponseWriter, r *http.Request) {
	const op = "Project Quotas"
	if !a.admit(w, r, guard{op: op, action: policy.ActionProjectQuotasGet, accept: acceptJSON}, nil) {
		return
	}
	params := orderedQuery(r.URL.RawQuery)
	offset, _ := first(params, "offset")
	limit, _ := first(params, "limit")
	p := a.cleanPaging(offset, limit)
	rows, total, err := a.db.Read(r.Context()).ListProjectQuotas(p.offset, p.limit)
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	type item struct {
		ProjectID string    `json:"project_id"`
		Quotas    quotaJSON `json:"project_quotas"`
	}
	items := make([]item, len(rows))
	for i, row := range rows {
		items[i] = item{ProjectID: row.ProjectExternalID, Quotas: quotaJSONOf(row.QuotaValues)}
	}
	body := map[string]any{"project_quotas": items, "total": total}
	if len(items) > 0 {
		// The reference links to "project_quotas", a path that does not exist; the spec recommends the real one.
		navLinks(body, a.baseHref(r), "project-quotas", p, total, "")
	}
	writeJSON(w, http.StatusOK, body)
}

var errProjectQuotasNotFound = newError(http.StatusNotFound, "Project quotas not found.")

// getProjectQuotas is GET /v1/project-quotas/{project_id}: the configured values, null where unset.
func (a *API) getProjectQuotas(w http.ResponseWriter, r *http.Request) {
	const op = "Project Quotas"
	if !a.admit(w, r, guard{op: op, action: policy.ActionProjectQuotasGet, accept: acceptJSON}, nil) {
		return
	}
	tx := a.db.Read(r.Context())
	projectID, err := tx.ProjectID(r.PathValue("project_id"))
	var q store.QuotaValues
	if err == nil {
		q, err = tx.ProjectQuotas(projectID)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errProjectQuotasNotFound)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"project_quotas": quotaJSONOf(q)})
}

var projectQuotaSchema = objectSchema{name: "Project Quota", noAdditional: true, properties: []property{
	{name: "project_quotas", types: []string{"object"}, required: true},
}}

var projectQuotaValuesSchema = objectSchema{name: "Project Quota", noAdditional: true, properties: []property{
	{name: "secrets", types: []string{"integer"}},
	{name: "orders", types: []string{"integer"}},
	{name: "containers", types: []string{"integer"}},
	{name: "consumers", types: []string{"integer"}},
	{name: "cas", types: []string{"integer"}},
}}

// putProjectQuotas is PUT /v1/project-quotas/{project_id}: set the given quotas of any project.
func (a *API) putProjectQuotas(w http.ResponseWriter, r *http.Request) {
	const op = "Project Quotas"
	g := guard{op: op, action: policy.ActionProjectQuotasPut, accept: acceptJSON, jsonBody: true}
	if !a.admit(w, r, g, nil) {
		return
	}
	if r.ContentLength == 0 {
		writeErrorBody(w, r, issue(http.StatusBadRequest, op, "No data supplied to process."))
		return
	}
	body, e := a.readJSON(r)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	obj, e := projectQuotaSchema.validate(body)
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	values, e := projectQuotaValuesSchema.validate(obj["project_quotas"])
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	var q store.QuotaValues
	for name, dst := range map[string]**int{"secrets": &q.Secrets, "orders": &q.Orders, "containers": &q.Containers,
		"consumers": &q.Consumers, "cas": &q.CAs} {
		if v, ok := values[name]; ok {
			n, ok := jsonInt(v)
			if !ok {
				writeErrorBody(w, r, invalidObject("Project Quota", pyRepr(v)+" is out of range", name))
				return
			}
			*dst = &n
		}
	}
	external := r.PathValue("project_id")
	var projectID string
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		var err error
		if projectID, err = tx.EnsureProject(external); err != nil {
			return err
		}
		return tx.SetProjectQuotas(projectID, q)
	})
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	a.quotaCache.forget(projectID)
	w.WriteHeader(http.StatusNoContent)
}

// deleteProjectQuotas is DELETE /v1/project-quotas/{project_id}.
func (a *API) deleteProjectQuotas(w http.ResponseWriter, r *http.Request) {
	const op = "Project Quotas"
	if !a.admit(w, r, guard{op: op, action: policy.ActionProjectQuotasDelete, accept: acceptAnyType}, nil) {
		return
	}
	projectID, err := a.db.Read(r.Context()).ProjectID(r.PathValue("project_id"))
	if err == nil {
		err = a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteProjectQuotas(projectID) })
	}
	if errors.Is(err, store.ErrNotFound) {
		writeErrorBody(w, r, errProjectQuotasNotFound)
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	a.quotaCache.forget(projectID)
	w.WriteHeader(http.StatusNoContent)
}

// jsonInt is a validated JSON integer that fits the INTEGER columns of project_quotas (32 bits: a larger value
// would fail in the database, a 500 in the reference).
func jsonInt(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, ok := integral(n)
	if !ok || i < math.MinInt32 || i > math.MaxInt32 {
		return 0, false
	}
	return int(i), true
}
