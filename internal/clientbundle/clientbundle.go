// Package clientbundle installs an HSM vendor's client software from a downloaded archive: fetched over
// HTTPS (optionally with basic auth), checked against a SHA-256 digest before anything is read from it, and
// unpacked (tar.gz, zip or an ISO 9660 image) into a directory without letting an entry escape it or the
// unpacked size exceed a bound. It is what the init container of an
// HSMBackend with client.bundle runs (`keymanager manage hsm-client install`).
package clientbundle

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/keymanager-io/keymanager/internal/iso9660"
)

// Options say what to install where.
type Options struct {
	URL    string
	SHA256 string
	// Format is tar.gz (or tgz), zip, or iso (or iso9660).
	Format string
	Dest   string
	// Library, relative to Dest, must exist after unpacking: a bundle without it would only fail later,
	// when the server loads the PKCS#11 module.
	Library string
	// Username and Password authenticate the download (HTTP basic auth) when Username is set.
	Username, Password string
	// RootCAs trusts a private CA; nil means the system pool.
	RootCAs *x509.CertPool
	// MaxBytes bounds the download, and MaxUnpacked the bytes the unpacked files hold together (an archive
	// can expand far beyond its size; an ISO image can point many files at the same data). Both default to
	// 4 GiB.
	MaxBytes, MaxUnpacked int64
}

const defaultLimit = 4 << 30

// Install downloads, verifies and unpacks the bundle.
func Install(ctx context.Context, o Options) error {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("the bundle URL must be an https:// URL")
	}
	if u.User != nil {
		return errors.New("the bundle URL must not carry credentials: use the username and password settings")
	}
	want, err := hex.DecodeString(o.SHA256)
	if err != nil || len(want) != sha256.Size {
		return errors.New("the bundle's sha256 must be 64 hex digits")
	}
	switch o.Format {
	case "tar.gz", "tgz", "zip", "iso", "iso9660":
	default:
		return fmt.Errorf("bundle format %q: supported are tar.gz, zip and iso", o.Format)
	}
	if err := os.MkdirAll(o.Dest, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", o.Dest, err)
	}
	tmp, err := os.CreateTemp(o.Dest, ".bundle-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file in %s: %w", o.Dest, err)
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()

	// Hashed as it is written, so the archive is read back only to unpack it, once the digest matched.
	h := sha256.New()
	if err := download(ctx, u, o, io.MultiWriter(tmp, h)); err != nil {
		return err
	}
	if got := h.Sum(nil); !strings.EqualFold(hex.EncodeToString(got), o.SHA256) {
		return fmt.Errorf("the bundle's sha256 is %x, not the expected %s: refusing to install it", got, o.SHA256)
	}
	up := &unpacker{dest: o.Dest, limit: o.MaxUnpacked}
	if up.limit <= 0 {
		up.limit = defaultLimit
	}
	switch o.Format {
	case "zip":
		err = up.unzip(tmp)
	case "iso", "iso9660":
		err = up.unISO(tmp)
	default:
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		err = up.untar(tmp)
	}
	if err != nil {
		return err
	}
	if o.Library != "" {
		lib := filepath.Join(o.Dest, filepath.Clean("/"+o.Library))
		if fi, err := os.Stat(lib); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("the bundle has no PKCS#11 library at %s", o.Library)
		}
	}
	return nil
}

func download(ctx context.Context, u *url.URL, o Options, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if o.Username != "" {
		req.SetBasicAuth(o.Username, o.Password)
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading the bundle from %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("downloading the bundle from %s: the server answered %s: check the credentials", u.Redacted(), resp.Status)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("downloading the bundle from %s: the server answered %s", u.Redacted(), resp.Status)
	}
	limit := o.MaxBytes
	if limit <= 0 {
		limit = defaultLimit
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("downloading the bundle from %s: %w", u.Redacted(), err)
	}
	if n > limit {
		return fmt.Errorf("the bundle is larger than %d bytes", limit)
	}
	return nil
}

// target resolves an archive entry's name under dest, refusing names that would leave it.
func target(dest, name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("the bundle's entry %q points outside the installation directory", name)
	}
	return filepath.Join(dest, clean), nil
}

// linkTarget checks that a symbolic link stays inside dest.
func linkTarget(dest, path, link string) error {
	// An absolute target is read as relative to dest, where the client will be found.
	resolved := filepath.Join(dest, link)
	if !filepath.IsAbs(link) {
		resolved = filepath.Join(filepath.Dir(path), link)
	}
	rel, err := filepath.Rel(dest, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("the bundle's link %s -> %s points outside the installation directory", path, link)
	}
	return nil
}

// unpacker writes a bundle's entries under dest, at most limit bytes in all.
type unpacker struct {
	dest        string
	limit, used int64
}

func (u *unpacker) writeFile(path string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode.Perm()&0o750)
	if err != nil {
		return err
	}
	left := u.limit - u.used
	n, err := io.Copy(f, io.LimitReader(r, left+1))
	u.used += n
	if err == nil && n > left {
		err = fmt.Errorf("the bundle unpacks to more than the %d bytes allowed", u.limit)
	}
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// symlink makes the link path -> link, refusing a target outside dest.
func (u *unpacker) symlink(path, link string) error {
	if err := linkTarget(u.dest, path, link); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return os.Symlink(link, path)
}

func (u *unpacker) untar(r io.Reader) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading the bundle as tar.gz: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the bundle as tar.gz: %w", err)
		}
		path, err := target(u.dest, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o750)
		case tar.TypeReg:
			err = u.writeFile(path, tr, os.FileMode(h.Mode)) //nolint:gosec // masked to permission bits in writeFile
		case tar.TypeSymlink:
			err = u.symlink(path, h.Linkname)
		default:
			continue // devices, hard links and the like have no place in a client library
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", h.Name, err)
		}
	}
}

func (u *unpacker) unzip(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return fmt.Errorf("reading the bundle as zip: %w", err)
	}
	for _, zf := range zr.File {
		path, err := target(u.dest, zf.Name)
		if err != nil {
			return err
		}
		if zf.FileInfo().IsDir() {
			if err := os.MkdirAll(path, 0o750); err != nil {
				return err
			}
			continue
		}
		if !zf.Mode().IsRegular() {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", zf.Name, err)
		}
		err = u.writeFile(path, rc, zf.Mode())
		rc.Close()
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", zf.Name, err)
		}
	}
	return nil
}

// unISO unpacks an ISO 9660 image as the tar path does: directories, regular files and symbolic links that
// stay inside dest; Rock Ridge gives the names, modes and links (internal/iso9660).
func (u *unpacker) unISO(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	img, err := iso9660.Open(f, fi.Size())
	if err != nil {
		return fmt.Errorf("reading the bundle as an ISO image: %w", err)
	}
	err = img.Walk(func(e iso9660.Entry) error {
		path, err := target(u.dest, e.Path)
		if err != nil {
			return err
		}
		switch {
		case e.Mode.IsDir():
			err = os.MkdirAll(path, 0o750)
		case e.Mode.IsRegular():
			err = u.writeFile(path, img.Open(e), e.Mode)
		case e.Mode&os.ModeSymlink != 0:
			err = u.symlink(path, e.Link)
		default:
			return nil // devices, FIFOs and sockets have no place in a client library
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", e.Path, err)
		}
		return nil
	})
	if err != nil && errors.Is(err, iso9660.ErrFormat) {
		return fmt.Errorf("reading the bundle as an ISO image: %w", err)
	}
	return err
}
