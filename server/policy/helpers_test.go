package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// writePolicyFile writes rules as a JSON document (which is also YAML) into a
// temporary file and returns its path.
func writePolicyFile(t *testing.T, rules map[string]any) string {
	t.Helper()
	data, err := json.Marshal(rules)
	if err != nil {
		t.Fatalf("marshal policy: %v", err)
	}
	return writeRawPolicyFile(t, "policy.json", string(data))
}

// writeRawPolicyFile writes content verbatim into a temporary file.
func writeRawPolicyFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write policy file: %v", err)
	}
	return path
}

// newEnforcer builds an enforcer or fails the test.
func newEnforcer(t testing.TB, opts Options) *Enforcer {
	t.Helper()
	e, err := NewEnforcer(opts)
	if err != nil {
		t.Fatalf("NewEnforcer(%+v): %v", opts, err)
	}
	return e
}

// mustEnforce enforces a registered action or fails the test.
func mustEnforce(t testing.TB, e *Enforcer, action string, creds Credentials, target Target) bool {
	t.Helper()
	ok, err := e.Enforce(Action(action), creds, target)
	if err != nil {
		t.Fatalf("Enforce(%q): %v", action, err)
	}
	return ok
}

// ptr returns a pointer to s, for nullable creator ids.
func ptr(s string) *string { return &s }

// The target shapes of Barbican's controllers, built with the one Entity builder.

func secretTarget(project string, creator *string, caller string, users []string, projectAccess bool) Target {
	return Entity{Kind: KindSecret, ProjectID: project, CreatorID: creator,
		Reader: &Reader{UserID: caller, ACLUsers: users, ProjectAccess: projectAccess}}.Target()
}

func containerTarget(project string, creator *string, caller string, users []string, projectAccess bool) Target {
	return Entity{Kind: KindContainer, ProjectID: project, CreatorID: creator,
		Reader: &Reader{UserID: caller, ACLUsers: users, ProjectAccess: projectAccess}}.Target()
}

func secretACLTarget(project string, creator *string) Target {
	return Entity{Kind: KindSecret, ProjectID: project, CreatorID: creator}.Target()
}

func orderTarget(project string, creator *string) Target {
	return Entity{Kind: KindOrder, ProjectID: project, CreatorID: creator}.Target()
}
