package policy

import "strings"

// nodeKind says what a node of a parsed rule does when evaluated.
type nodeKind uint8

const (
	nodeTrue    nodeKind = iota // "@" or the empty rule
	nodeFalse                   // "!", and checks that can never pass (http:)
	nodeAnd                     // all children
	nodeOr                      // any child
	nodeNot                     // negation of children[0]
	nodeRule                    // rule:NAME, resolved to ref at link time
	nodeRole                    // role:MATCH
	nodeGeneric                 // LEFT:MATCH against a literal or credential
)

// node is one element of a parsed rule. A single struct with a kind switch
// (rather than an interface per check) keeps evaluation free of allocations:
// the evaluation context never escapes through an interface call.
type node struct {
	kind     nodeKind
	children []*node

	// ruleName is the NAME of rule:NAME; ref is the named rule's root, or nil
	// when no such rule exists (which oslo.policy evaluates as false).
	ruleName string
	ref      *node

	// literal is the stringified Python literal on the left of a generic
	// check when hasLiteral; otherwise cred selects the credential attribute.
	hasLiteral bool
	literal    string
	cred       credAttr

	// match is the interpolated right-hand side of role and generic checks.
	match template

	// text is the source of a single check, kept for String.
	text string
}

// String renders the rule in oslo.policy's canonical form: and/or groups in
// parentheses, checks as written. Tests use it to pin down precedence.
func (n *node) String() string {
	switch n.kind {
	case nodeAnd, nodeOr:
		sep := " and "
		if n.kind == nodeOr {
			sep = " or "
		}
		parts := make([]string, len(n.children))
		for i, ch := range n.children {
			parts[i] = ch.String()
		}
		return "(" + strings.Join(parts, sep) + ")"
	case nodeNot:
		return "not " + n.children[0].String()
	case nodeTrue:
		if n.text == "" {
			return "@"
		}
	case nodeFalse:
		if n.text == "" {
			return "!"
		}
	}
	return n.text
}

// evalCtx is what one Enforce call evaluates against.
type evalCtx struct {
	creds       *Credentials
	target      Target
	newDefaults bool
}

// eval reports whether the rule rooted at n passes.
func (n *node) eval(c *evalCtx) bool {
	switch n.kind {
	case nodeTrue:
		return true
	case nodeAnd:
		for _, ch := range n.children {
			if !ch.eval(c) {
				return false
			}
		}
		return true
	case nodeOr:
		for _, ch := range n.children {
			if ch.eval(c) {
				return true
			}
		}
		return false
	case nodeNot:
		return !n.children[0].eval(c)
	case nodeRule:
		// Cycles are rejected when the enforcer is built, so this recursion
		// terminates.
		return n.ref != nil && n.ref.eval(c)
	case nodeRole:
		want, ok := n.match.resolve(c)
		if !ok {
			return false
		}
		for _, r := range c.creds.Roles {
			if strings.EqualFold(r, want) {
				return true
			}
		}
		return false
	case nodeGeneric:
		want, ok := n.match.resolve(c)
		if !ok {
			return false
		}
		if n.hasLiteral {
			return n.literal == want
		}
		return n.cred.matches(c.creds, want)
	default: // nodeFalse
		return false
	}
}

// credAttr names one attribute of oslo.context's to_policy_values.
type credAttr uint8

const (
	credUnknown credAttr = iota // not a policy value: never matches
	credUserID
	credProjectID
	credDomainID
	credUserDomainID
	credProjectDomainID
	credSystemScope
	credIsAdminProject
	credServiceUserID
	credRoles
	credServiceRoles
	// credNone is an attribute oslo.context always sends but keymanager does
	// not track (service_user_domain_id, service_project_id,
	// service_project_domain_id): its value is None.
	credNone
)

// credAttrs maps to_policy_values keys to attributes.
var credAttrs = map[string]credAttr{
	"user_id":                   credUserID,
	"project_id":                credProjectID,
	"domain_id":                 credDomainID,
	"user_domain_id":            credUserDomainID,
	"project_domain_id":         credProjectDomainID,
	"system_scope":              credSystemScope,
	"is_admin_project":          credIsAdminProject,
	"service_user_id":           credServiceUserID,
	"roles":                     credRoles,
	"service_roles":             credServiceRoles,
	"service_user_domain_id":    credNone,
	"service_project_id":        credNone,
	"service_project_domain_id": credNone,
}

// matches compares want with the attribute as Python's str() would render
// it; list attributes match when any element does (oslo.policy's
// GenericCheck walks lists).
func (a credAttr) matches(cr *Credentials, want string) bool {
	switch a {
	case credUserID:
		return pyOptional(cr.UserID) == want
	case credProjectID:
		return pyOptional(cr.ProjectID) == want
	case credDomainID:
		return pyOptional(cr.DomainID) == want
	case credUserDomainID:
		return pyOptional(cr.UserDomainID) == want
	case credProjectDomainID:
		return pyOptional(cr.ProjectDomainID) == want
	case credSystemScope:
		return pyOptional(cr.SystemScope) == want
	case credServiceUserID:
		return pyOptional(cr.ServiceUserID) == want
	case credIsAdminProject:
		return pyBool(cr.IsAdminProject) == want
	case credRoles:
		return contains(cr.Roles, want)
	case credServiceRoles:
		return contains(cr.ServiceRoles, want)
	case credNone:
		return want == pyNone
	default:
		return false
	}
}

// contains is an exact (case-sensitive) membership test: generic checks on
// roles compare like any other string, only role: checks fold case.
func contains(list []string, want string) bool {
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}
