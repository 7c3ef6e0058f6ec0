package testbed

import (
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// StartKube starts envtest's real kube-apiserver and etcd (built by hack/deps/envtest.sh) with the CRDs of
// crdDirs installed, and stops them when the test ends. A missing CRD directory fails the test rather
// than leaving the kinds unknown.
func StartKube(t testing.TB, crdDirs ...string) *rest.Config {
	t.Helper()
	env := &envtest.Environment{
		BinaryAssetsDirectory: EnvtestAssets(t),
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest control plane: %v", err)
		}
	})
	return cfg
}
