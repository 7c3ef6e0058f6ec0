package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keymanager-io/keymanager/server/store"
)

// routes registers every route; the whole surface fits on a screen.
func (a *API) routes(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.versionRoot)
	mux.HandleFunc("GET /v1", a.versionV1)
	mux.HandleFunc("GET /healthcheck", a.healthcheck)
	mux.HandleFunc("GET /readyz", a.readiness)
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}

	mux.HandleFunc("GET /v1/secrets", a.listSecrets)
	mux.HandleFunc("POST /v1/secrets", a.createSecret)
	mux.HandleFunc("GET /v1/secrets/{id}", a.getSecret)
	mux.HandleFunc("PUT /v1/secrets/{id}", a.putSecretPayload)
	mux.HandleFunc("DELETE /v1/secrets/{id}", a.deleteSecret)
	mux.HandleFunc("/v1/secrets/{id}/payload", a.getSecretPayload)
	mux.HandleFunc("GET /v1/secrets/{id}/metadata", a.getSecretMetadata)
	mux.HandleFunc("PUT /v1/secrets/{id}/metadata", a.putSecretMetadata)
	mux.HandleFunc("POST /v1/secrets/{id}/metadata", a.postSecretMetadatum)
	mux.HandleFunc("GET /v1/secrets/{id}/metadata/{key}", a.getSecretMetadatum)
	mux.HandleFunc("PUT /v1/secrets/{id}/metadata/{key}", a.putSecretMetadatum)
	mux.HandleFunc("DELETE /v1/secrets/{id}/metadata/{key}", a.deleteSecretMetadatum)
	mux.HandleFunc("GET /v1/secrets/{id}/acl", a.getACL(secretACLs))
	mux.HandleFunc("PUT /v1/secrets/{id}/acl", a.putACL(secretACLs))
	mux.HandleFunc("PATCH /v1/secrets/{id}/acl", a.patchACL(secretACLs))
	mux.HandleFunc("DELETE /v1/secrets/{id}/acl", a.deleteACL(secretACLs))
	mux.HandleFunc("GET /v1/secrets/{id}/consumers", a.listSecretConsumers)
	mux.HandleFunc("POST /v1/secrets/{id}/consumers", a.addSecretConsumer)
	mux.HandleFunc("DELETE /v1/secrets/{id}/consumers", a.removeSecretConsumer)
	mux.HandleFunc("/v1/secrets/{id}/consumers/{consumer_id}", a.getSecretConsumer)

	mux.HandleFunc("GET /v1/orders", a.listOrders)
	mux.HandleFunc("POST /v1/orders", a.createOrder)
	mux.HandleFunc("PUT /v1/orders", a.putOrders)
	mux.HandleFunc("GET /v1/orders/{id}", a.getOrder)
	mux.HandleFunc("DELETE /v1/orders/{id}", a.deleteOrder)

	mux.HandleFunc("GET /v1/quotas", a.getQuotas)
	mux.HandleFunc("GET /v1/project-quotas", a.listProjectQuotas)
	mux.HandleFunc("GET /v1/project-quotas/{project_id}", a.getProjectQuotas)
	mux.HandleFunc("PUT /v1/project-quotas/{project_id}", a.putProjectQuotas)
	mux.HandleFunc("DELETE /v1/project-quotas/{project_id}", a.deleteProjectQuotas)

	mux.HandleFunc("GET /v1/secret-stores", a.listSecretStores)
	mux.HandleFunc("GET /v1/secret-stores/global-default", a.getGlobalDefaultSecretStore)
	mux.HandleFunc("GET /v1/secret-stores/preferred", a.getPreferredSecretStore)
	mux.HandleFunc("GET /v1/secret-stores/{id}", a.getSecretStore)
	mux.HandleFunc("/v1/secret-stores/{id}/{action}", a.secretStoreSubpath)
	mux.HandleFunc("POST /v1/secret-stores/{id}/preferred", a.setPreferredSecretStore)
	mux.HandleFunc("DELETE /v1/secret-stores/{id}/preferred", a.deletePreferredSecretStore)

	mux.HandleFunc("GET /v1/containers", a.listContainers)
	mux.HandleFunc("POST /v1/containers", a.createContainer)
	mux.HandleFunc("GET /v1/containers/{id}", a.getContainer)
	mux.HandleFunc("DELETE /v1/containers/{id}", a.deleteContainer)
	mux.HandleFunc("POST /v1/containers/{id}/secrets", a.addContainerSecret)
	mux.HandleFunc("DELETE /v1/containers/{id}/secrets", a.removeContainerSecret)
	mux.HandleFunc("GET /v1/containers/{id}/consumers", a.listContainerConsumers)
	mux.HandleFunc("POST /v1/containers/{id}/consumers", a.addContainerConsumer)
	mux.HandleFunc("DELETE /v1/containers/{id}/consumers", a.removeContainerConsumer)
	mux.HandleFunc("/v1/containers/{id}/consumers/{consumer_id}", a.getContainerConsumer)
	mux.HandleFunc("GET /v1/containers/{id}/acl", a.getACL(containerACLs))
	mux.HandleFunc("PUT /v1/containers/{id}/acl", a.putACL(containerACLs))
	mux.HandleFunc("PATCH /v1/containers/{id}/acl", a.patchACL(containerACLs))
	mux.HandleFunc("DELETE /v1/containers/{id}/acl", a.deleteACL(containerACLs))

	mux.HandleFunc("GET /v1/transport_keys", a.listTransportKeys)
	mux.HandleFunc("POST /v1/transport_keys", a.createTransportKey)
	mux.HandleFunc("GET /v1/transport_keys/{id}", a.getTransportKey)
	mux.HandleFunc("DELETE /v1/transport_keys/{id}", a.deleteTransportKey)
	return mux
}

// entityLookups are the collections whose controllers look the entity up before anything else: under
// /v1/{collection}/{id}/…, a bad or unknown id is a 404 whatever the method or sub-resource, as in the
// reference. Each lookup answers the 404 itself and reports whether the entity exists.
var entityLookups = map[string]func(a *API, w http.ResponseWriter, r *http.Request, id string) bool{
	"secrets": func(a *API, w http.ResponseWriter, r *http.Request, id string) bool {
		_, ok := a.lookupSecret(w, r, "Secret retrieval", id, store.LoadOptions{})
		return ok
	},
	"orders": func(a *API, w http.ResponseWriter, r *http.Request, id string) bool {
		_, ok := a.lookupOrder(w, r, "Order retrieval", id)
		return ok
	},
	"secret-stores": func(a *API, w http.ResponseWriter, r *http.Request, id string) bool {
		if id == "global-default" || id == "preferred" {
			return true // collection routes, not stores
		}
		_, ok := a.lookupSecretStore(w, r, "Secret store retrieval", id)
		return ok
	},
	"containers": func(a *API, w http.ResponseWriter, r *http.Request, id string) bool {
		_, ok := a.lookupContainer(w, r, "Container retrieval", id, false)
		return ok
	},
	"transport_keys": func(_ *API, w http.ResponseWriter, r *http.Request, id string) bool {
		return lookupTransportKeyID(w, r, id)
	},
}

// route dispatches to the mux, answering unmatched paths and methods as the reference's pecan app does, in
// Barbican's JSON error shape (the mux's own answers are plain text):
//   - an unknown path is a 404; under /v1/{collection}/{id} the entity is looked up first (entityLookups);
//   - a method the path does not register reaches pecan's default handler of the controller, whose one media
//     type is text/html: 406 when Accept excludes it (Accept: application/json included), otherwise 405 with
//     Allow listing the registered methods;
//   - HEAD is such a method: pecan serves it with no GET handler, so it is refused like any other on the
//     version root and under /v1.
func (a *API) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	// The healthcheck (oslo's own app) and keymanager's own endpoints keep answering HEAD.
	headOnGet := r.Method == http.MethodHead && (pattern == "GET /{$}" || strings.HasPrefix(pattern, "GET /v1"))
	if pattern != "" && !headOnGet {
		stateOf(r).pattern = pattern
		a.mux.ServeHTTP(w, r)
		return
	}
	allow, known := a.allowed(r, h, headOnGet)
	if collection, id, ok := entityPath(r.URL.Path); ok {
		if lookup, found := entityLookups[collection]; found && !lookup(a, w, r, id) {
			return
		}
	}
	switch {
	case !known:
		writeErrorBody(w, r, bareError(http.StatusNotFound))
	case !pecanAccepts(r, "text/html"):
		writeErrorBody(w, r, bareError(http.StatusNotAcceptable))
	default:
		e := bareError(http.StatusMethodNotAllowed)
		e.Allow = allow
		writeErrorBody(w, r, e)
	}
}

// allowed reports whether the request's path is a route for some method, and which methods (sorted, HEAD
// left out: the reference never serves it). h is the mux's handler for the request as it came.
func (a *API) allowed(r *http.Request, h http.Handler, headOnGet bool) (allow string, known bool) {
	if headOnGet {
		// The mux matched HEAD to a GET route; ask it about a method no route has to learn the others.
		probe := *r
		probe.Method = "KEYMANAGER-PROBE"
		h, _ = a.mux.Handler(&probe)
	}
	p := &probeWriter{header: http.Header{}}
	h.ServeHTTP(p, r)
	if p.status != http.StatusMethodNotAllowed {
		return "", false
	}
	var methods []string
	for _, m := range strings.Split(p.header.Get("Allow"), ",") {
		if m = strings.TrimSpace(m); m != "" && m != http.MethodHead {
			methods = append(methods, m)
		}
	}
	slices.Sort(methods)
	return strings.Join(methods, ", "), true
}

// entityPath splits /v1/{collection}/{id}[/…].
func entityPath(path string) (collection, id string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "", "", false
	}
	collection, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	id, _, _ = strings.Cut(rest, "/")
	return collection, id, true
}

// probeWriter captures what the mux would answer for an unmatched request.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.status = code }
