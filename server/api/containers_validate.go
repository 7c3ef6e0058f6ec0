package api

import (
	"net/http"
	"strings"

	"github.com/keymanager-io/keymanager/server/store"
)

// containerSchema is the reference's ContainerValidator schema.
var containerSchema = objectSchema{
	name: "Container",
	properties: []property{
		{name: "name", types: []string{"string", "null"}, maxLength: 255},
		{name: "type", types: []string{"string"}, enum: []string{store.ContainerGeneric, store.ContainerRSA,
			store.ContainerCertificate}},
		{name: "secret_refs", types: []string{"array"}, items: &property{types: []string{"object"}, object: &objectSchema{
			properties: []property{
				{name: "name", types: []string{"string", "null"}, maxLength: 255},
				{name: "secret_ref", types: []string{"string"}, minLength: 1},
			},
			required: []string{"secret_ref"},
		}}},
	},
	required: []string{"type"},
}

// containerSecretSchema is the reference's ContainerSecretValidator schema (POST and DELETE
// /v1/containers/{id}/secrets).
var containerSecretSchema = objectSchema{
	name: "ContainerSecret",
	properties: []property{
		{name: "name", types: []string{"string"}, maxLength: 255},
		{name: "secret_ref", types: []string{"string"}, minLength: 1},
	},
	required: []string{"secret_ref"},
}

// The names a typed container's references must (required) and may (allowed) have.
var (
	rsaRequired         = []string{"public_key", "private_key"}
	rsaAllowed          = []string{"public_key", "private_key", "private_key_passphrase"}
	certificateRequired = []string{"certificate"}
	certificateAllowed  = []string{"certificate", "private_key", "private_key_passphrase", "intermediates"}
)

// newContainer is a validated container-create request.
type newContainer struct {
	name *string
	typ  string
	refs []newContainerRef
}

// newContainerRef is one secret reference of a new container. name is nil when the request gave none or null.
type newContainerRef struct {
	name     *string
	ref      string
	secretID string
}

// refNameKey is how the reference tells reference names apart: an absent name counts as "" and a null one as
// None, so one unnamed and one null-named reference are not duplicates, but two unnamed ones are.
type refNameKey struct {
	null bool
	name string
}

// validateNewContainer applies the schema, then the reference's checks in its order: duplicate names, duplicate
// secret ids, the href base of every secret_ref, then the names a typed container needs.
func (a *API) validateNewContainer(r *http.Request, body any) (*newContainer, *Error) {
	obj, e := containerSchema.validate(body)
	if e != nil {
		return nil, e
	}
	nc := &newContainer{typ: obj["type"].(string)}
	if name, ok := obj["name"].(string); ok {
		nc.name = &name
	}
	items, _ := obj["secret_refs"].([]any)
	if len(items) == 0 {
		// The reference checks nothing else then: an rsa or certificate container without references is fine.
		return nc, nil
	}
	names := map[refNameKey]bool{}
	ids := map[string]bool{}
	for _, item := range items {
		m := item.(map[string]any)
		ref := newContainerRef{ref: m["secret_ref"].(string)}
		key := refNameKey{}
		switch name := m["name"].(type) {
		case string:
			key.name, ref.name = name, &name
		case nil:
			_, key.null = m["name"]
		}
		names[key] = true
		ref.secretID = secretIDOfContainerRef(ref.ref)
		ids[ref.secretID] = true
		nc.refs = append(nc.refs, ref)
	}
	if len(names) != len(nc.refs) {
		return nil, invalidObject(containerSchema.name, "Duplicate reference names are not allowed", "secret_refs")
	}
	if len(ids) != len(nc.refs) {
		return nil, invalidObject(containerSchema.name, "Duplicate secret ids are not allowed", "secret_refs")
	}
	// No spoofing: a reference must point at this server as its hrefs name it.
	base := a.baseHref(r)
	for _, ref := range nc.refs {
		if !strings.HasPrefix(ref.ref, base) {
			return nil, newError(http.StatusBadRequest, "Provided field value is not supported")
		}
	}
	switch nc.typ {
	case store.ContainerRSA:
		return nc, checkRefNames(names, rsaRequired, rsaAllowed,
			"only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
			"The minimum required reference names are 'public_key' and'private_key' for RSA type")
	case store.ContainerCertificate:
		return nc, checkRefNames(names, certificateRequired, certificateAllowed,
			"only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are "+
				"allowed for Certificate type",
			"The minimum required reference name is 'certificate' for Certificate type")
	}
	return nc, nil
}

// checkRefNames is the typed containers' rule: no name outside allowed (an unnamed reference is outside it), and
// every required name present. The messages are the reference's, typos included.
func checkRefNames(names map[refNameKey]bool, required, allowed []string, unsupported, missing string) *Error {
	for key := range names {
		if key.null || !contains(allowed, key.name) {
			return invalidObject(containerSchema.name, unsupported, "secret_refs")
		}
	}
	for _, name := range required {
		if !names[refNameKey{name: name}] {
			return invalidObject(containerSchema.name, missing, "secret_refs")
		}
	}
	return nil
}

// secretIDOfContainerRef is the secret id a container's secret_ref names, as the reference cuts it: the last
// path segment, or the one before a trailing slash ("" when the trailing slash is the only one), or the whole
// text when it has no slash.
func secretIDOfContainerRef(ref string) string {
	if trimmed, ok := strings.CutSuffix(ref, "/"); ok {
		i := strings.LastIndexByte(trimmed, '/')
		if i < 0 {
			return ""
		}
		return trimmed[i+1:]
	}
	return ref[strings.LastIndexByte(ref, '/')+1:]
}
