package policy

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// specActions is every action of spec §5.4.
var specActions = []string{
	"consumer:get",
	"container:delete", "container:get",
	"container_acls:delete", "container_acls:get", "container_acls:put_patch",
	"container_consumers:delete", "container_consumers:get", "container_consumers:post",
	"container_secret:delete", "container_secret:post",
	"containers:get", "containers:post",
	"order:delete", "order:get",
	"orders:get", "orders:post", "orders:put",
	"project_quotas:delete", "project_quotas:get", "project_quotas:put",
	"quotas:get",
	"secret:decrypt", "secret:delete", "secret:get", "secret:put",
	"secret_acls:delete", "secret_acls:get", "secret_acls:put_patch",
	"secret_consumers:delete", "secret_consumers:get", "secret_consumers:post",
	"secret_meta:delete", "secret_meta:get", "secret_meta:post", "secret_meta:put",
	"secrets:get", "secrets:post",
	"secretstore:get", "secretstore_preferred:delete", "secretstore_preferred:post",
	"secretstores:get", "secretstores:get_global_default", "secretstores:get_preferred",
	"transport_key:delete", "transport_key:get",
	"transport_keys:get", "transport_keys:post",
}

func TestActionsAreTheSpecActions(t *testing.T) {
	want := slices.Sorted(slices.Values(specActions))
	for _, opts := range []Options{{}, {EnforceNewDefaults: true}} {
		if got := newEnforcer(t, opts).Actions(); !slices.Equal(got, want) {
			t.Errorf("Actions() with %+v = %v, want %v", opts, got, want)
		}
	}
}

func TestUnknownActionIsAnError(t *testing.T) {
	e := newEnforcer(t, Options{PolicyFile: writePolicyFile(t, map[string]any{"my_rule": "@"})})
	for _, action := range []string{"secret:gett", "my_rule", "admin"} {
		ok, err := e.Enforce(Action(action), Credentials{Roles: []string{"admin"}}, nil)
		if !errors.Is(err, ErrUnknownAction) || ok {
			t.Errorf("Enforce(%q) = %v, %v; want false, ErrUnknownAction", action, ok, err)
		}
	}
}

func TestPolicyFileOverrides(t *testing.T) {
	owner := Credentials{UserID: "u", ProjectID: "p1", Roles: []string{"creator"}}
	member := Credentials{UserID: "m", ProjectID: "p1", Roles: []string{"member"}}
	foreignAdmin := Credentials{UserID: "x", ProjectID: "p2", Roles: []string{"admin"}}
	secret := secretTarget("p1", ptr("u"), "", nil, true)
	tests := []struct {
		name   string
		file   string // YAML
		opts   Options
		action string
		creds  Credentials
		target Target
		want   bool
	}{
		{"an override replaces the action's rule", `"secret:decrypt": "role:admin"`, Options{}, "secret:decrypt", owner, secret, false},
		{"an override applies to callers the default denied", `"secret:decrypt": "role:admin"`, Options{}, "secret:decrypt", foreignAdmin, secret, true},
		{"actions the file does not name keep their defaults", `"secret:decrypt": "role:admin"`, Options{}, "secret:get", owner, secret, true},
		{"an overridden action is not or-ed with its legacy rule", `"secrets:get": "role:nobody"`, Options{}, "secrets:get", foreignAdmin, nil, false},
		{"a redefined base rule changes the legacy rules using it", "creator: role:creator or role:member\n", Options{}, "secrets:post", member, nil, true},
		{"a redefined base rule changes the secure-RBAC rules using it", "secret_owner: '!'\n", Options{EnforceNewDefaults: true}, "secret:put", member, secretTarget("p1", ptr("m"), "m", nil, false), false},
		{"an empty rule allows everyone", `"project_quotas:get": ""`, Options{}, "project_quotas:get", Credentials{}, nil, true},
		{"an override may use new file-only rules", "is_boss: role:boss\n\"orders:post\": rule:is_boss\n", Options{}, "orders:post", Credentials{Roles: []string{"Boss"}}, nil, true},
		{"an override may reference an undefined rule, which is false", `"orders:post": "rule:typo or role:nobody"`, Options{}, "orders:post", owner, nil, false},
		{"an empty file changes nothing", "", Options{}, "secrets:post", owner, nil, true},
		{"an override works under new defaults", `"secrets:post": "role:reader"`, Options{EnforceNewDefaults: true}, "secrets:post", Credentials{Roles: []string{"reader"}}, nil, true},
		{"the old list syntax ors and-ed lists", `{"secrets:post": [["role:a", "role:b"], ["role:c"]]}`, Options{}, "secrets:post", Credentials{Roles: []string{"a", "b"}}, nil, true},
		{"the old list syntax needs a whole and-list", `{"secrets:post": [["role:a", "role:b"], ["role:c"]]}`, Options{}, "secrets:post", Credentials{Roles: []string{"a"}}, nil, false},
		{"an empty old-style list allows everyone", `{"secrets:post": []}`, Options{}, "secrets:post", Credentials{}, nil, true},
		{"an old-style list of empty lists allows no one", `{"secrets:post": [[]]}`, Options{}, "secrets:post", Credentials{Roles: []string{"admin"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.PolicyFile = writeRawPolicyFile(t, "policy.yaml", tt.file)
			e := newEnforcer(t, tt.opts)
			if got := mustEnforce(t, e, tt.action, tt.creds, tt.target); got != tt.want {
				t.Errorf("Enforce(%s) = %v, want %v", tt.action, got, tt.want)
			}
		})
	}
}

func TestMalformedPolicyFiles(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantIs   error
		wantText []string
	}{
		{"a YAML syntax error names the file", "secrets:get: [role:admin\n", ErrPolicyFile, nil},
		{"a top-level list is not a policy", "- role:admin\n", ErrPolicyFile, nil},
		{"a rule syntax error names the rule and position", `"secret:get": "role:admin or"`, ErrSyntax, []string{`rule "secret:get"`, "position 13"}},
		{"a check without a kind names the rule", "admin_or_creator: admin\n", ErrSyntax, []string{`rule "admin_or_creator"`, "kind:match"}},
		{"a null value is rejected", "secrets:get:\n", ErrPolicyFile, []string{`rule "secrets:get"`, "empty value"}},
		{"a number is not a rule", "secrets:get: 3\n", ErrPolicyFile, []string{`rule "secrets:get"`, "rule string"}},
		{"a nested mapping is not a rule", "secrets:get:\n  role: admin\n", ErrPolicyFile, []string{`rule "secrets:get"`}},
		{"rules referring to each other are a cycle", "admin: rule:creator\ncreator: rule:admin\n", ErrRuleCycle, []string{"admin -> creator -> admin"}},
		{"an action referring to itself is a cycle", `"secrets:get": "rule:secrets:get or role:admin"`, ErrRuleCycle, []string{"secrets:get -> secrets:get"}},
		{"a longer cycle through defaults is found", "secret_project_match: rule:secret_project_admin\n", ErrRuleCycle, []string{"secret_project_admin -> secret_project_match -> secret_project_admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeRawPolicyFile(t, "policy.yaml", tt.content)
			_, err := NewEnforcer(Options{PolicyFile: path})
			if err == nil {
				t.Fatal("NewEnforcer succeeded, want an error")
			}
			if !errors.Is(err, tt.wantIs) || !errors.Is(err, ErrPolicyFile) {
				t.Errorf("error %v does not wrap %v and ErrPolicyFile", err, tt.wantIs)
			}
			for _, want := range append([]string{path}, tt.wantText...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestMissingPolicyFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := NewEnforcer(Options{PolicyFile: path})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("NewEnforcer(missing file) error = %v, want one naming %s and wrapping fs.ErrNotExist", err, path)
	}
}

func TestRuleStringShowsTheEffectiveRule(t *testing.T) {
	legacy := newEnforcer(t, Options{})
	if s, _ := legacy.RuleString("secrets:post"); s != "(True:%(enforce_new_defaults)s and (role:member)) or (rule:admin_or_creator)" {
		t.Errorf("legacy secrets:post = %q", s)
	}
	rbac := newEnforcer(t, Options{EnforceNewDefaults: true})
	if s, _ := rbac.RuleString("secrets:post"); s != "True:%(enforce_new_defaults)s and (role:member)" {
		t.Errorf("new-defaults secrets:post = %q", s)
	}
	if _, ok := rbac.RuleString("no_such_rule"); ok {
		t.Error("RuleString(no_such_rule) reported a rule")
	}
}

func TestTargetBuilders(t *testing.T) {
	tests := []struct {
		name string
		got  Target
		want Target
	}{
		{"a caller on the read ACL gets read", secretTarget("p", ptr("c"), "u", []string{"v", "u"}, false),
			Target{"target.secret.project_id": "p", "target.secret.creator_id": "c", "target.secret.read": "read", "target.secret.read_project_access": false}},
		{"a caller off the read ACL gets no read key", secretTarget("p", ptr("c"), "u", []string{"v"}, true),
			Target{"target.secret.project_id": "p", "target.secret.creator_id": "c", "target.secret.read_project_access": true}},
		{"a caller without a user id is never on an ACL", secretTarget("p", nil, "", []string{""}, true),
			Target{"target.secret.project_id": "p", "target.secret.creator_id": nil, "target.secret.read_project_access": true}},
		{"the secret ACL target has only project and creator", secretACLTarget("p", nil),
			Target{"target.secret.project_id": "p", "target.secret.creator_id": nil}},
		{"a container target mirrors the secret one", containerTarget("p", ptr("c"), "u", []string{"u"}, true),
			Target{"target.container.project_id": "p", "target.container.creator_id": "c", "target.container.read": "read", "target.container.read_project_access": true}},
		{"the container ACL target has only project and creator", Entity{Kind: KindContainer, ProjectID: "p", CreatorID: ptr("c")}.Target(),
			Target{"target.container.project_id": "p", "target.container.creator_id": "c"}},
		{"an order target has project and creator", orderTarget("p", nil),
			Target{"target.order.project_id": "p", "target.order.creator_id": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.got) != len(tt.want) {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
			for k, v := range tt.want {
				if gv, ok := tt.got[k]; !ok || gv != v {
					t.Errorf("%s = %v (present %v), want %v", k, gv, ok, v)
				}
			}
		})
	}
}

func TestEveryDefaultActionEvaluates(t *testing.T) {
	creds := Credentials{UserID: "u", ProjectID: "p", Roles: []string{"admin"}}
	target := secretTarget("p", ptr("u"), "u", nil, true)
	for _, opts := range []Options{{}, {EnforceNewDefaults: true}} {
		e := newEnforcer(t, opts)
		for _, action := range e.Actions() {
			if _, err := e.Enforce(Action(action), creds, target); err != nil {
				t.Errorf("Enforce(%q) with %+v: %v", action, opts, err)
			}
		}
	}
}

func TestEnforceDoesNotAllocate(t *testing.T) {
	e := newEnforcer(t, Options{})
	creds, target := benchCaller()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := e.Enforce("secret:decrypt", creds, target); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Enforce allocates %v times per call, want 0", allocs)
	}
}
