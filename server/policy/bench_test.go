package policy

import "testing"

// benchCaller is a realistic decrypt request: a creator-role user of the
// secret's project, not its creator, on a secret with a read ACL that keeps
// project access — which makes the legacy rule walk most of its branches.
func benchCaller() (Credentials, Target) {
	creds := Credentials{
		UserID:          "9a1f3c0e2b7d4e5f8a6b1c2d3e4f5a6b",
		ProjectID:       "4e8d2c1b0a9f8e7d6c5b4a3928170615",
		UserDomainID:    "default",
		ProjectDomainID: "default",
		Roles:           []string{"reader", "member", "creator"},
	}
	target := secretTarget(creds.ProjectID, ptr("0f1e2d3c4b5a69788796a5b4c3d2e1f0"), creds.UserID,
		[]string{"5d6c7b8a9f0e1d2c3b4a596877869504"}, true)
	return creds, target
}

func BenchmarkEnforce(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"legacy", Options{}},
		{"new-defaults", Options{EnforceNewDefaults: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnforcer(b, bc.opts)
			creds, target := benchCaller()
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := e.Enforce("secret:decrypt", creds, target); err != nil || !ok {
					b.Fatalf("Enforce = %v, %v", ok, err)
				}
			}
		})
	}
}
