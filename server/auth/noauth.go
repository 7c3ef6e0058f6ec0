package auth

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
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

// MaxIDLength is the width of the columns identities are stored in: projects.external_id and every creator_id
// are VARCHAR(255). The reference counts the header's bytes (WSGI hands headers over as Latin-1, one character
// per byte), takes longer values anyway and fails with 500 when it stores them; they are refused up front here.
const MaxIDLength = 255

// checkID refuses an identity that cannot be stored: longer than its column, or not UTF-8 (MariaDB rejects such
// bytes in a utf8mb4 column, a 500; SQLite would keep them).
func checkID(header, value string) error {
	switch {
	case len(value) > MaxIDLength:
		return &Error{Status: http.StatusBadRequest,
			Message: "Invalid " + header + ": longer than " + strconv.Itoa(MaxIDLength) + " bytes"}
	case !utf8.ValidString(value):
		return &Error{Status: http.StatusBadRequest, Message: "Invalid " + header + ": not UTF-8"}
	}
	return nil
}

// Authenticate builds the caller from X-Project-Id (required), X-Roles, X-User-Id and the domain headers.
func (n NoAuth) Authenticate(r *http.Request) (*Context, error) {
	project := strings.TrimSpace(r.Header.Get("X-Project-Id"))
	if project == "" {
		return nil, ErrMissingProject
	}
	user := r.Header.Get("X-User-Id")
	if err := checkID("X-Project-Id", project); err != nil {
		return nil, err
	}
	if err := checkID("X-User-Id", user); err != nil {
		return nil, err
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
		UserID:          user,
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
