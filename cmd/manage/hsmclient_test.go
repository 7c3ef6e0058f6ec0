package manage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// TestHSMClientInstall runs `manage hsm-client install` as the init container does: flags from the
// environment, credentials from KEYMANAGER_HSM_CLIENT_USERNAME/_PASSWORD, the server's CA from --ca-file.
func TestHSMClientInstall(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("ELF pretend")
	if err := tw.WriteHeader(&tar.Header{Name: "lib/libCryptoki2.so", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	archive := buf.Bytes()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "vendor" || p != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(archive)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	dest := filepath.Join(t.TempDir(), "client")
	t.Setenv("KEYMANAGER_HSM_CLIENT_USERNAME", "vendor")
	t.Setenv("KEYMANAGER_HSM_CLIENT_PASSWORD", "s3cret")
	t.Setenv("KEYMANAGER_SHA256", hex.EncodeToString(sum[:]))

	root := &cobra.Command{Use: "keymanager", SilenceUsage: true, SilenceErrors: true}
	AddCommandTo(root)
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"manage", "hsm-client", "install", "--url", srv.URL + "/luna.tar.gz", "--dest", dest,
		"--ca-file", ca, "--library", "lib/libCryptoki2.so"})
	if err := root.Execute(); err != nil {
		t.Fatalf("install: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "lib", "libCryptoki2.so")); err != nil || !bytes.Equal(b, body) {
		t.Errorf("library %q, %v", b, err)
	}
}
