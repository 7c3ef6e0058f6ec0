// Package testbed gives tests access to the real components that hack/test-deps.sh
// provides (MariaDB, envtest binaries, SoftHSM2) and applies one policy when a
// component is missing: with CI=true the test fails, because a suite that
// silently skips proves nothing; elsewhere it skips with a loud message so a
// developer without MariaDB can still run the rest.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Environment variables written by hack/test-deps.sh into bin/test-env.sh and
// exported by the Makefile.
const (
	EnvDBURL          = "KEYMANAGER_TEST_DB_URL"
	EnvEnvtestAssets  = "KUBEBUILDER_ASSETS"
	EnvSoftHSM2Module = "SOFTHSM2_MODULE"
	EnvHelm           = "KEYMANAGER_TEST_HELM"
)

// ErrNotConfigured reports that the environment variable naming a component is
// unset, typically because hack/test-deps.sh has not run.
var ErrNotConfigured = errors.New("not configured")

// CI reports whether the tests run under CI (CI=true), where every component
// is mandatory.
func CI() bool {
	return os.Getenv("CI") == "true"
}

// Require stops the test when err says that component is unusable: t.Fatal
// under CI=true, t.Skip otherwise. A nil err lets the test go on.
func Require(t testing.TB, component string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if CI() {
		t.Fatalf("%s is required (CI=true) but unusable: %v; run hack/test-deps.sh", component, err)
		return
	}
	t.Skipf("\n!!! SKIPPED: %s is unusable: %v\n!!! Run `make test` or hack/test-deps.sh to provide it.", component, err)
}

// lookup reads a component's environment variable, with ErrNotConfigured
// when it is empty.
func lookup(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is empty: %w", name, ErrNotConfigured)
	}
	return v, nil
}

// DBURL returns the MariaDB URL from KEYMANAGER_TEST_DB_URL, of the form
// mysql://user:password@host:port/database. Tests that write should prefer
// NewMySQLDatabase, which gives them a database of their own.
func DBURL(t testing.TB) string {
	t.Helper()
	v, err := lookup(EnvDBURL)
	Require(t, "MariaDB", err)
	return v
}

// EnvtestAssets returns the KUBEBUILDER_ASSETS directory after checking that
// it holds the kube-apiserver and etcd binaries envtest starts.
func EnvtestAssets(t testing.TB) string {
	t.Helper()
	dir, err := lookup(EnvEnvtestAssets)
	if err == nil {
		err = requireFiles(dir, "kube-apiserver", "etcd")
	}
	Require(t, "envtest assets", err)
	return dir
}

// SoftHSM2Module returns the path of the SoftHSM2 PKCS#11 module from
// SOFTHSM2_MODULE after checking that the file exists.
func SoftHSM2Module(t testing.TB) string {
	t.Helper()
	path, err := lookupFile(EnvSoftHSM2Module)
	Require(t, "SoftHSM2", err)
	return path
}

// Helm returns the path of the pinned helm binary (hack/deps/helm.sh) from KEYMANAGER_TEST_HELM after
// checking that the file exists.
func Helm(t testing.TB) string {
	t.Helper()
	path, err := lookupFile(EnvHelm)
	Require(t, "helm", err)
	return path
}

// lookupFile reads an environment variable naming a file and checks that the file exists.
func lookupFile(name string) (string, error) {
	path, err := lookup(name)
	if err == nil {
		err = requireFiles(filepath.Dir(path), filepath.Base(path))
	}
	return path, err
}

func requireFiles(dir string, names ...string) error {
	for _, name := range names {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
	}
	return nil
}

// Python returns the path of a python3 that can import every module named (python-cryptography, for the
// tests that check formats against the library the reference Barbican uses).
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	for _, m := range modules {
		if err != nil {
			break
		}
		if out, runErr := exec.CommandContext(context.Background(), py, "-c", "import "+m).CombinedOutput(); runErr != nil {
			err = fmt.Errorf("python3 cannot import %s (apt-get install -y python3-cryptography): %w: %s", m, runErr, out)
		}
	}
	Require(t, "python3", err)
	return py
}

// MakeISO has xorriso (Debian's) make an ISO 9660 image of the directory root with the given mkisofs options
// (-R for Rock Ridge, -J for Joliet, --norock for neither) and returns it.
func MakeISO(t testing.TB, root string, options ...string) []byte {
	t.Helper()
	xorriso, err := exec.LookPath("xorriso")
	if err != nil {
		err = fmt.Errorf("%w (apt-get install -y xorriso)", err)
	}
	Require(t, "xorriso", err)
	out := filepath.Join(t.TempDir(), "image.iso")
	args := append([]string{"-as", "mkisofs", "-quiet", "-no-pad", "-o", out}, options...)
	if b, err := exec.CommandContext(context.Background(), xorriso, append(args, root)...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso %v: %v: %s", args, err, b)
	}
	img, err := os.ReadFile(out) //nolint:gosec // the test's own temporary file
	if err != nil {
		t.Fatal(err)
	}
	return img
}
