package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// node is a file (body), a symbolic link (link) or a directory (dir) of a test tree.
type node struct {
	body, link string
	dir        bool
	mode       fs.FileMode
}

const deep = "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"

// clientTree is laid out like a vendor client: a nested library with its versioned link, a link to a
// directory, an absolute link, a long name, an empty file, and a directory deeper than ECMA-119's eight levels.
var clientTree = map[string]node{
	"lib/64/libCryptoki2.so":    {body: "ELF pretend", mode: 0o755},
	"lib/64/libCryptoki2.so.10": {link: "libCryptoki2.so"},
	"etc/libs":                  {link: "../lib/64"},
	"etc/client-root":           {link: "/usr/safenet/lunaclient"},
	"etc/a-rather-long-file-name-that-needs-rock-ridge.example": {body: "[Chrystoki2]\n", mode: 0o640},
	"empty":          {body: "", mode: 0o644},
	deep + "/nested": {body: "deep", mode: 0o600},
	"etc/conf.d":     {dir: true, mode: 0o750},
	"readme.txt":     {body: "read me", mode: 0o644},
	"zz":             {body: "renamed by tests", mode: 0o644},
}

// layOut writes tree under a new directory and returns it.
func layOut(t testing.TB, tree map[string]node) string {
	t.Helper()
	root := t.TempDir()
	for name, n := range tree {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case n.dir:
			err = os.MkdirAll(p, n.mode)
		case n.link != "":
			err = os.Symlink(n.link, p)
		default:
			err = os.WriteFile(p, []byte(n.body), n.mode)
		}
		if err == nil && !n.dir && n.link == "" {
			err = os.Chmod(p, n.mode) // past the umask
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// seen is what Walk reported of one entry.
type seen struct {
	mode fs.FileMode
	link string
	body string
}

func walkAll(t testing.TB, image []byte) (map[string]seen, error) {
	t.Helper()
	img, err := Open(bytes.NewReader(image), int64(len(image)))
	if err != nil {
		return nil, err
	}
	got := map[string]seen{}
	err = img.Walk(func(e Entry) error {
		s := seen{mode: e.Mode, link: e.Link}
		if e.Mode.IsRegular() {
			b, err := io.ReadAll(img.Open(e))
			if err != nil {
				return err
			}
			s.body = string(b)
		}
		got[e.Path] = s
		return nil
	})
	return got, err
}

// The Rock Ridge images xorriso makes read back as the tree they were made from: names, modes, links and
// contents, with or without Joliet beside them, with deep directories in place or relocated (CL/RE).
func TestRockRidge(t *testing.T) {
	root := layOut(t, clientTree)
	for name, options := range map[string][]string{
		"rock ridge":              {"-R"},
		"rock ridge and joliet":   {"-R", "-J"},
		"relocated deep dirs":     {"-R", "-rr_reloc_dir", "rr_moved"},
		"rock ridge, iso level 3": {"-R", "-iso-level", "3"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := walkAll(t, testbed.MakeISO(t, root, options...))
			if err != nil {
				t.Fatal(err)
			}
			delete(got, "rr_moved")
			want := map[string]seen{}
			for name, n := range clientTree {
				for d := path.Dir(name); d != "."; d = path.Dir(d) {
					if _, ok := want[d]; !ok {
						want[d] = seen{mode: fs.ModeDir | 0o755}
					}
				}
				switch {
				case n.dir:
					want[name] = seen{mode: fs.ModeDir | n.mode}
				case n.link != "":
					want[name] = seen{mode: fs.ModeSymlink | 0o777, link: n.link}
				default:
					want[name] = seen{mode: n.mode, body: n.body}
				}
			}
			for p, w := range want {
				if got[p] != w {
					t.Errorf("%s: %+v, want %+v", p, got[p], w)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("unexpected entry %s: %+v", p, got[p])
				}
			}
		})
	}
}

// Without Rock Ridge, Joliet gives the names (as they were, up to its 64 characters) and plain ISO 9660 its
// upper-case 8.3 names in lower case, as Linux shows them; neither has links or modes.
func TestJolietAndPlain(t *testing.T) {
	root := layOut(t, clientTree)
	j, err := walkAll(t, testbed.MakeISO(t, root, "--norock", "-J"))
	if err != nil {
		t.Fatal(err)
	}
	if s := j["lib/64/libCryptoki2.so"]; s.body != "ELF pretend" || s.mode != 0o755 {
		t.Errorf("Joliet library: %+v", s)
	}
	if _, ok := j["etc/a-rather-long-file-name-that-needs-rock-ridge.example"]; !ok {
		t.Errorf("Joliet lost the long name: %v", j)
	}
	if _, ok := j["etc/libs"]; ok {
		t.Error("a Joliet image has a symbolic link")
	}
	p, err := walkAll(t, testbed.MakeISO(t, root, "--norock"))
	if err != nil {
		t.Fatal(err)
	}
	if s := p["readme.txt"]; s.body != "read me" || s.mode != 0o755 {
		t.Errorf("plain ISO 9660 readme.txt: %+v (entries %v)", s, p)
	}
	if s := p["lib/64"]; !s.mode.IsDir() {
		t.Errorf("plain ISO 9660 lib/64: %+v", s)
	}
}

// find returns the entry at p of image.
func find(t *testing.T, image []byte, p string) Entry {
	t.Helper()
	img, err := Open(bytes.NewReader(image), int64(len(image)))
	if err != nil {
		t.Fatal(err)
	}
	var found *Entry
	if err := img.Walk(func(e Entry) error {
		if e.Path == p {
			found = &e
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if found == nil {
		t.Fatalf("no %s in the image", p)
	}
	return *found
}

// Real images broken the ways a hostile or damaged bundle could be give clear errors, never a panic.
func TestBrokenImages(t *testing.T) {
	good := testbed.MakeISO(t, layOut(t, clientTree), "-R")
	rootExtent := binary.LittleEndian.Uint32(good[firstDescriptor*sectorSize+156+2:])
	lib, zz := find(t, good, "lib/64/libCryptoki2.so"), find(t, good, "zz")
	libDir := find(t, good, "lib")

	for _, tc := range []struct {
		name  string
		patch func([]byte) []byte
		want  string
	}{
		{"not an image", func([]byte) []byte { return make([]byte, 40<<10) }, "has no CD001 identifier"},
		{"truncated", func(b []byte) []byte { return b[:firstDescriptor*sectorSize+100] }, "outside the"},
		{"truncated files", func(b []byte) []byte { return b[:lib.offset+2] }, "outside the"},
		{"a multi-extent file", func(b []byte) []byte { b[lib.record+25] |= flagMultiExtent; return b },
			"lib/64/libCryptoki2.so is a multi-extent file (over 4 GiB): not supported"},
		{"an interleaved file", func(b []byte) []byte { b[lib.record+26] = 1; return b }, "interleaved file: not supported"},
		{"a file past the end", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[lib.record+10:], 1<<31)
			return b
		}, "lib/64/libCryptoki2.so: 2147483648 bytes at offset"},
		{"a name leaving its directory", func(b []byte) []byte { return rename(t, b, zz, "..") },
			`the entry ".." in / is not a plain file name`},
		{"a name with a slash", func(b []byte) []byte { return rename(t, b, zz, "z/") },
			`the entry "z/" in / is not a plain file name`},
		{"a directory looping to the root", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[libDir.record+2:], rootExtent)
			return b
		}, "directory lib has the extent of a directory already read (a loop)"},
		{"a broken SUSP entry", func(b []byte) []byte { return patchSUSP(t, b, zz, "NM", 0xff) }, `a SUSP "NM" entry of 255 bytes`},
		{"a directory of 4 GiB", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[libDir.record+10:], 1<<32-1)
			return b
		}, "a directory of 4294967295 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := walkAll(t, tc.patch(bytes.Clone(good)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrFormat) {
				t.Errorf("%v, want an ErrFormat containing %q", err, tc.want)
			}
		})
	}
}

// A walk reads a bounded number of entries and directory bytes, whatever the image says.
func TestWalkBounds(t *testing.T) {
	image := testbed.MakeISO(t, layOut(t, clientTree), "-R")
	for _, tc := range []struct {
		limit *int64
		value int64
		want  string
	}{
		{&maxEntries, 3, "more than 3 entries"},
		{&maxDirectoryBytes, 3 * sectorSize, "directories of more than 6144 bytes in all"},
	} {
		saved := *tc.limit
		*tc.limit = tc.value
		_, err := walkAll(t, image)
		*tc.limit = saved
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
	if _, err := walkAll(t, image); err != nil {
		t.Fatalf("within the bounds: %v", err)
	}
}

// rename replaces e's two-character Rock Ridge name in image.
func rename(t *testing.T, image []byte, e Entry, name string) []byte {
	t.Helper()
	nm := []byte("NM\x07\x01\x00" + path.Base(e.Path))
	rec := image[e.record : e.record+int64(image[e.record])]
	i := bytes.Index(rec, nm)
	if i < 0 || len(name) != len(path.Base(e.Path)) {
		t.Fatalf("no NM entry %q in the record of %s", nm, e.Path)
	}
	copy(rec[i+5:], name)
	return image
}

// patchSUSP sets the length byte of the SUSP entry sig in e's record.
func patchSUSP(t *testing.T, image []byte, e Entry, sig string, length byte) []byte {
	t.Helper()
	rec := image[e.record : e.record+int64(image[e.record])]
	i := bytes.Index(rec[33:], []byte(sig))
	if i < 0 {
		t.Fatalf("no %s entry in the record of %s", sig, e.Path)
	}
	rec[33+i+2] = length
	return image
}

// FuzzISO9660 reads mutations of real images: Open and Walk may refuse them but must not panic or hang, and
// every path they report stays relative and clean. The inputs leave out the 32 KiB system area, zeros that
// the reader never looks at, which would only slow the fuzzer down (it minimises what it finds byte by byte).
func FuzzISO9660(f *testing.F) {
	const systemArea = firstDescriptor * sectorSize
	root := layOut(f, clientTree)
	for _, options := range [][]string{{"-R", "-J"}, {"-R", "-rr_reloc_dir", "rr_moved"}, {"--norock", "-J"}, {"--norock"}} {
		f.Add(testbed.MakeISO(f, root, options...)[systemArea:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		image := append(make([]byte, systemArea, systemArea+len(data)), data...)
		img, err := Open(bytes.NewReader(image), int64(len(image)))
		if err != nil {
			return
		}
		// Files may share their data, so reading them all could take the square of the image's size: the
		// installer bounds what it writes, and so does this.
		left := int64(1 << 20)
		_ = img.Walk(func(e Entry) error {
			if e.Path == "" || path.Clean(e.Path) != e.Path || path.IsAbs(e.Path) || strings.HasPrefix(e.Path, "..") {
				t.Fatalf("Walk reported the path %q", e.Path)
			}
			if e.Mode.IsRegular() {
				n, err := io.Copy(io.Discard, io.LimitReader(img.Open(e), left))
				if left -= n; err != nil || left == 0 {
					return errors.New("enough")
				}
			}
			return nil
		})
	})
}

// BenchmarkWalk reads a Rock Ridge image's tree and every file in it: what an init container does once.
func BenchmarkWalk(b *testing.B) {
	image := testbed.MakeISO(b, layOut(b, clientTree), "-R", "-J")
	b.SetBytes(int64(len(image)))
	for b.Loop() {
		if _, err := walkAll(b, image); err != nil {
			b.Fatal(err)
		}
	}
}
