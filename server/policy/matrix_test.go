package policy

import (
	"fmt"
	"testing"
)

// The secret every matrix case acts on: project p1, created by user "owner".
const (
	matrixProject = "p1"
	matrixCreator = "owner"
)

// matrixCaller is one column of a policy matrix.
type matrixCaller struct {
	name  string
	creds Credentials
}

// secretVisibility is one row group of a policy matrix: how the secret's ACL
// relates to the caller.
type secretVisibility struct {
	name   string
	target func(caller Credentials) Target
}

var secretVisibilities = []secretVisibility{
	{"a secret without ACLs", func(c Credentials) Target {
		return secretTarget(matrixProject, ptr(matrixCreator), c.UserID, nil, true)
	}},
	{"a secret whose read ACL lists someone else but keeps project access", func(c Credentials) Target {
		return secretTarget(matrixProject, ptr(matrixCreator), c.UserID, []string{"someone-else"}, true)
	}},
	{"a private secret", func(c Credentials) Target {
		return secretTarget(matrixProject, ptr(matrixCreator), c.UserID, []string{"someone-else"}, false)
	}},
	{"a private secret whose read ACL lists the caller", func(c Credentials) Target {
		return secretTarget(matrixProject, ptr(matrixCreator), c.UserID, []string{"someone-else", c.UserID}, false)
	}},
}

// matrixRow gives, per visibility (in secretVisibilities order), one Y/N
// per caller (in the callers' order).
type matrixRow struct {
	action string
	want   [4]string
}

// runMatrix checks every action × visibility × caller combination.
func runMatrix(t *testing.T, e *Enforcer, callers []matrixCaller, rows []matrixRow) {
	t.Helper()
	for _, row := range rows {
		for vi, vis := range secretVisibilities {
			if len(row.want[vi]) != len(callers) {
				t.Fatalf("%s: expectation %q has %d entries for %d callers", row.action, row.want[vi], len(row.want[vi]), len(callers))
			}
			for ci, caller := range callers {
				want := row.want[vi][ci] == 'Y'
				name := fmt.Sprintf("%s by %s on %s", row.action, caller.name, vis.name)
				t.Run(name, func(t *testing.T) {
					got := mustEnforce(t, e, row.action, caller.creds, vis.target(caller.creds))
					if got != want {
						t.Errorf("got %v, want %v", got, want)
					}
				})
			}
		}
	}
}

// TestLegacySecretMatrix pins the legacy (default) rules to spec §5.4's
// notes: admin has full access in its project; creator creates and fully
// controls its own secrets and reads/deletes non-private ones; observer reads
// and decrypts non-private secrets; audit reads metadata but neither lists nor
// decrypts; a user on the read ACL reads whatever the project roles say.
func TestLegacySecretMatrix(t *testing.T) {
	callers := []matrixCaller{
		{"the project admin", Credentials{UserID: "adm", ProjectID: matrixProject, Roles: []string{"admin"}}},
		{"the creator-role owner", Credentials{UserID: matrixCreator, ProjectID: matrixProject, Roles: []string{"creator"}}},
		{"another creator-role user", Credentials{UserID: "cx", ProjectID: matrixProject, Roles: []string{"creator"}}},
		{"an observer", Credentials{UserID: "obs", ProjectID: matrixProject, Roles: []string{"observer"}}},
		{"an auditor", Credentials{UserID: "aud", ProjectID: matrixProject, Roles: []string{"audit"}}},
		{"an admin of another project", Credentials{UserID: "ext", ProjectID: "p2", Roles: []string{"admin"}}},
	}
	// Columns: admin, owner, other creator, observer, audit, other project.
	rows := []matrixRow{
		// Collections have no target: roles count in any project.
		{"secrets:get", [4]string{"YYYYNY", "YYYYNY", "YYYYNY", "YYYYNY"}},
		{"secrets:post", [4]string{"YYYNNY", "YYYNNY", "YYYNNY", "YYYNNY"}},
		{"secret:get", [4]string{"YYYYYN", "YYYYYN", "YYNNNN", "YYYYYY"}},
		{"secret:decrypt", [4]string{"YYYYNN", "YYYYNN", "YYNNNN", "YYYYYY"}},
		// secret:put ignores privacy and ACLs entirely.
		{"secret:put", [4]string{"YYYNNN", "YYYNNN", "YYYNNN", "YYYNNN"}},
		{"secret:delete", [4]string{"YYYNNN", "YYYNNN", "YYNNNN", "YYNNNN"}},
		{"secret_meta:get", [4]string{"YYYYYN", "YYYYYN", "YYNNNN", "YYYYYY"}},
		{"secret_meta:put", [4]string{"YYYNNN", "YYYNNN", "YYNNNN", "YYNNNN"}},
	}
	runMatrix(t, newEnforcer(t, Options{}), callers, rows)
}

// TestNewDefaultsSecretMatrix pins the secure-RBAC rules: members act on
// non-private secrets of their project and on their own; readers get nothing
// on secrets; role:admin reads and deletes secrets of any project.
func TestNewDefaultsSecretMatrix(t *testing.T) {
	// Keystone expands implied roles into the token: admin ⊃ member ⊃ reader.
	callers := []matrixCaller{
		{"the project admin", Credentials{UserID: "adm", ProjectID: matrixProject, Roles: []string{"admin", "member", "reader"}}},
		{"the member owner", Credentials{UserID: matrixCreator, ProjectID: matrixProject, Roles: []string{"member", "reader"}}},
		{"another member", Credentials{UserID: "mx", ProjectID: matrixProject, Roles: []string{"member", "reader"}}},
		{"a reader", Credentials{UserID: "rd", ProjectID: matrixProject, Roles: []string{"reader"}}},
		{"an admin of another project", Credentials{UserID: "ext", ProjectID: "p2", Roles: []string{"admin", "member", "reader"}}},
		{"a legacy creator", Credentials{UserID: "cr", ProjectID: matrixProject, Roles: []string{"creator"}}},
	}
	// Columns: admin, owner, other member, reader, other-project admin, creator.
	rows := []matrixRow{
		{"secrets:get", [4]string{"YYYNYN", "YYYNYN", "YYYNYN", "YYYNYN"}},
		{"secrets:post", [4]string{"YYYNYN", "YYYNYN", "YYYNYN", "YYYNYN"}},
		{"secret:get", [4]string{"YYYNYN", "YYYNYN", "YYNNYN", "YYYYYY"}},
		{"secret:decrypt", [4]string{"YYYNNN", "YYYNNN", "YYNNNN", "YYYYYY"}},
		{"secret:delete", [4]string{"YYYNYN", "YYYNYN", "YYNNYN", "YYNNYN"}},
	}
	runMatrix(t, newEnforcer(t, Options{EnforceNewDefaults: true}), callers, rows)
}

func TestLegacyRolesOutsideTheSecret(t *testing.T) {
	legacy := newEnforcer(t, Options{})
	rbac := newEnforcer(t, Options{EnforceNewDefaults: true})
	ownOrder := orderTarget(matrixProject, ptr("u"))
	tests := []struct {
		name   string
		e      *Enforcer
		action string
		creds  Credentials
		target Target
		want   bool
	}{
		{"a member role grants nothing under legacy rules", legacy, "secrets:get", Credentials{ProjectID: matrixProject, Roles: []string{"member"}}, nil, false},
		{"the service admin manages project quotas under legacy rules", legacy, "project_quotas:put", Credentials{ProjectID: "svc", Roles: []string{"key-manager:service-admin"}}, nil, true},
		{"a project admin does not manage project quotas under legacy rules", legacy, "project_quotas:put", Credentials{ProjectID: matrixProject, Roles: []string{"admin"}}, nil, false},
		{"an admin manages project quotas under new defaults", rbac, "project_quotas:put", Credentials{ProjectID: matrixProject, Roles: []string{"admin"}}, nil, true},
		{"an auditor reads quotas under legacy rules", legacy, "quotas:get", Credentials{ProjectID: matrixProject, Roles: []string{"audit"}}, nil, true},
		{"a reader reads quotas under new defaults", rbac, "quotas:get", Credentials{ProjectID: matrixProject, Roles: []string{"reader"}}, nil, true},
		{"an observer reads an order of its project", legacy, "order:get", Credentials{ProjectID: matrixProject, Roles: []string{"observer"}}, ownOrder, true},
		{"an observer of another project cannot read the order", legacy, "order:get", Credentials{ProjectID: "p2", Roles: []string{"observer"}}, ownOrder, false},
		{"only a project admin deletes an order under legacy rules", legacy, "order:delete", Credentials{ProjectID: matrixProject, Roles: []string{"creator"}}, ownOrder, false},
		{"a member deletes an order of its project under new defaults", rbac, "order:delete", Credentials{ProjectID: matrixProject, Roles: []string{"member"}}, ownOrder, true},
		{"a creator manages the ACL of its own private secret", legacy, "secret_acls:put_patch", Credentials{UserID: "u", ProjectID: matrixProject, Roles: []string{"creator"}}, secretACLTarget(matrixProject, ptr("u")), true},
		{"another creator manages ACLs too, since the ACL target has no privacy flag", legacy, "secret_acls:put_patch", Credentials{UserID: "x", ProjectID: matrixProject, Roles: []string{"creator"}}, secretACLTarget(matrixProject, ptr("u")), true},
		{"another member cannot manage ACLs under new defaults", rbac, "secret_acls:put_patch", Credentials{UserID: "x", ProjectID: matrixProject, Roles: []string{"member"}}, secretACLTarget(matrixProject, ptr("u")), false},
		{"an auditor of any project may get a consumer under legacy rules", legacy, "consumer:get", Credentials{ProjectID: "p2", Roles: []string{"audit"}}, containerTarget(matrixProject, nil, "", nil, true), true},
		{"a container reader on the ACL reads a private container", legacy, "container:get", Credentials{UserID: "r", ProjectID: "p2"}, containerTarget(matrixProject, ptr("u"), "r", []string{"r"}, false), true},
		{"no-auth admin without a user id deletes its own secret", legacy, "secret:delete", Credentials{ProjectID: matrixProject, Roles: []string{"admin"}}, secretTarget(matrixProject, nil, "", nil, true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustEnforce(t, tt.e, tt.action, tt.creds, tt.target); got != tt.want {
				t.Errorf("Enforce(%s) = %v, want %v", tt.action, got, tt.want)
			}
		})
	}
}
