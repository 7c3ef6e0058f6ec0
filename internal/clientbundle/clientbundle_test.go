package clientbundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
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

	runInstalls(t, "tar.gz", "lib/libnethsm.so", []installCase{
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
		{name: "an unknown format", archive: tgz, mod: func(o *Options) { o.Format = "rar" },
			wantErr: `bundle format "rar": supported are tar.gz, zip and iso`},
		{name: "a bundle unpacking past the bound", archive: tgz, mod: func(o *Options) { o.MaxUnpacked = 5 },
			wantErr: "the bundle unpacks to more than the 5 bytes allowed"},
	}, func(t *testing.T, dest string) {
		if b, err := os.ReadFile(filepath.Join(dest, "lib", "libnethsm.so")); err != nil || string(b) != "ELF pretend" {
			t.Errorf("library %q, %v", b, err)
		}
	})
}

type installCase struct {
	name    string
	archive []byte
	mod     func(*Options)
	wantErr string
}

// runInstalls installs each case's archive, served over HTTPS with basic auth, as format with library, after
// the case's changes to the options. A failure must say wantErr without showing the password (and a bad
// digest must leave nothing unpacked); a success must leave no download behind, and passes dest to installed.
func runInstalls(t *testing.T, format, library string, cases []installCase, installed func(t *testing.T, dest string)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, pool := serve(t, tc.archive)
			dest := filepath.Join(t.TempDir(), "hsm-client")
			o := Options{URL: url, SHA256: digest(tc.archive), Format: format, Dest: dest,
				Library: library, Username: "vendor", Password: "secret", RootCAs: pool}
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
				if entries, _ := os.ReadDir(dest); tc.name == "bad checksum" && len(entries) != 0 {
					t.Errorf("a bundle with the wrong digest was unpacked: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if left, _ := filepath.Glob(filepath.Join(dest, ".bundle-*")); len(left) != 0 {
				t.Errorf("the download was left behind: %v", left)
			}
			installed(t, dest)
		})
	}
}

// isoImage has xorriso make a Rock Ridge and Joliet image of a vendor-like client: the library two levels
// down with its versioned link, a link to a directory, an installer script, and the file zz that tests rename.
func isoImage(t *testing.T, extra map[string]string) []byte {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{"lib/64/libnethsm.so": "ELF pretend", "bin/install.sh": "#!/bin/sh\n", "zz": "z"}
	links := map[string]string{"lib/64/libnethsm.so.1": "libnethsm.so", "lib/current": "64"}
	maps.Copy(links, extra)
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil { //nolint:gosec // an executable fixture
			t.Fatal(err)
		}
	}
	for name, link := range links {
		if err := os.Symlink(link, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return testbed.MakeISO(t, root, "-R", "-J")
}

// An ISO 9660 bundle made by a real tool installs like a tarball: verified, unpacked with its nested library,
// links and modes, and refused as clearly when it is wrong.
func TestInstallISO(t *testing.T) {
	iso := isoImage(t, nil)
	escaping := bytes.Replace(bytes.Clone(iso), []byte("NM\x07\x01\x00zz"), []byte("NM\x07\x01\x00.."), 1)
	if bytes.Equal(escaping, iso) {
		t.Fatal("the image has no Rock Ridge name zz to rename")
	}
	runInstalls(t, "iso", "lib/64/libnethsm.so", []installCase{
		{name: "iso", archive: iso},
		{name: "iso9660", archive: iso, mod: func(o *Options) { o.Format = "iso9660" }},
		{name: "bad checksum", archive: iso, mod: func(o *Options) { o.SHA256 = strings.Repeat("cd", 32) },
			wantErr: "not the expected " + strings.Repeat("cd", 32) + ": refusing to install it"},
		{name: "bad credentials", archive: iso, mod: func(o *Options) { o.Username = "someone" },
			wantErr: "the server answered 401 Unauthorized: check the credentials"},
		{name: "missing library", archive: iso, mod: func(o *Options) { o.Library = "lib/libCryptoki2.so" },
			wantErr: "the bundle has no PKCS#11 library at lib/libCryptoki2.so"},
		{name: "an entry escaping the directory", archive: escaping,
			wantErr: `reading the bundle as an ISO image: not a readable ISO 9660 image: the entry ".." in / is not a plain file name`},
		{name: "a link escaping the directory", archive: isoImage(t, map[string]string{"lib/evil": "../../../etc/passwd"}),
			wantErr: "unpacking lib/evil: the bundle's link"},
		{name: "not an ISO image", archive: tarGz(t, entry{name: "lib/64/libnethsm.so", body: "ELF pretend"}),
			wantErr: "reading the bundle as an ISO image: not a readable ISO 9660 image"},
		{name: "an image unpacking past the bound", archive: iso, mod: func(o *Options) { o.MaxUnpacked = 12 },
			wantErr: "the bundle unpacks to more than the 12 bytes allowed"},
	}, func(t *testing.T, dest string) {
		// Through both links: lib/current -> 64, libnethsm.so.1 -> libnethsm.so.
		if b, err := os.ReadFile(filepath.Join(dest, "lib", "current", "libnethsm.so.1")); err != nil || string(b) != "ELF pretend" {
			t.Errorf("library through the links: %q, %v", b, err)
		}
		if fi, err := os.Stat(filepath.Join(dest, "bin", "install.sh")); err != nil || fi.Mode().Perm() != 0o750 {
			t.Errorf("install.sh: %v, %v; want 0750 (0755 masked as the tar path does)", fi, err)
		}
		if link, err := os.Readlink(filepath.Join(dest, "lib", "current")); err != nil || link != "64" {
			t.Errorf("lib/current -> %q, %v", link, err)
		}
	})
}
