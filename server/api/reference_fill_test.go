package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// refFiller writes data through the reference Barbican's HTTP API, nothing else, and remembers what it wrote
// so that a comparison can ask for all of it.
type refFiller struct {
	t    *testing.T
	base string
	// lastAnswer is when the last write was answered, for waiting until the next second (nextSecond).
	lastAnswer time.Time

	secrets    []*refEntity
	containers []*refEntity
	orders     []*refEntity
}

// refEntity is one secret, container or order the reference stored.
type refEntity struct {
	name  string // the test's name for it
	id    string
	owner as // who created it, and asks for it in the comparison
	// contentType is a secret's payload content type, the Accept its payload is read with; "" for a secret
	// without payload.
	contentType string
	metadata    []string // a secret's user metadata keys
	consumers   int      // how many consumers were registered through the API
	gone        bool     // deleted, or expired: every GET of it is a 404
}

// The identities of the comparison (no-auth headers). Barbican's legacy policy gives admin, creator, observer and
// audit their meanings within a project; key-manager:service-admin manages quotas and transport keys.
var (
	alphaAdmin    = as{project: "takeover-alpha", user: "alpha-admin", roles: "admin"}
	alphaCreator  = as{project: "takeover-alpha", user: "alpha-creator", roles: "creator"}
	alphaObserver = as{project: "takeover-alpha", user: "alpha-observer", roles: "observer"}
	alphaAuditor  = as{project: "takeover-alpha", user: "alpha-auditor", roles: "audit"}
	betaCreator   = as{project: "takeover-beta", user: "beta-creator", roles: "creator"}
	betaAdmin     = as{project: "takeover-beta", user: "beta-admin", roles: "admin"}
	pagesAdmin    = as{project: "takeover-pages", user: "pages-admin", roles: "admin"}
	serviceAdmin  = as{project: "takeover-cloud", user: "cloud-admin", roles: "key-manager:service-admin"}
	// alphaObserverAsCreator writes under the observer's user id: a creator_id other than the usual writers'.
	alphaObserverAsCreator = as{project: alphaAdmin.project, user: alphaObserver.user, roles: "creator"}
)

func (w as) headers() map[string]string {
	return map[string]string{"X-Project-Id": w.project, "X-User-Id": w.user, "X-Roles": w.roles}
}

// get is a GET as w, with extra header name/value pairs.
func (w as) get(path string, header ...string) testbed.DiffRequest {
	return diffGet(path, append([]string{"X-Project-Id", w.project, "X-User-Id", w.user, "X-Roles", w.roles}, header...)...)
}

// do sends one request as who, JSON unless header says otherwise, and fails the test unless the reference
// answers want.
func (f *refFiller) do(who as, method, path, body string, want int, header ...string) []byte {
	f.t.Helper()
	h := who.headers()
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	for k, v := range diffHeader(header) {
		h[k] = v
	}
	out := refRequest(f.t, method, f.base+path, body, want, h)
	f.lastAnswer = time.Now()
	return out
}

// nextSecond waits until whatever the reference writes next gets a later created_at than what it wrote last:
// MariaDB keeps whole seconds, and lists ordered by created_at (orders, containers, consumers, project quotas,
// secrets with sort=created) put rows of the same second in an order neither server defines. Two seconds after
// the last answer's whole second is past both a truncated and a rounded fraction. Both servers share this
// machine's clock; the wait decides nothing.
func (f *refFiller) nextSecond() {
	time.Sleep(time.Until(f.lastAnswer.Truncate(time.Second).Add(2 * time.Second)))
}

// create POSTs body to a collection and returns the id of the href the answer names in refField.
func (f *refFiller) create(who as, collection, body string, want int, refField string) string {
	f.t.Helper()
	var created map[string]any
	mustJSON(f.t, f.do(who, "POST", "/v1/"+collection, body, want), &created)
	ref, ok := created[refField].(string)
	if !ok {
		f.t.Fatalf("creating in %s: no %s in the reference's answer %v", collection, refField, created)
	}
	return lastSegment(ref)
}

// secret creates a secret and reads back its payload's content type.
func (f *refFiller) secret(name string, who as, body string) *refEntity {
	f.t.Helper()
	return f.addSecret(name, who, f.create(who, "secrets", body, http.StatusCreated, "secret_ref"))
}

// addSecret registers a secret the reference created, with its content type as the reference reports it.
func (f *refFiller) addSecret(name string, who as, id string) *refEntity {
	f.t.Helper()
	e := &refEntity{name: name, id: id, owner: who}
	f.secrets = append(f.secrets, e)
	f.readContentType(e)
	return e
}

// readContentType asks the reference for a secret's payload content type: Barbican normalises what it was given
// (text/plain; charset=utf-8 becomes text/plain) and chooses one for the secrets it generates.
func (f *refFiller) readContentType(e *refEntity) {
	f.t.Helper()
	var doc struct {
		ContentTypes map[string]string `json:"content_types"`
	}
	mustJSON(f.t, refRequest(f.t, "GET", f.base+"/v1/secrets/"+e.id, "", http.StatusOK, e.owner.headers()), &doc)
	e.contentType = doc.ContentTypes["default"]
}

func (f *refFiller) container(name string, who as, body string) *refEntity {
	f.t.Helper()
	e := &refEntity{name: name, id: f.create(who, "containers", body, http.StatusCreated, "container_ref"), owner: who}
	f.containers = append(f.containers, e)
	return e
}

// order places an order, which the reference processes inside the request ([queue] enable = False), and
// registers the secrets and container it generated.
func (f *refFiller) order(name string, who as, body, wantStatus string) *refEntity {
	f.t.Helper()
	e := &refEntity{name: name, id: f.create(who, "orders", body, http.StatusAccepted, "order_ref"), owner: who}
	f.orders = append(f.orders, e)
	var doc struct {
		Status       string `json:"status"`
		SecretRef    string `json:"secret_ref"`
		ContainerRef string `json:"container_ref"`
	}
	mustJSON(f.t, refRequest(f.t, "GET", f.base+"/v1/orders/"+e.id, "", http.StatusOK, who.headers()), &doc)
	if doc.Status != wantStatus {
		f.t.Fatalf("the reference processes orders in the request: order %s should be %s at once, is %s", name,
			wantStatus, doc.Status)
	}
	if doc.SecretRef != "" {
		f.addSecret(name+": key", who, lastSegment(doc.SecretRef))
	}
	if doc.ContainerRef != "" {
		c := &refEntity{name: name + ": container", id: lastSegment(doc.ContainerRef), owner: who}
		f.containers = append(f.containers, c)
		var container struct {
			SecretRefs []struct {
				Name      string `json:"name"`
				SecretRef string `json:"secret_ref"`
			} `json:"secret_refs"`
		}
		mustJSON(f.t, refRequest(f.t, "GET", doc.ContainerRef, "", http.StatusOK, who.headers()), &container)
		for _, r := range container.SecretRefs {
			f.addSecret(name+": "+r.Name, who, lastSegment(r.SecretRef))
		}
	}
	return e
}

// secretRefs is a container's secret_refs: name/secret pairs ("" for no name).
func (f *refFiller) secretRefs(pairs ...any) string {
	items := make([]string, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		name, _ := pairs[i].(string)
		e, _ := pairs[i+1].(*refEntity)
		ref := fmt.Sprintf(`"secret_ref": %q`, f.base+"/v1/secrets/"+e.id)
		if name != "" {
			ref = fmt.Sprintf(`"name": %q, %s`, name, ref)
		}
		items = append(items, "{"+ref+"}")
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func (f *refFiller) putMetadata(e *refEntity, body string, keys ...string) {
	f.t.Helper()
	f.do(e.owner, "PUT", "/v1/secrets/"+e.id+"/metadata", body, http.StatusCreated)
	e.metadata = append(e.metadata, keys...)
}

func (f *refFiller) addMetadatum(e *refEntity, key, value string) {
	f.t.Helper()
	f.do(e.owner, "POST", "/v1/secrets/"+e.id+"/metadata", fmt.Sprintf(`{"key": %q, "value": %q}`, key, value),
		http.StatusCreated)
	e.metadata = append(e.metadata, key)
}

// consumer registers a consumer of a secret or a container (collection "secrets" or "containers").
func (f *refFiller) consumer(collection string, e *refEntity, body string) {
	f.t.Helper()
	f.do(e.owner, "POST", "/v1/"+collection+"/"+e.id+"/consumers", body, http.StatusOK)
	e.consumers++
}

func (f *refFiller) acl(collection string, e *refEntity, body string) {
	f.t.Helper()
	f.do(e.owner, "PUT", "/v1/"+collection+"/"+e.id+"/acl", body, http.StatusOK)
}

func (f *refFiller) delete(collection string, e *refEntity) {
	f.t.Helper()
	f.do(e.owner, "DELETE", "/v1/"+collection+"/"+e.id, "", http.StatusNoContent)
	e.gone = true
}

// Payloads: neither server parses them, so these only need the shape of what their types hold.
var (
	fillBinary      = base64.StdEncoding.EncodeToString([]byte("\x00\x01\x02 binary key \xfd\xfe\xff 32 bytes long!"))
	fillPKCS8       = base64.StdEncoding.EncodeToString([]byte("\x30\x82\x01\x54\x02\x01\x00\x30\x0d\x06\x09 a pkcs8 key"))
	fillPublicPEM   = base64.StdEncoding.EncodeToString([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"))
	fillCertificate = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIBLDCB3w==\n-----END CERTIFICATE-----\n"))
	fillOpaque      = base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef})
)

// expiresSoon is how far ahead the secret meant to expire during the fill expires: long enough for its create
// to reach the reference, which refuses an expiration in the past.
const expiresSoon = 5 * time.Second

// fill writes every kind of resource the API has, in three projects and as different users and roles.
func (f *refFiller) fill() {
	f.t.Helper()
	// Secrets of every type and content type.
	text := f.secret("text", alphaCreator, `{"name": "text", "payload": "written by the reference",
		"payload_content_type": "text/plain", "secret_type": "passphrase", "expiration": "2031-01-01T00:00:00"}`)
	f.secret("charset", alphaAdmin, `{"name": "charset", "payload": "  héllo ☃  ",
		"payload_content_type": "text/plain; charset=utf-8", "algorithm": "AES", "secret_type": "opaque"}`)
	binary := f.secret("binary", alphaAdmin, `{"name": "binary", "payload": "`+fillBinary+`",
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64",
		"secret_type": "symmetric", "algorithm": "aes", "bit_length": 256, "mode": "cbc"}`)
	pkcs8 := f.secret("pkcs8", alphaAdmin, `{"name": "pkcs8", "payload": "`+fillPKCS8+`",
		"payload_content_type": "application/pkcs8", "payload_content_encoding": "base64",
		"secret_type": "private", "algorithm": "rsa", "bit_length": 2048}`)
	public := f.secret("public", alphaAdmin, `{"name": "public", "payload": "`+fillPublicPEM+`",
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64",
		"secret_type": "public", "algorithm": "rsa", "bit_length": 2048}`)
	certificate := f.secret("certificate", alphaAdmin, `{"name": "certificate", "payload": "`+fillCertificate+`",
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64",
		"secret_type": "certificate"}`)
	opaque := f.secret("opaque", alphaCreator, `{"name": "opaque", "payload": "`+fillOpaque+`",
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64", "secret_type": "opaque"}`)
	f.secret("metadata only", alphaCreator, `{"name": "metadata only", "secret_type": "symmetric", "algorithm": "aes",
		"bit_length": 128, "mode": "ctr"}`)
	f.secret("empty object", alphaObserverAsCreator, `{}`)
	twoStep := f.secret("two-step text", alphaCreator, `{"name": "two-step text"}`)
	f.do(alphaCreator, "PUT", "/v1/secrets/"+twoStep.id, "uploaded in a second step", http.StatusNoContent,
		"Content-Type", "text/plain")
	f.readContentType(twoStep)
	twoStepBinary := f.secret("two-step binary", alphaAdmin, `{"name": "two-step binary", "secret_type": "symmetric"}`)
	f.do(alphaAdmin, "PUT", "/v1/secrets/"+twoStepBinary.id, fillBinary, http.StatusNoContent,
		"Content-Type", "application/octet-stream", "Content-Encoding", "base64")
	f.readContentType(twoStepBinary)

	// User metadata, ACLs and consumers of secrets.
	withMetadata := f.secret("user metadata", alphaCreator, `{"name": "user metadata", "payload": "m",
		"payload_content_type": "text/plain"}`)
	f.putMetadata(withMetadata, `{"metadata": {"env": "prod", "team": "blue"}}`, "env", "team")
	f.addMetadatum(withMetadata, "owner", "alice")
	private := f.secret("private", alphaCreator, `{"name": "private", "payload": "for some eyes only",
		"payload_content_type": "text/plain"}`)
	f.acl("secrets", private, `{"read": {"users": ["beta-creator", "acl-reader"], "project-access": false}}`)
	f.acl("secrets", binary, `{"read": {"users": ["acl-reader"]}}`)
	f.consumer("secrets", opaque, `{"service": "image", "resource_type": "image", "resource_id": "img-1"}`)
	f.consumer("secrets", opaque, `{"service": "volume", "resource_type": "volume", "resource_id": "vol-1"}`)
	deleted := f.secret("deleted", alphaAdmin, `{"name": "deleted", "payload": "gone", "payload_content_type": "text/plain"}`)
	f.putMetadata(deleted, `{"metadata": {"k": "v"}}`, "k")
	f.delete("secrets", deleted)
	expiring := f.secret("expired", alphaAdmin, fmt.Sprintf(`{"name": "expired", "payload": "soon gone",
		"payload_content_type": "text/plain", "expiration": %q}`,
		time.Now().UTC().Add(expiresSoon).Format("2006-01-02T15:04:05")))

	// Containers of every type, with their consumers and ACLs.
	generic := f.container("generic", alphaCreator, `{"type": "generic", "name": "generic", "secret_refs": `+
		f.secretRefs("a", text, "b", opaque, "", twoStep)+`}`)
	rsa := f.container("rsa", alphaAdmin, `{"type": "rsa", "name": "rsa", "secret_refs": `+
		f.secretRefs("public_key", public, "private_key", pkcs8, "private_key_passphrase", text)+`}`)
	f.container("certificate", alphaAdmin, `{"type": "certificate", "name": "certificate", "secret_refs": `+
		f.secretRefs("certificate", certificate, "private_key", pkcs8, "private_key_passphrase", text,
			"intermediates", public)+`}`)
	f.container("empty", alphaCreator, `{"type": "generic"}`)
	f.consumer("containers", generic, `{"name": "lb-2", "URL": "http://lb/2"}`)
	f.consumer("containers", generic, `{"name": "lb-1", "URL": "http://lb/1"}`)
	f.acl("containers", rsa, `{"read": {"users": ["beta-creator"], "project-access": false}}`)
	f.acl("containers", generic, `{"read": {"users": ["acl-reader", "alpha-observer"]}}`)
	doomed := f.container("deleted container", alphaAdmin, `{"type": "generic", "name": "doomed", "secret_refs": `+
		f.secretRefs("x", binary)+`}`)
	f.delete("containers", doomed)

	// Orders: a key, RSA key pairs with and without passphrase (their secrets and containers), one that fails
	// in processing (simple_crypto generates no Blowfish keys), one deleted.
	f.order("key order", alphaCreator, `{"type": "key", "meta": {"name": "generated", "algorithm": "aes",
		"bit_length": 256, "mode": "cbc", "payload_content_type": "application/octet-stream"}}`, "ACTIVE")
	f.order("rsa order", alphaAdmin, `{"type": "asymmetric", "meta": {"name": "rsa pair", "algorithm": "rsa",
		"bit_length": 2048}}`, "ACTIVE")
	f.order("failed order", alphaAdmin, `{"type": "key", "meta": {"name": "unsupported", "algorithm": "blowfish",
		"bit_length": 128, "mode": "cbc"}}`, "ERROR")
	// Named: its key stays, and a second unnamed secret would tie with "empty object" in lists sorted by name.
	doomedOrder := f.order("deleted order", alphaAdmin, `{"type": "key", "meta": {"name": "orphan", "algorithm": "aes",
		"bit_length": 128}}`, "ACTIVE")
	f.delete("orders", doomedOrder)

	// A second project: secrets of another creator, one private, an RSA order with a passphrase.
	f.secret("beta text", betaCreator, `{"name": "beta text", "payload": "beta", "payload_content_type": "text/plain"}`)
	betaPrivate := f.secret("beta private", betaCreator, `{"name": "beta private", "payload": "beta only",
		"payload_content_type": "text/plain"}`)
	f.acl("secrets", betaPrivate, `{"read": {"project-access": false}}`)
	f.order("rsa order with passphrase", betaAdmin, `{"type": "asymmetric", "meta": {"name": "protected pair",
		"algorithm": "rsa", "bit_length": 2048, "passphrase": "pass phrase"}}`, "ACTIVE")

	f.fillPages()

	// Quotas of two projects, in seconds of their own: the list is ordered by created_at.
	f.do(serviceAdmin, "PUT", "/v1/project-quotas/"+alphaAdmin.project, `{"project_quotas": {"secrets": 500,
		"orders": 100, "containers": 200, "consumers": 300, "cas": 5}}`, http.StatusNoContent)
	f.nextSecond()
	f.do(serviceAdmin, "PUT", "/v1/project-quotas/"+betaAdmin.project, `{"project_quotas": {"secrets": 50}}`,
		http.StatusNoContent)
	f.nextSecond()
	f.do(serviceAdmin, "PUT", "/v1/project-quotas/"+pagesAdmin.project, `{"project_quotas": {"orders": 0,
		"consumers": -1}}`, http.StatusNoContent)
	f.do(serviceAdmin, "POST", "/v1/transport_keys", `{"plugin_name": "dogtag",
		"transport_key": "-----BEGIN CERTIFICATE-----\nMIIBLDCB3w==\n-----END CERTIFICATE-----\n"}`, http.StatusCreated)

	f.waitExpired(expiring)
}

// fillPages writes, in a project of its own, secrets, containers, orders and consumers each in a second of its
// own, so that pages of lists ordered by creation time hold the same rows on both servers.
func (f *refFiller) fillPages() {
	f.t.Helper()
	first := f.secret("page c", pagesAdmin, `{"name": "page c", "payload": "c", "payload_content_type": "text/plain"}`)
	f.container("page container 1", pagesAdmin, `{"type": "generic", "name": "page container 1"}`)
	f.consumer("secrets", first, `{"service": "image", "resource_type": "image", "resource_id": "page-1"}`)
	f.nextSecond()
	f.secret("page a", pagesAdmin, `{"name": "page a"}`)
	f.container("page container 2", pagesAdmin, `{"type": "generic", "name": "page container 2"}`)
	f.consumer("secrets", first, `{"service": "image", "resource_type": "image", "resource_id": "page-2"}`)
	f.nextSecond()
	f.order("page order 1", pagesAdmin, `{"type": "key", "meta": {"name": "page b", "algorithm": "aes",
		"bit_length": 128}}`, "ACTIVE")
	f.nextSecond()
	f.order("page order 2", pagesAdmin, `{"type": "key", "meta": {"name": "page e", "algorithm": "aes",
		"bit_length": 192}}`, "ACTIVE")
	f.container("page container 3", pagesAdmin, `{"type": "certificate", "name": "page container 3"}`)
	f.consumer("secrets", first, `{"service": "volume", "resource_type": "volume", "resource_id": "page-3"}`)
	f.nextSecond()
	f.secret("page d", pagesAdmin, `{"name": "page d"}`)
}

// waitExpired waits until the reference treats the secret as expired, polling with a generous deadline.
func (f *refFiller) waitExpired(e *refEntity) {
	f.t.Helper()
	const deadline = 2 * time.Minute
	ref := &testbed.Differential{Reference: testbed.Target{URL: f.base}}
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		status := ref.Record(f.t, e.owner.get("/v1/secrets/"+e.id)).Status
		if status == http.StatusNotFound {
			e.gone = true
			return
		}
		if status != http.StatusOK || time.Since(start) > deadline {
			f.t.Fatalf("secret %s should expire %s after its creation; after %s the reference still answers %d",
				e.name, expiresSoon, time.Since(start).Round(time.Second), status)
		}
	}
}
