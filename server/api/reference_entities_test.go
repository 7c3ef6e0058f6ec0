package api

import (
	"strings"
	"testing"
)

// TestEntitiesAPIAgainstReference compares containers, their secret references and consumers, secret
// consumers and both kinds of ACLs with the reference Barbican (Debian's 15.0.1, no-auth, on MariaDB), as
// TestSecretsAPIAgainstReference does for secrets: status, compared headers and body, hrefs and ids
// normalised, the differences listed in entityDifferences and nothing else.
func TestEntitiesAPIAgainstReference(t *testing.T) {
	againstReference(t, "entities-", func(r *diffRun) {
		r.run("secrets for the containers", []diffCase{
			{name: "entity secret one", req: diffPost("/v1/secrets/", `{"name": "one"}`), capture: "one"},
			{name: "entity secret two", req: diffPost("/v1/secrets/", `{"name": "two"}`), capture: "two"},
			{name: "entity secret three", req: diffPost("/v1/secrets/", `{"name": "three"}`), capture: "three"},
		})
		r.run("containers", containerDiffCases)
		r.run("container secrets", containerSecretDiffCases)
		r.run("container consumers", containerConsumerDiffCases)
		r.run("secret consumers", secretConsumerDiffCases)
		r.run("ACLs", append(aclDiffCases("secrets", "one"), aclDiffCases("containers", "generic")...))
		r.run("deleting containers", []diffCase{
			{name: "delete a container", req: diffReq("DELETE", "/v1/containers/{rsa}")},
			{name: "get a deleted container", req: diffGet("/v1/containers/{rsa}")},
			{name: "delete a deleted container", req: diffReq("DELETE", "/v1/containers/{rsa}")},
			{name: "the secrets stay", req: diffGet("/v1/secrets/{two}")},
		})
	})
}

// diffRef is a secret_ref of a container body: the captured secret on each server.
func diffRef(name, secret string) string {
	if name == "" {
		return `{"secret_ref": "{base}/v1/secrets/{` + secret + `}"}`
	}
	return `{"name": ` + name + `, "secret_ref": "{base}/v1/secrets/{` + secret + `}"}`
}

func diffRefs(typ string, items ...string) string {
	return `{"type": "` + typ + `", "name": "` + typ + `", "secret_refs": [` + strings.Join(items, ", ") + `]}`
}

var containerDiffCases = []diffCase{
	{name: "create a generic container", req: diffPost("/v1/containers/", diffRefs("generic", diffRef(`"a"`, "one"),
		diffRef(`"b"`, "two"), diffRef("", "three"))), capture: "generic"},
	{name: "create an rsa container", req: diffPost("/v1/containers", diffRefs("rsa", diffRef(`"public_key"`, "one"),
		diffRef(`"private_key"`, "two"))), capture: "rsa"},
	{name: "create an empty certificate container", req: diffPost("/v1/containers", `{"type": "certificate"}`),
		capture: "certificate"},
	{name: "create an empty generic container", req: diffPost("/v1/containers", `{"type": "generic", "name": "spare"}`),
		capture: "spare"},
	{name: "get a generic container", req: diffGet("/v1/containers/{generic}"), unordered: true},
	{name: "get an rsa container", req: diffGet("/v1/containers/{rsa}/"), unordered: true},
	{name: "list containers by type", req: diffGet("/v1/containers?type=rsa"), unordered: true},
	{name: "list containers by name", req: diffGet("/v1/containers?name=cert%25"), unordered: true},
	{name: "list containers past the end", req: diffGet("/v1/containers?offset=10")},
	{name: "container without type", req: diffPost("/v1/containers", `{"name": 5}`)},
	{name: "container body not an object", req: diffPost("/v1/containers", `[]`)},
	{name: "container of an unknown type", req: diffPost("/v1/containers", `{"type": "dsa"}`)},
	{name: "container with a long name", req: diffPost("/v1/containers", `{"type": "generic", "name": "`+
		strings.Repeat("n", 256)+`"}`)},
	{name: "container reference without secret_ref", req: diffPost("/v1/containers",
		`{"type": "generic", "secret_refs": [{"name": "x"}]}`)},
	{name: "container with two unnamed references", req: diffPost("/v1/containers", diffRefs("generic", diffRef("", "one"),
		diffRef("", "two")))},
	{name: "container with a secret twice", req: diffPost("/v1/containers", diffRefs("generic", diffRef(`"a"`, "one"),
		`{"name": "b", "secret_ref": "{base}/v1/secrets/{one}/"}`))},
	{name: "container referencing another host", req: diffPost("/v1/containers",
		`{"type": "generic", "secret_refs": [{"name": "a", "secret_ref": "http://elsewhere/v1/secrets/x"}]}`)},
	{name: "rsa container with a foreign name", req: diffPost("/v1/containers", diffRefs("rsa", diffRef(`"public_key"`, "one"),
		diffRef(`"private_key"`, "two"), diffRef(`"x"`, "three")))},
	{name: "rsa container without its private key", req: diffPost("/v1/containers", diffRefs("rsa",
		diffRef(`"public_key"`, "one")))},
	{name: "certificate container without certificate", req: diffPost("/v1/containers", diffRefs("certificate",
		diffRef(`"intermediates"`, "one")))},
	{name: "container referencing an unknown secret", req: diffPost("/v1/containers",
		`{"type": "generic", "secret_refs": [{"name": "x", "secret_ref": "{base}/v1/secrets/`+missingID+`"}]}`)},
	{name: "container with malformed JSON", req: diffPost("/v1/containers", `{"type": `)},
	{name: "container as text/plain", req: diffRaw("POST", "/v1/containers", `{}`, "Content-Type", "text/plain")},
	{name: "get a container as text/plain", req: diffGet("/v1/containers/{generic}", "Accept", "text/plain")},
	{name: "get an unknown container", req: diffGet("/v1/containers/" + missingID)},
	{name: "get a container by a bad id", req: diffGet("/v1/containers/not-a-uuid")},
	{name: "get an unknown container sub-resource", req: diffGet("/v1/containers/{generic}/bogus")},
	{name: "PUT a container", req: diffPut("/v1/containers/{generic}", `{}`)},
	{name: "get another project's container", req: diffGet("/v1/containers/{generic}", "X-Project-Id", "entities-other")},
}

var containerSecretDiffCases = []diffCase{
	{name: "add a secret to a container", req: diffPost("/v1/containers/{certificate}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`)},
	{name: "add a secret to a generic container", req: diffPost("/v1/containers/{generic}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`)},
	{name: "add the same secret under the same name", req: diffPost("/v1/containers/{generic}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`)},
	{name: "add an unknown secret", req: diffPost("/v1/containers/{generic}/secrets",
		`{"name": "d", "secret_ref": "{base}/v1/secrets/`+missingID+`"}`)},
	{name: "add a secret without secret_ref", req: diffPost("/v1/containers/{generic}/secrets", `{}`)},
	{name: "the container with its new secret", req: diffGet("/v1/containers/{generic}"), unordered: true},
	{name: "remove a secret from a container", req: diffJSON("DELETE", "/v1/containers/{generic}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`, nil)},
	{name: "remove it again", req: diffJSON("DELETE", "/v1/containers/{generic}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`, nil)},
	{name: "remove an unknown secret", req: diffJSON("DELETE", "/v1/containers/{generic}/secrets",
		`{"name": "z", "secret_ref": "{base}/v1/secrets/`+missingID+`"}`, nil)},
	// On a container of its own: the reference fails here, and the other cases go on with the same containers.
	{name: "add a secret to the spare container", req: diffPost("/v1/containers/{spare}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`)},
	{name: "remove it from the spare container", req: diffJSON("DELETE", "/v1/containers/{spare}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`, nil)},
	{name: "add a removed secret again", req: diffPost("/v1/containers/{spare}/secrets",
		`{"name": "c", "secret_ref": "{base}/v1/secrets/{three}"}`)},
	{name: "add a secret by its bare id", req: diffPost("/v1/containers/{spare}/secrets",
		`{"name": "bare", "secret_ref": "{three}"}`)},
}

var containerConsumerDiffCases = []diffCase{
	{name: "register a container consumer", req: diffPost("/v1/containers/{generic}/consumers",
		`{"name": "lb", "URL": "http://lb"}`), unordered: true},
	{name: "register it again", req: diffPost("/v1/containers/{generic}/consumers",
		`{"name": "lb", "URL": "http://lb"}`), unordered: true},
	{name: "register another container consumer", req: diffPost("/v1/containers/{generic}/consumers",
		`{"name": "api", "URL": "http://api"}`), unordered: true},
	{name: "list container consumers", req: diffGet("/v1/containers/{generic}/consumers")},
	{name: "list container consumers by page", req: diffGet("/v1/containers/{generic}/consumers?limit=1&offset=1")},
	{name: "remove a container consumer", req: diffJSON("DELETE", "/v1/containers/{generic}/consumers",
		`{"name": "lb", "URL": "http://lb"}`, nil), unordered: true},
	{name: "remove it again", req: diffJSON("DELETE", "/v1/containers/{generic}/consumers",
		`{"name": "lb", "URL": "http://lb"}`, nil)},
	{name: "container consumer without URL", req: diffPost("/v1/containers/{generic}/consumers", `{"name": "x"}`)},
	{name: "container consumer with a blank name", req: diffPost("/v1/containers/{generic}/consumers",
		`{"name": " ", "URL": "u"}`)},
	{name: "container consumer with a bad id", req: diffGet("/v1/containers/{generic}/consumers/not-a-uuid")},
	{name: "unknown container consumer", req: diffGet("/v1/containers/{generic}/consumers/" + missingID)},
}

var secretConsumerDiffCases = []diffCase{
	{name: "register a secret consumer", req: diffPost("/v1/secrets/{two}/consumers",
		`{"service": "image", "resource_type": "image", "resource_id": "r1"}`)},
	{name: "register it again", req: diffPost("/v1/secrets/{two}/consumers",
		`{"service": "image", "resource_type": "image", "resource_id": "r1"}`)},
	{name: "list secret consumers", req: diffGet("/v1/secrets/{two}/consumers")},
	{name: "get the secret at microversion 1.1", req: diffGet("/v1/secrets/{two}", "OpenStack-API-Version", "key-manager 1.1")},
	{name: "get the secret at microversion 1.0", req: diffGet("/v1/secrets/{two}")},
	{name: "remove a secret consumer", req: diffJSON("DELETE", "/v1/secrets/{two}/consumers",
		`{"service": "image", "resource_type": "image", "resource_id": "r1"}`, nil)},
	{name: "remove it again", req: diffJSON("DELETE", "/v1/secrets/{two}/consumers",
		`{"service": "image", "resource_type": "image", "resource_id": "r1"}`, nil)},
	{name: "secret consumer with a resource id longer than its column", req: diffPost("/v1/secrets/{two}/consumers",
		`{"service": "image", "resource_type": "image", "resource_id": "0123456789012345678901234567890123456"}`)},
	{name: "secret consumer without resource_id", req: diffPost("/v1/secrets/{two}/consumers",
		`{"service": "image", "resource_type": "image"}`)},
	{name: "secret consumer as text/plain", req: diffRaw("POST", "/v1/secrets/{two}/consumers", `{}`,
		"Content-Type", "text/plain")},
}

// aclDiffCases exercise the ACL of the entity captured under name in collection.
func aclDiffCases(collection, name string) []diffCase {
	p := "/v1/" + collection + "/{" + name + "}/acl"
	c := func(what string, req diffCase) diffCase {
		req.name = collection + ": " + what
		return req
	}
	return []diffCase{
		c("the implicit ACL", diffCase{req: diffGet(p)}),
		c("PUT an ACL", diffCase{req: diffPut(p, `{"read": {"users": ["b", "a", "a"], "project-access": false}}`)}),
		c("the ACL", diffCase{req: diffGet(p), unordered: true}),
		c("PATCH the users", diffCase{req: diffJSON("PATCH", p, `{"read": {"users": ["c"]}}`, nil)}),
		c("the patched ACL", diffCase{req: diffGet(p)}),
		c("PATCH with an empty read", diffCase{req: diffJSON("PATCH", p, `{"read": {}}`, nil)}),
		c("PUT without project-access", diffCase{req: diffPut(p, `{"read": {"users": ["x"]}}`)}),
		c("the replaced ACL", diffCase{req: diffGet(p)}),
		c("PUT an empty read", diffCase{req: diffPut(p, `{"read": {}}`)}),
		c("the ACL after an empty read", diffCase{req: diffGet(p)}),
		c("PUT another operation", diffCase{req: diffPut(p, `{"write": {}}`)}),
		c("PUT users that are not a list", diffCase{req: diffPut(p, `{"read": {"users": "x"}}`)}),
		c("PUT a user that is not a string", diffCase{req: diffPut(p, `{"read": {"users": [1]}}`)}),
		c("PUT a second user that is not a string", diffCase{req: diffPut(p, `{"read": {"users": ["a", {"b": 2}]}}`)}),
		c("PUT project-access that is not a boolean", diffCase{req: diffPut(p, `{"read": {"project-access": "yes"}}`)}),
		c("PUT an unknown key", diffCase{req: diffPut(p, `{"read": {"foo": 1}}`)}),
		c("PUT as text/plain", diffCase{req: diffRaw("PUT", p, `{}`, "Content-Type", "text/plain")}),
		c("PATCH to create", diffCase{req: diffJSON("PATCH", p, `{"read": {"project-access": false}}`, nil)}),
		c("DELETE the ACL", diffCase{req: diffReq("DELETE", p)}),
		c("DELETE it again", diffCase{req: diffReq("DELETE", p)}),
		c("the ACL after DELETE", diffCase{req: diffGet(p)}),
		c("POST to the ACL", diffCase{req: diffPost(p, `{}`)}),
		c("another project's ACL", diffCase{req: diffGet(p, "X-Project-Id", "entities-other")}),
	}
}

// Why an entity case differs.
const (
	diffSubResource500  = "an unknown sub-resource of a container: the reference fails with 500 (its controller has no such route), keymanager answers 404"
	diffReAdd500        = "adding a secret reference removed earlier: the reference trips the unique constraint, which still holds the removed row, and fails with 500; keymanager restores the row"
	diffBareID500       = "a container secret_ref without a slash: the reference fails with 500 (IndexError); keymanager takes it as the secret id"
	diffResourceID500   = "a consumer resource_id longer than its 36-character column: the reference fails in the database with 500; keymanager answers 400 as jsonschema would for a maxLength"
	diffACLUser500      = "an ACL user after the first that is not a string: the reference type-checks only the first (tuple-form items) and fails with 500; keymanager answers 400"
	diffUpdatedFraction = "a registration that bumps the parent's updated_at: the reference answers with the time it holds in memory, microseconds included, which MariaDB then truncates (a GET shows whole seconds); keymanager answers what it stored"
)

// entityDifferences are the expected differences of TestEntitiesAPIAgainstReference.
var entityDifferences = map[string]expectation{
	"get an unknown container sub-resource":                     {"status": diffSubResource500, "body": diffSubResource500},
	"add a removed secret again":                                {"status": diffReAdd500, "Location": diffReAdd500, "body": diffReAdd500},
	"add a secret by its bare id":                               {"status": diffBareID500, "Location": diffBareID500, "body": diffBareID500},
	"secret consumer with a resource id longer than its column": {"status": diffResourceID500, "body": diffResourceID500},
	"secrets: PUT a second user that is not a string":           {"status": diffACLUser500, "body": diffACLUser500},
	"containers: PUT a second user that is not a string":        {"status": diffACLUser500, "body": diffACLUser500},
}

// entityMariaDBDifferences are expected differences on MariaDB only (SQLite keeps microseconds, and the
// comparison of SQLite answers ignores them).
var entityMariaDBDifferences = map[string]expectation{
	"register a container consumer":       {"body": diffUpdatedFraction},
	"register another container consumer": {"body": diffUpdatedFraction},
	"register a secret consumer":          {"body": diffUpdatedFraction},
}
