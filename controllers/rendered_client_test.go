package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestRenderedHSMClientBundle runs the ensure-keys Job of a backend whose client comes as a bundle, an ISO
// 9660 image as vendors ship them (made by xorriso): its init container downloads the image from an HTTPS
// server with basic auth, checks it and unpacks it into the pod's client volume, and the Job's container then
// loads the PKCS#11 library from there (SoftHSM2's, laid out like a vendor client: the versioned file and a
// link to it) and creates the master keys. Without the init container the library is missing.
func TestRenderedHSMClientBundle(t *testing.T) {
	tok := testbed.NewSoftHSM2Token(t)
	softhsmConf := "SOFTHSM2_CONF=" + os.Getenv("SOFTHSM2_CONF")
	lib, err := os.ReadFile(tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	archive := vendorISO(t, lib)
	sum := sha256.Sum256(archive)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "fetcher" || p != "download-secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(archive)
	}))
	t.Cleanup(srv.Close)
	// The server's certificate stands in for the CAs a cluster's nodes trust.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := buildKeymanager(t)
	e := startOperator(t)
	ns := e.namespace()
	e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
	e.secret(ns, "hsm-pin", map[string]string{"pin": tok.PIN})
	e.secret(ns, "download", map[string]string{"username": "fetcher", "password": "download-secret"})
	b := newHSMBackend(ns, "bundled", func(s *kmv1.HSMBackendSpec) {
		s.Vendor, s.Token = kmv1.VendorSoftHSM, kmv1.TokenSelector{Labels: []string{tok.Label}}
		s.LibraryPath = "/opt/hsm-client/lib/libsofthsm2.so"
		s.Client = &kmv1.HSMClient{Bundle: &kmv1.HSMClientBundle{URL: srv.URL + "/client.iso", SHA256: hex.EncodeToString(sum[:]),
			Format: "iso", CredentialsSecretRef: &corev1.LocalObjectReference{Name: "download"}}}
	})
	e.create(b)
	km := newKeyManager(ns, "kms", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.SecretStores = ptr.To[int32](1), hsmStore("bundled")
	})
	e.create(km)

	job := e.backendJob(b, "ensure-keys")
	pod := job.Spec.Template.Spec
	if len(pod.InitContainers) != 1 {
		t.Fatalf("the ensure-keys Job has %d init containers, want the client install", len(pod.InitContainers))
	}
	run := func(root string, c corev1.Container, extra ...string) (string, error) {
		out, err := e.renderIn(root, ns, pod, c).command(t.Context(), bin, extra...).CombinedOutput()
		return string(out), err
	}

	t.Run("without the client the library is missing", func(t *testing.T) {
		out, err := run(t.TempDir(), pod.Containers[0], softhsmConf)
		if err == nil || !strings.Contains(out, "libsofthsm2.so") {
			t.Fatalf("ensure-keys without its client: %v\n%s", err, out)
		}
	})

	root := t.TempDir()
	if out, err := run(root, pod.InitContainers[0], "SSL_CERT_FILE="+caFile); err != nil {
		t.Fatalf("the client install init container failed: %v\n%s", err, out)
	}
	if out, err := run(root, pod.Containers[0], softhsmConf); err != nil {
		t.Fatalf("ensure-keys with the installed client failed: %v\n%s", err, out)
	}
	check := pod.Containers[0]
	check.Args = []string{"manage", "hsm", "check-mkek"}
	if out, err := run(root, check, softhsmConf); err != nil {
		t.Fatalf("check-mkek after ensure-keys: %v\n%s", err, out)
	}

	e.finishJob(job, true, "")
	e.finishJob(e.migrationJob(km), true, "")
	// The servers get the same client install as the Jobs.
	dep := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
	e.eventually("StatefulSet", func() bool { return e.get(dep) == nil })
	if ic := dep.Spec.Template.Spec.InitContainers; len(ic) != 1 || !slices.Contains(ic[0].Args, "hsm-client") ||
		!slices.ContainsFunc(dep.Spec.Template.Spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/opt/hsm-client" }) {
		t.Errorf("the server pod does not install the client: init %+v", ic)
	}

	t.Run("a wrong checksum fails the install", func(t *testing.T) {
		bad := pod.InitContainers[0]
		bad.Args = append([]string(nil), bad.Args...)
		for i, a := range bad.Args {
			if a == "--sha256" {
				bad.Args[i+1] = strings.Repeat("0", 64)
			}
		}
		out, err := run(t.TempDir(), bad, "SSL_CERT_FILE="+caFile)
		if err == nil || !strings.Contains(out, "sha256") {
			t.Fatalf("install with a wrong checksum: %v\n%s", err, out)
		}
	})

	// New download credentials roll the servers: the Secret's version is part of the pod template's hash.
	hash := dep.Spec.Template.Annotations[annotationConfigHash]
	download := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "download"}}
	e.modify(download, func() { download.Data["password"] = []byte("rotated") })
	e.eventually("the Deployment rolls for the new credentials", func() bool {
		return e.get(dep) == nil && dep.Spec.Template.Annotations[annotationConfigHash] != hash
	})
	// Which the download server does not accept: the install says so.
	out, err := run(t.TempDir(), pod.InitContainers[0], "SSL_CERT_FILE="+caFile)
	if err == nil || !strings.Contains(out, "401") || !strings.Contains(out, "credentials") || strings.Contains(out, "rotated") {
		t.Errorf("install with wrong credentials: %v\n%s", err, out)
	}
}

// vendorISO is an ISO image of a client tree holding lib, the way vendors lay out theirs: the versioned
// library in a subdirectory, the name the configuration uses a link to it.
func vendorISO(t *testing.T, lib []byte) []byte {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "lib", "64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib", "64", "libsofthsm2.so.2.6.1"), lib, 0o755); err != nil { //nolint:gosec // a library
		t.Fatal(err)
	}
	if err := os.Symlink("64/libsofthsm2.so.2.6.1", filepath.Join(root, "lib", "libsofthsm2.so")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "README"), []byte("a vendor client\n"), 0o644); err != nil { //nolint:gosec // a fixture
		t.Fatal(err)
	}
	return testbed.MakeISO(t, root, "-R", "-J")
}
