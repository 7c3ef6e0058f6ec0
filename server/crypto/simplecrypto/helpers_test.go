package simplecrypto

import (
	"context"
	"os"
	"os/exec"
	"testing"

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

// requirePython returns the path of a python3 that can import
// cryptography.fernet. Without one the test fails under CI=true and is
// skipped (loudly) elsewhere.
func requirePython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import cryptography.fernet").Run()
	}
	if err != nil {
		msg := "python3 with cryptography.fernet is required for the Fernet compatibility test " +
			"(apt-get install -y python3-cryptography): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	return py
}
