package policy

import "testing"

// TestCheckSemantics evaluates single rules through a policy file that
// overrides one action, so every case goes through the public API.
func TestCheckSemantics(t *testing.T) {
	alice := Credentials{UserID: "alice", ProjectID: "p1", Roles: []string{"Creator", "observer"}}
	tests := []struct {
		name   string
		rule   string
		creds  Credentials
		target Target
		want   bool
	}{
		{"a reference to an absent target key is false", "user_id:%(target.secret.creator_id)s", alice, Target{}, false},
		{"not of a check on an absent key is true", "not 'False':%(target.secret.read_project_access)s", alice, Target{}, true},
		{"role checks ignore case in the rule", "role:CREATOR", alice, nil, true},
		{"role checks ignore case in the credentials", "role:creator", alice, nil, true},
		{"role checks need a whole role", "role:creat", alice, nil, false},
		{"a role may come from the target", "role:%(k)s", alice, Target{"k": "observer"}, true},
		{"generic checks on roles are case-sensitive", "roles:creator", alice, nil, false},
		{"generic checks on roles match any element", "roles:observer", alice, nil, true},
		{"a string literal equals the target string", "'read':%(k)s", alice, Target{"k": "read"}, true},
		{"a string literal differs from another string", "'read':%(k)s", alice, Target{"k": "write"}, false},
		{"True matches a true bool", "True:%(k)s", alice, Target{"k": true}, true},
		{"True does not match a false bool", "True:%(k)s", alice, Target{"k": false}, false},
		{"a quoted 'False' matches a false bool", "'False':%(k)s", alice, Target{"k": false}, true},
		{"an unquoted False matches a false bool", "False:%(k)s", alice, Target{"k": false}, true},
		{"True matches the string True", "True:%(k)s", alice, Target{"k": "True"}, true},
		{"True does not match the string true", "True:%(k)s", alice, Target{"k": "true"}, false},
		{"None matches a nil target value", "None:%(k)s", alice, Target{"k": nil}, true},
		{"an integer literal matches an int value", "42:%(k)s", alice, Target{"k": 42}, true},
		{"an integer literal matches its decimal string", "0x2a:%(k)s", alice, Target{"k": "42"}, true},
		{"a float literal compares in Python's rendering", "1.50:%(k)s", alice, Target{"k": 1.5}, true},
		{"user_id matches the caller's user id", "user_id:%(k)s", alice, Target{"k": "alice"}, true},
		{"user_id does not match another user", "user_id:%(k)s", alice, Target{"k": "bob"}, false},
		{"a caller without user id matches a nil creator", "user_id:%(k)s", Credentials{ProjectID: "p1"}, Target{"k": nil}, true},
		{"a caller with a user id does not match a nil creator", "user_id:%(k)s", alice, Target{"k": nil}, false},
		{"project_id compares with the target", "project_id:%(k)s", alice, Target{"k": "p1"}, true},
		{"is_admin_project renders like a Python bool", "is_admin_project:True", Credentials{IsAdminProject: true}, nil, true},
		{"an untracked oslo.context attribute is None", "service_project_id:None", alice, nil, true},
		{"an unknown credential attribute never matches", "favourite_colour:%(k)s", alice, Target{"k": "None"}, false},
		{"a dotted path into a scalar attribute never matches", "user_id.name:alice", alice, nil, false},
		{"http checks never pass", "http://policy.example.com/check", alice, nil, false},
		{"https checks never pass", "https://policy.example.com/check", alice, nil, false},
		{"a reference to an undefined rule is false", "rule:no_such_rule", alice, nil, false},
		{"not of an undefined rule is true", "not rule:no_such_rule", alice, nil, true},
		{"literal text around a reference is interpolated", "'p-1':p-%(k)s", alice, Target{"k": "1"}, true},
		{"a doubled percent sign is a literal percent", "'50%':50%%", alice, nil, true},
		{"several references are all interpolated", "'a/b':%(x)s/%(y)s", alice, Target{"x": "a", "y": "b"}, true},
		{"one absent reference among several is false", "'a/b':%(x)s/%(y)s", alice, Target{"x": "a"}, false},
		{"the always check passes", "@", alice, nil, true},
		{"the never check fails", "!", alice, nil, false},
		{"the empty rule passes", "", Credentials{}, nil, true},
		{"enforce_new_defaults comes from the enforcer, not the target", "True:%(enforce_new_defaults)s", alice, Target{"enforce_new_defaults": true}, false},
		{"and needs every operand", "role:creator and role:admin", alice, nil, false},
		{"or needs one operand", "role:admin or role:observer", alice, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnforcer(t, Options{PolicyFile: writePolicyFile(t, map[string]any{"secrets:get": tt.rule})})
			if got := mustEnforce(t, e, "secrets:get", tt.creds, tt.target); got != tt.want {
				t.Errorf("rule %q = %v, want %v", tt.rule, got, tt.want)
			}
		})
	}
}
