package testbed

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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

// Kubeconfig writes a kubeconfig file for the API server of cfg (from StartKube) and returns its path, for
// code under test that takes --kubeconfig. A non-empty impersonate makes every request act as that user, e.g.
// "system:serviceaccount:ns:name", so that the API server's RBAC decides what it may do.
func Kubeconfig(t testing.TB, cfg *rest.Config, impersonate string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, Impersonate: impersonate,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("writing a kubeconfig: %v", err)
	}
	return path
}

// LoopbackAddr returns a free 127.0.0.1 address for a listener of the code under test.
func LoopbackAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// HTTPGet fetches url and returns the status and body, or 0 and the error's text while nothing answers: for
// polling the probe and metrics endpoints of the code under test.
func HTTPGet(ctx context.Context, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}
