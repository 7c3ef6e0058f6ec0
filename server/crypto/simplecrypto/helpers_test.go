package simplecrypto

import (
	"context"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/crypto"
)

// newKeys returns n fresh master KEKs.
func newKeys(t testing.TB, n int) []Key {
	t.Helper()
	keys := make([]Key, n)
	for i := range keys {
		k, err := GenerateKEK()
		if err != nil {
			t.Fatalf("GenerateKEK: %v", err)
		}
		keys[i] = k
	}
	return keys
}

// newPlugin returns a plugin over keys with the given options.
func newPlugin(t testing.TB, keys []Key, opts Options) *Plugin {
	t.Helper()
	p, err := New(keys, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// boundKEK returns a kek_data row bound by p.
func boundKEK(t testing.TB, p *Plugin, label string) crypto.KEK {
	t.Helper()
	kek := crypto.KEK{ID: label, Label: label}
	if err := p.BindKEK(context.Background(), &kek); err != nil {
		t.Fatalf("BindKEK: %v", err)
	}
	return kek
}

// requirePython returns the path of a python3 that can import cryptography.fernet (testbed.Python's rules
// when it cannot).
func requirePython(t *testing.T) string {
	t.Helper()
	return testbed.Python(t, "cryptography.fernet")
}
