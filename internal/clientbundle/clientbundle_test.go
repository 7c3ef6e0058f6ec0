package clientbundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, body, link string
	dir              bool
}

func tarGz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil && h.Typeflag == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipped(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// serve answers the archive over HTTPS to requests with the user vendor/secret.
func serve(t *testing.T, archive []byte) (string, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "vendor" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="downloads"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(archive)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv.URL + "/client.bin", pool
}

func TestInstall(t *testing.T) {
	client := []entry{
		{name: "lib/", dir: true},
		{name: "lib/libnethsm.so", body: "ELF pretend"},
		{name: "lib/libnethsm.so.1", link: "libnethsm.so"},
		{name: "etc/proteccio.rc.example", body: "[PROTECCIO]\n"},
	}
	tgz := tarGz(t, client...)
	zp := zipped(t, entry{name: "lib/libnethsm.so", body: "ELF pretend"})

	for _, tc := range []struct {
		name    string
		archive []byte
		mod     func(*Options)
		wantErr string
	}{
		{name: "tar.gz", archive: tgz},
		{name: "zip", archive: zp, mod: func(o *Options) { o.Format = "zip" }},
		{name: "bad checksum", archive: tgz, mod: func(o *Options) { o.SHA256 = strings.Repeat("ab", 32) },
			wantErr: "not the expected " + strings.Repeat("ab", 32) + ": refusing to install it"},
		{name: "bad credentials", archive: tgz, mod: func(o *Options) { o.Password = "wrong" },
			wantErr: "the server answered 401 Unauthorized: check the credentials"},
		{name: "missing library", archive: tgz, mod: func(o *Options) { o.Library = "lib/libCryptoki2.so" },
			wantErr: "the bundle has no PKCS#11 library at lib/libCryptoki2.so"},
		{name: "an entry escaping the directory", archive: tarGz(t, entry{name: "../evil", body: "x"}),
			wantErr: `the bundle's entry "../evil" points outside the installation directory`},
		{name: "a link escaping the directory", archive: tarGz(t, entry{name: "lib/x", link: "../../../etc/passwd"}),
			wantErr: "points outside the installation directory"},
		{name: "plain http", archive: tgz, mod: func(o *Options) { o.URL = strings.Replace(o.URL, "https", "http", 1) },
			wantErr: "the bundle URL must be an https:// URL"},
		{name: "ISO", archive: tgz, mod: func(o *Options) { o.Format = "iso" },
			wantErr: `bundle format "iso": supported are tar.gz and zip`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, pool := serve(t, tc.archive)
			dest := filepath.Join(t.TempDir(), "hsm-client")
			o := Options{URL: url, SHA256: digest(tc.archive), Format: "tar.gz", Dest: dest,
				Library: "lib/libnethsm.so", Username: "vendor", Password: "secret", RootCAs: pool}
			if tc.mod != nil {
				tc.mod(&o)
			}
			err := Install(t.Context(), o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Install: %v, want an error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "wrong") {
					t.Errorf("the error shows the password: %v", err)
				}
				if _, serr := os.Stat(filepath.Join(dest, "lib", "libnethsm.so")); tc.name == "bad checksum" && serr == nil {
					t.Error("a bundle with the wrong digest was unpacked")
				}
				return
			}
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if b, err := os.ReadFile(filepath.Join(dest, "lib", "libnethsm.so")); err != nil || string(b) != "ELF pretend" {
				t.Errorf("library %q, %v", b, err)
			}
			left, _ := filepath.Glob(filepath.Join(dest, ".bundle-*"))
			if len(left) != 0 {
				t.Errorf("the download was left behind: %v", left)
			}
		})
	}
}
