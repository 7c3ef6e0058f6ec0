package api

import (
	"net/http"

	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// Secrets and containers carry ACLs of the same shape in twin tables (spec §4.5, §4.8): one implementation
// serves both, parameterised by aclEntity.

// aclSchema is the reference's ACLValidator schema: only 'read', whose value may hold users and project-access.
// The reference type-checks only the first user (its schema uses the tuple form of items, probably by mistake)
// and then fails on the others in the database or in Python; every user is checked here.
var aclSchema = objectSchema{
	name:         "ACL",
	noAdditional: true,
	properties: []property{{name: store.ACLOperationRead, types: []string{"object"}, object: &objectSchema{
		noAdditional: true,
		properties: []property{
			{name: "users", types: []string{"array"}, items: &property{types: []string{"string"}, maxLength: 255}},
			{name: "project-access", types: []string{"boolean"}},
		},
	}}},
}

// aclEntity is a kind of entity with ACLs as the ACL handlers see it.
type aclEntity struct {
	kind       store.ACLKind
	policyKind policy.Kind
	// collection is the path segment of the entity ("secrets", "containers").
	collection string
	// retrieval, update and deletion are the operation names of the reference's messages.
	retrieval, update, deletion string
	get, putPatch, delete       policy.Action
	// lookup finds the entity named by the request's {id}, answering the 404s itself.
	lookup func(a *API, w http.ResponseWriter, r *http.Request, op string) (id string, o store.Owner, ok bool)
}

var (
	secretACLs = aclEntity{
		kind: store.SecretACLs, policyKind: policy.KindSecret, collection: "secrets",
		retrieval: "SecretACL(s) retrieval", update: "SecretACL(s) Update", deletion: "SecretACL(s) deletion",
		get: policy.ActionSecretACLsGet, putPatch: policy.ActionSecretACLsPutPatch, delete: policy.ActionSecretACLsDelete,
		lookup: func(a *API, w http.ResponseWriter, r *http.Request, op string) (string, store.Owner, bool) {
			v, ok := a.lookupSecret(w, r, op, r.PathValue("id"), store.LoadOptions{})
			if !ok {
				return "", store.Owner{}, false
			}
			return v.ID, v.Owner(), true
		},
	}
	containerACLs = aclEntity{
		kind: store.ContainerACLs, policyKind: policy.KindContainer, collection: "containers",
		retrieval: "ContainerACL(s) retrieval", update: "ContainerACL(s) Update", deletion: "ContainerACL(s) deletion",
		get: policy.ActionContainerACLsGet, putPatch: policy.ActionContainerACLsPutPatch,
		delete: policy.ActionContainerACLsDelete,
		lookup: func(a *API, w http.ResponseWriter, r *http.Request, op string) (string, store.Owner, bool) {
			v, ok := a.lookupContainer(w, r, op, r.PathValue("id"), false)
			if !ok {
				return "", store.Owner{}, false
			}
			return v.ID, v.Owner(), true
		},
	}
)

// aclFor looks the entity up (404) and admits the request (406, 403, 415). The ACL actions' target carries the
// entity's project and creator only, never its read ACL (spec §5.2).
func (a *API) aclFor(w http.ResponseWriter, r *http.Request, e aclEntity, g guard) (string, bool) {
	id, owner, ok := e.lookup(a, w, r, g.op)
	if !ok || !a.admit(w, r, g, targetOf(r, e.policyKind, owner, false)) {
		return "", false
	}
	return id, true
}

// aclJSON is one operation's ACL as GET answers it.
type aclJSON struct {
	ProjectAccess bool     `json:"project-access"`
	Users         []string `json:"users"`
	Created       string   `json:"created"`
	Updated       string   `json:"updated"`
}

// getACL is GET …/acl: every ACL of the entity, or the implicit default when it has none.
func (a *API) getACL(e aclEntity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.aclFor(w, r, e, guard{op: e.retrieval, action: e.get, accept: acceptJSON})
		if !ok {
			return
		}
		acls, err := a.db.Read(r.Context()).ACLs(e.kind, id)
		if err != nil {
			a.writeError(w, r, e.retrieval, err)
			return
		}
		if len(acls) == 0 {
			writeJSON(w, http.StatusOK, map[string]any{store.ACLOperationRead: map[string]bool{"project-access": true}})
			return
		}
		out := make(map[string]aclJSON, len(acls))
		for operation, acl := range acls {
			out[operation] = aclJSON{ProjectAccess: acl.ProjectAccess, Users: acl.Users, Created: isoformat(acl.CreatedAt),
				Updated: isoformat(acl.UpdatedAt)}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// readACLChange reads and validates an ACL body. It returns the change to the 'read' ACL, or nil when the body
// leaves 'read' out or gives it as an empty object, which the reference treats alike. Omitted fields stay nil
// in the change.
func (a *API) readACLChange(r *http.Request) (*store.ACLChange, *Error) {
	body, e := a.readJSON(r)
	if e != nil {
		return nil, e
	}
	obj, e := aclSchema.validate(body)
	if e != nil {
		return nil, e
	}
	read, _ := obj[store.ACLOperationRead].(map[string]any)
	if len(read) == 0 {
		return nil, nil
	}
	change := &store.ACLChange{}
	if pa, ok := read["project-access"].(bool); ok {
		change.ProjectAccess = &pa
	}
	if users, ok := read["users"].([]any); ok {
		change.Users = make([]string, len(users))
		for i, u := range users {
			change.Users[i] = u.(string)
		}
	}
	return change, nil
}

// putACL is PUT …/acl: replace. A 'read' ACL given defaults to project access and no users; every ACL the body
// does not give is deleted.
func (a *API) putACL(e aclEntity) http.HandlerFunc {
	return a.writeACL(e, func(tx *store.Tx, id string, change *store.ACLChange) error {
		if change == nil {
			return tx.DeleteACLs(e.kind, id)
		}
		if change.ProjectAccess == nil {
			projectAccess := true
			change.ProjectAccess = &projectAccess
		}
		if change.Users == nil {
			change.Users = []string{}
		}
		if err := tx.WriteReadACL(e.kind, id, *change); err != nil {
			return err
		}
		return tx.DeleteACLs(e.kind, id, store.ACLOperationRead)
	})
}

// patchACL is PATCH …/acl: merge. The 'read' ACL is created if missing; what the body leaves out is kept.
func (a *API) patchACL(e aclEntity) http.HandlerFunc {
	return a.writeACL(e, func(tx *store.Tx, id string, change *store.ACLChange) error {
		if change == nil {
			return nil
		}
		return tx.WriteReadACL(e.kind, id, *change)
	})
}

// writeACL is the PUT and PATCH handler around apply, which runs in the request's transaction.
func (a *API) writeACL(e aclEntity, apply func(tx *store.Tx, id string, change *store.ACLChange) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.aclFor(w, r, e, guard{op: e.update, action: e.putPatch, accept: acceptJSON, jsonBody: true})
		if !ok {
			return
		}
		change, ev := a.readACLChange(r)
		if ev != nil {
			writeErrorBody(w, r, ev)
			return
		}
		if err := a.db.Write(r.Context(), func(tx *store.Tx) error { return apply(tx, id, change) }); err != nil {
			a.writeError(w, r, e.update, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"acl_ref": a.href(r, e.collection+"/"+id+"/acl")})
	}
}

// deleteACL is DELETE …/acl: every ACL of the entity goes; the answer is 200 with the JSON body null, as the
// reference's handler returns None through its JSON renderer (gophercloud expects exactly 200).
func (a *API) deleteACL(e aclEntity) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.aclFor(w, r, e, guard{op: e.deletion, action: e.delete, accept: acceptJSON})
		if !ok {
			return
		}
		if err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteACLs(e.kind, id) }); err != nil {
			a.writeError(w, r, e.deletion, err)
			return
		}
		writeJSON(w, http.StatusOK, nil)
	}
}
