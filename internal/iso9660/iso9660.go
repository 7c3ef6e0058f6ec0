// Package iso9660 reads the files, directories and symbolic links of an ISO 9660 image (ECMA-119), the form
// in which HSM vendors ship their clients (Thales Luna's client ISO, Proteccio's). It understands Rock Ridge
// (names, modes and symbolic links from the NM, PX and SL entries of SUSP, deep directories relocated with
// CL and RE), Joliet (UTF-16 names) when an image
// has no Rock Ridge, and plain ISO 9660 names otherwise.
//
// It is written by hand because no ISO 9660 reader among the Go modules this project may use is both kept
// up and small: the readers that exist come inside disk-image toolkits that would bring far more code (and
// dependencies) than reading one image needs. What it needs is small: the primary volume descriptor,
// directory records, and four kinds of SUSP entry.
//
// Every offset and length comes from the image, so each is checked against the image's size before it is
// used: a broken or hostile image gives an error, never a panic or an unbounded loop. Multi-extent files
// (over 4 GiB) and interleaved files are refused: no client library is that large, and supporting them would
// add code for nothing.
package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"unicode/utf16"
)

const (
	sectorSize = 2048
	// firstDescriptor is the sector of the first volume descriptor, after the 32 KiB system area.
	firstDescriptor = 16
	// maxDescriptors bounds the volume descriptor set (a real image has three or four).
	maxDescriptors = 64
	// maxDepth bounds the directory nesting; ECMA-119 allows 8, Rock Ridge images go deeper.
	maxDepth = 64
	// maxContinuations bounds a record's chain of SUSP continuation areas.
	maxContinuations = 16
	// maxLinkLength bounds a symbolic link's target (PATH_MAX).
	maxLinkLength = 4096
	// maxDirectory bounds one directory's records (some 400 000 entries), so that a hostile length cannot
	// make Walk allocate the size of the image.
	maxDirectory = 16 << 20
)

// maxDirectoryBytes and maxEntries bound a whole walk: directories of a hostile image can overlap, so that
// without them the work would grow with the square of the image's size. Variables for the tests.
var (
	maxDirectoryBytes int64 = 256 << 20
	maxEntries        int64 = 1 << 20
)

// ErrFormat is wrapped by every error about the image's content.
var ErrFormat = errors.New("not a readable ISO 9660 image")

func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Entry is one file, directory or symbolic link of the image.
type Entry struct {
	// Path is slash-separated and relative to the image's root, e.g. "lib/libCryptoki2.so". Its
	// components are never empty, ".", ".." or contain a slash or NUL: Walk refuses such names.
	Path string
	// Mode has fs.ModeDir or fs.ModeSymlink for those, and the permission bits from Rock Ridge (0o755 for
	// files and directories of an image without it).
	Mode fs.FileMode
	// Link is a symbolic link's target as Rock Ridge records it.
	Link string
	// Size is a file's length in bytes.
	Size   int64
	offset int64
	// record is where the entry's directory record lies in the image (for tests that break it).
	record int64
}

// Image is an opened ISO 9660 image.
type Image struct {
	r    io.ReaderAt
	size int64
	root dirRecord
	// rockRidge: the records carry SUSP entries after skip bytes of padding; joliet: names are UTF-16.
	rockRidge bool
	skip      int
	joliet    bool
	// dirBytes and entries count what the current Walk has read.
	dirBytes, entries int64
}

// dirRecord is the part of a directory record that Walk uses.
type dirRecord struct {
	extent int64 // in sectors
	length int64
	flags  byte
	name   []byte
	su     []byte // the System Use area
	// unitSize and gap are non-zero for interleaved files.
	unitSize, gap byte
	extAttr       byte
	pos           int64 // the record's offset in the image
}

const (
	flagDirectory   = 0x02
	flagMultiExtent = 0x80
)

// Open reads the volume descriptors of the image of size bytes in r.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	img := &Image{r: r, size: size}
	var pvd, joliet []byte
	for i := range maxDescriptors {
		d, err := img.sector(firstDescriptor + int64(i))
		if err != nil {
			return nil, err
		}
		if string(d[1:6]) != "CD001" {
			return nil, formatError("volume descriptor %d has no CD001 identifier", i)
		}
		switch d[0] {
		case 1:
			if pvd == nil {
				pvd = d
			}
		case 2:
			// A supplementary descriptor is Joliet when its escape sequences name UCS-2 (levels 1 to 3).
			if esc := d[88:91]; joliet == nil && esc[0] == '%' && esc[1] == '/' && bytes.IndexByte([]byte("@CE"), esc[2]) >= 0 {
				joliet = d
			}
		case 255:
			if pvd == nil {
				return nil, formatError("no primary volume descriptor")
			}
			return img.init(pvd, joliet)
		}
	}
	return nil, formatError("no volume descriptor set terminator in the first %d descriptors", maxDescriptors)
}

func (img *Image) init(pvd, joliet []byte) (*Image, error) {
	if bs := binary.LittleEndian.Uint16(pvd[128:]); bs != sectorSize {
		return nil, formatError("logical block size %d (only %d is supported)", bs, sectorSize)
	}
	root, _, err := parseRecord(pvd[156:190])
	if err != nil {
		return nil, fmt.Errorf("the root directory record: %w", err)
	}
	img.root = root
	// Rock Ridge announces itself by an SP entry at the start of the root's "." record (SUSP 5.3), which also
	// says how many bytes every System Use area skips.
	dot, err := img.firstRecord(root)
	if err != nil {
		return nil, err
	}
	if su := dot.su; len(su) >= 7 && string(su[:2]) == "SP" && su[4] == 0xBE && su[5] == 0xEF {
		img.rockRidge, img.skip = true, int(su[6])
		return img, nil
	}
	if joliet != nil {
		if root, _, err = parseRecord(joliet[156:190]); err != nil {
			return nil, fmt.Errorf("the Joliet root directory record: %w", err)
		}
		img.root, img.joliet = root, true
	}
	return img, nil
}

// sector reads sector n whole.
func (img *Image) sector(n int64) ([]byte, error) {
	return img.read(n*sectorSize, sectorSize)
}

// read reads length bytes at off, which must lie inside the image.
func (img *Image) read(off, length int64) ([]byte, error) {
	if off < 0 || length < 0 || off > img.size || length > img.size-off {
		return nil, formatError("%d bytes at offset %d lie outside the %d-byte image", length, off, img.size)
	}
	b := make([]byte, length)
	if _, err := img.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("reading the image at offset %d: %w", off, err)
	}
	return b, nil
}

// parseRecord decodes the directory record at the start of b, returning it and its length.
func parseRecord(b []byte) (dirRecord, int, error) {
	n := int(b[0])
	if n < 34 || n > len(b) {
		return dirRecord{}, 0, formatError("a directory record of %d bytes", n)
	}
	nameLen := int(b[32])
	if 33+nameLen > n {
		return dirRecord{}, 0, formatError("a directory record of %d bytes with a %d-byte name", n, nameLen)
	}
	r := dirRecord{
		extAttr: b[1], extent: int64(binary.LittleEndian.Uint32(b[2:])), length: int64(binary.LittleEndian.Uint32(b[10:])),
		flags: b[25], unitSize: b[26], gap: b[27], name: b[33 : 33+nameLen],
	}
	su := 33 + nameLen
	if nameLen%2 == 0 {
		su++ // the padding byte that keeps the System Use area at an even offset
	}
	if su < n {
		r.su = b[su:n]
	}
	return r, n, nil
}

// records reads the records of directory d. Records do not cross sector boundaries: a zero length byte ends
// a sector's records.
func (img *Image) records(d dirRecord) ([]dirRecord, error) {
	if d.length > maxDirectory {
		return nil, formatError("a directory of %d bytes (at most %d are read)", d.length, maxDirectory)
	}
	if img.dirBytes += d.length; img.dirBytes > maxDirectoryBytes {
		return nil, formatError("directories of more than %d bytes in all", maxDirectoryBytes)
	}
	base := (d.extent + int64(d.extAttr)) * sectorSize
	data, err := img.read(base, d.length)
	if err != nil {
		return nil, err
	}
	var out []dirRecord
	for off := 0; off < len(data); {
		if data[off] == 0 {
			off = (off/sectorSize + 1) * sectorSize
			continue
		}
		end := min((off/sectorSize+1)*sectorSize, len(data))
		r, n, err := parseRecord(data[off:end])
		if err != nil {
			return nil, err
		}
		r.pos = base + int64(off)
		out = append(out, r)
		off += n
	}
	return out, nil
}

func (img *Image) firstRecord(d dirRecord) (dirRecord, error) {
	rs, err := img.records(d)
	if err != nil {
		return dirRecord{}, err
	}
	if len(rs) == 0 {
		return dirRecord{}, formatError("an empty directory extent")
	}
	return rs[0], nil
}

// Walk calls fn for every entry of the image, a directory before its contents. It stops at the first error
// of fn or of the image.
func (img *Image) Walk(fn func(Entry) error) error {
	img.dirBytes, img.entries = 0, 0
	return img.walk(img.root, "", 0, map[int64]bool{img.root.extent: true}, fn)
}

func (img *Image) walk(dir dirRecord, parent string, depth int, seen map[int64]bool, fn func(Entry) error) error {
	if depth > maxDepth {
		return formatError("directories nested deeper than %d at %s", maxDepth, parent)
	}
	rs, err := img.records(dir)
	if err != nil {
		return fmt.Errorf("directory /%s: %w", parent, err)
	}
	for _, r := range rs {
		if len(r.name) == 1 && r.name[0] <= 1 {
			continue // "." and ".."
		}
		if img.entries++; img.entries > maxEntries {
			return formatError("more than %d entries", maxEntries)
		}
		e, r, skip, err := img.entry(r, parent)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		if r.flags&flagMultiExtent != 0 {
			return formatError("%s is a multi-extent file (over 4 GiB): not supported", e.Path)
		}
		if r.unitSize != 0 || r.gap != 0 {
			return formatError("%s is an interleaved file: not supported", e.Path)
		}
		if err := fn(e); err != nil {
			return err
		}
		if e.Mode.IsDir() {
			if seen[r.extent] {
				return formatError("directory %s has the extent of a directory already read (a loop)", e.Path)
			}
			seen[r.extent] = true
			if err := img.walk(r, e.Path, depth+1, seen, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry turns record r under parent into an Entry, and the record of the directory it stands for when it is
// a relocated directory's child link; skip is set for records that are not entries of their own.
func (img *Image) entry(r dirRecord, parent string) (Entry, dirRecord, bool, error) {
	e := Entry{Mode: 0o755, Size: r.length, offset: (r.extent + int64(r.extAttr)) * sectorSize, record: r.pos}
	if r.flags&flagDirectory != 0 {
		e.Mode |= fs.ModeDir
	}
	name := img.plainName(r.name)
	if img.rockRidge {
		rr, err := img.rockRidgeEntries(r)
		if err != nil {
			return e, r, false, fmt.Errorf("the Rock Ridge entries of %s: %w", path.Join(parent, name), err)
		}
		switch {
		case rr.relocated:
			return e, r, true, nil // a directory moved here for depth; its child link (CL) places it
		case rr.hasChildLink:
			// A deep directory moved elsewhere (rr_moved) is a file here whose CL names the directory's extent;
			// the directory's own "." record has its length.
			dot, err := img.firstRecord(dirRecord{extent: rr.childLink, length: sectorSize})
			if err != nil {
				return e, r, false, fmt.Errorf("the relocated directory %s: %w", path.Join(parent, name), err)
			}
			r.extent, r.length, r.extAttr, r.flags = rr.childLink, dot.length, dot.extAttr, r.flags|flagDirectory
			e.Mode |= fs.ModeDir
		}
		if rr.hasName {
			name = rr.name
		}
		if rr.hasMode {
			e.Mode = rr.mode
		}
		e.Link = rr.link
		if rr.hasLink && !e.Mode.IsDir() {
			e.Mode = fs.ModeSymlink | e.Mode.Perm()
		}
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return e, r, false, formatError("the entry %q in /%s is not a plain file name (it could lead out of its directory)", name, parent)
	}
	e.Path = path.Join(parent, name)
	if e.Mode&fs.ModeSymlink != 0 && e.Link == "" {
		return e, r, false, formatError("the symbolic link %s has no target", e.Path)
	}
	if e.Mode.IsRegular() && e.offset+e.Size > img.size {
		return e, r, false, formatError("%s: %d bytes at offset %d lie outside the %d-byte image", e.Path, e.Size, e.offset, img.size)
	}
	return e, r, false, nil
}

// plainName is the ISO 9660 or Joliet name as Linux shows it by default (map=normal): the version (";1")
// and a trailing dot removed, ISO 9660's upper case lowered.
func (img *Image) plainName(b []byte) string {
	var name string
	if img.joliet {
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(b[2*i:])
		}
		name = string(utf16.Decode(u))
	} else {
		name = strings.ToLower(string(b))
	}
	if i := strings.LastIndexByte(name, ';'); i >= 0 {
		name = name[:i]
	}
	if !img.joliet {
		name = strings.TrimSuffix(name, ".")
	}
	return name
}

// rockRidge is what a record's Rock Ridge entries say.
type rockRidge struct {
	name             string
	hasName, hasMode bool
	mode             fs.FileMode
	link             string
	hasLink          bool
	relocated        bool
	// childLink is the extent of the relocated directory a CL entry points to.
	childLink    int64
	hasChildLink bool
	linkDone     bool // the last SL component ended
}

// rockRidgeEntries reads the SUSP entries of r's System Use area and of its continuation areas.
func (img *Image) rockRidgeEntries(r dirRecord) (rockRidge, error) {
	var rr rockRidge
	if img.skip > len(r.su) {
		return rr, nil
	}
	area := r.su[img.skip:]
	for hops := 0; ; hops++ {
		next, err := rr.parse(area)
		if err != nil {
			return rr, err
		}
		if next == nil {
			return rr, nil
		}
		if hops == maxContinuations {
			return rr, formatError("more than %d SUSP continuation areas", maxContinuations)
		}
		if next[2] > sectorSize {
			return rr, formatError("a SUSP continuation area of %d bytes", next[2])
		}
		if area, err = img.read(next[0]*sectorSize+next[1], next[2]); err != nil {
			return rr, err
		}
	}
}

// parse reads the entries of one System Use area; next is a continuation area's sector, offset and length.
func (rr *rockRidge) parse(area []byte) (next []int64, err error) {
	for len(area) >= 4 {
		sig, n := string(area[:2]), int(area[2])
		if n < 4 || n > len(area) {
			return nil, formatError("a SUSP %q entry of %d bytes in %d", sig, n, len(area))
		}
		body := area[4:n]
		area = area[n:]
		switch sig {
		case "ST":
			return next, nil
		case "CE":
			if len(body) < 24 {
				return nil, formatError("a short CE entry")
			}
			next = []int64{int64(binary.LittleEndian.Uint32(body[0:])), int64(binary.LittleEndian.Uint32(body[8:])),
				int64(binary.LittleEndian.Uint32(body[16:]))}
		case "PX":
			if len(body) < 8 {
				return nil, formatError("a short PX entry")
			}
			rr.mode, rr.hasMode = posixMode(binary.LittleEndian.Uint32(body[0:])), true
		case "NM":
			if len(body) < 1 {
				return nil, formatError("a short NM entry")
			}
			if body[0]&0x06 != 0 {
				continue // CURRENT or PARENT: "." or "..", which a record's own name is never
			}
			rr.name += string(body[1:])
			rr.hasName = true
		case "SL":
			if err := rr.symlink(body); err != nil {
				return nil, err
			}
		case "RE":
			rr.relocated = true
		case "CL":
			if len(body) < 8 {
				return nil, formatError("a short CL entry")
			}
			rr.childLink, rr.hasChildLink = int64(binary.LittleEndian.Uint32(body[0:])), true
		}
	}
	return next, nil
}

// symlink adds the components of an SL entry's body (its flags byte, then the component records) to rr.link.
func (rr *rockRidge) symlink(body []byte) error {
	if len(body) < 1 {
		return formatError("a short SL entry")
	}
	rr.hasLink = true
	for c := body[1:]; len(c) > 0; {
		if len(c) < 2 || 2+int(c[1]) > len(c) {
			return formatError("a truncated SL component")
		}
		flags, content := c[0], c[2:2+int(c[1])]
		c = c[2+int(c[1]):]
		var part string
		switch {
		case flags&0x02 != 0:
			part = "."
		case flags&0x04 != 0:
			part = ".."
		case flags&0x08 != 0:
			part = "/"
		default:
			part = string(content)
		}
		// A component continues the previous one when that one had its CONTINUE flag; otherwise a slash
		// separates them (the root component is itself the slash).
		if rr.linkDone && rr.link != "" && !strings.HasSuffix(rr.link, "/") {
			rr.link += "/"
		}
		rr.link += part
		rr.linkDone = flags&0x01 == 0
		if len(rr.link) > maxLinkLength {
			return formatError("a symbolic link longer than %d bytes", maxLinkLength)
		}
	}
	return nil
}

// posixMode converts st_mode to an fs.FileMode: the permission bits, and the type for directories and
// symbolic links; other types (devices, FIFOs, sockets) get fs.ModeIrregular.
func posixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o100000:
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

// Open returns the content of the regular file e.
func (img *Image) Open(e Entry) io.Reader {
	return io.NewSectionReader(img.r, e.offset, e.Size)
}
