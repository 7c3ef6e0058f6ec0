package orders

import "testing"

// FuzzSpecOf feeds arbitrary stored meta to the workers' reader (rows may come from the reference or from
// hand-edited databases): it must refuse what it cannot use, never panic, and never accept a length below 1.
func FuzzSpecOf(f *testing.F) {
	for _, seed := range []string{aesMeta, `{}`, `null`, `[]`, `{"bit_length": 1e400}`, `{"bit_length": -8}`,
		`{"expiration": "2030-01-01T00:00:00.000000", "passphrase": 7}`, `{"name": ["x"]}`, `{"expiration": ""}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, meta string) {
		s, err := specOf(&meta)
		if err == nil && s.bitLength != nil && *s.bitLength < 1 {
			t.Fatalf("accepted bit length %d from %q", *s.bitLength, meta)
		}
	})
}
