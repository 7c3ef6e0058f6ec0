package auth

import (
	"net/http"
	"strings"
)

// NoAuth is the reference server's unauthenticated-context pipeline: the caller is whoever the headers say.
// It exists for development, tests and deployments where a trusted proxy sets the headers; it must never face
// untrusted clients.
type NoAuth struct {
	// AdminRole is Barbican's [DEFAULT] admin_role; a request without X-Roles gets exactly this role.
	AdminRole string
}

// ErrMissingProject is the reference's answer to a request without X-Project-Id.
var ErrMissingProject = &Error{Status: http.StatusBadRequest, Message: "Missing X-Project-Id"}

// Authenticate builds the caller from X-Project-Id (required), X-Roles, X-User-Id and the domain headers.
func (n NoAuth) Authenticate(r *http.Request) (*Context, error) {
	project := strings.TrimSpace(r.Header.Get("X-Project-Id"))
	if project == "" {
		return nil, ErrMissingProject
	}
	admin := n.AdminRole
	if admin == "" {
		admin = "admin"
	}
	roles := ParseRoles(r.Header.Values("X-Roles"))
	if len(roles) == 0 {
		// Barbican: "if no roles given, roles = [admin_role]" -- full admin of the named project.
		roles = []string{strings.ToLower(admin)}
	}
	c := &Context{
		UserID:          r.Header.Get("X-User-Id"),
		ProjectID:       project,
		DomainID:        r.Header.Get("X-Domain-Id"),
		UserDomainID:    r.Header.Get("X-User-Domain-Id"),
		ProjectDomainID: r.Header.Get("X-Project-Domain-Id"),
		Roles:           roles,
	}
	for _, role := range roles {
		if role == strings.ToLower(admin) {
			c.IsAdmin = true
		}
	}
	return c, nil
}

// ParseRoles splits X-Roles header values on commas, trims and lower-cases each role and drops empty ones.
func ParseRoles(values []string) []string {
	var roles []string
	for _, v := range values {
		for _, role := range strings.Split(v, ",") {
			if role = strings.ToLower(strings.TrimSpace(role)); role != "" {
				roles = append(roles, role)
			}
		}
	}
	return roles
}
