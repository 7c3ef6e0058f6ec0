package simplecrypto

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// ErrInsecureKEKFile means the KEK file can be read or written by users
// other than its owner (see privateKEKFile for the one group read allowed).
var ErrInsecureKEKFile = errors.New("simple_crypto KEK file is accessible by group or others")

const kekFileHeader = `# keymanager simple_crypto master KEK (Barbican [simple_crypto_plugin] kek).
# The first key wraps new project KEKs; keep retired keys on later lines so
# that project KEKs wrapped by them still unwrap. Losing this file loses every
# secret stored with simple_crypto.
`

// LoadOrCreateKEKFile reads the master KEKs from path (format of ParseKEKs).
// When the file does not exist it creates it with one new KEK, mode 0600, in a
// directory created with mode 0700 if missing, and reports created. A file
// that group or others may access is refused rather than silently used,
// because anyone who reads it can decrypt every secret.
func LoadOrCreateKEKFile(path string) (keys []Key, created bool, err error) {
	keys, err = ReadKEKFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return keys, false, err
	}
	key, err := GenerateKEK()
	if err != nil {
		return nil, false, err
	}
	created, err = createKEKFile(path, key)
	if err != nil {
		return nil, false, err
	}
	if !created {
		// Another process created the file first; use its key, not ours.
		keys, err = ReadKEKFile(path)
		return keys, false, err
	}
	return []Key{key}, true, nil
}

// ReadKEKFile reads the master KEKs from an existing file, refusing it when
// group or others may access it. It does not create anything.
func ReadKEKFile(path string) ([]Key, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read simple_crypto KEK file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read simple_crypto KEK file %s: not a regular file", path)
	}
	if perm := info.Mode().Perm(); !privateKEKFile(perm, ownerOf(info), processGroups()) {
		return nil, fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s`", ErrInsecureKEKFile, path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read simple_crypto KEK file: %w", err)
	}
	defer clear(data)
	keys, err := ParseKEKs(string(data))
	if err != nil {
		return nil, fmt.Errorf("simple_crypto KEK file %s: %w", path, err)
	}
	return keys, nil
}

// fileOwner is a file's owning user and group.
type fileOwner struct {
	uid, gid int
	known    bool
}

func ownerOf(info fs.FileInfo) fileOwner {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileOwner{uid: int(st.Uid), gid: int(st.Gid), known: true}
	}
	return fileOwner{}
}

// processGroups are the process's group and supplementary groups.
func processGroups() []int {
	groups, err := os.Getgroups()
	if err != nil {
		groups = nil
	}
	return append(groups, os.Getgid())
}

// privateKEKFile says whether a KEK file with mode perm and owner is readable by nobody but this process
// (whose groups are given). Others may have no access at all. The group may read -- never write -- only when root owns the file
// and the group is one of the process's own: that is how a Kubernetes Secret volume reaches a non-root
// container (root:fsGroup, 0440), as PostgreSQL accepts its root-owned 0640 key files. The group then holds
// this process alone; any other group, or a file owned by another user, is refused.
func privateKEKFile(perm fs.FileMode, owner fileOwner, groups []int) bool {
	switch {
	case perm&0o007 != 0:
		return false
	case perm&0o070 == 0:
		return true
	case perm&0o070 != 0o040 || !owner.known || owner.uid != 0:
		return false
	}
	return slices.Contains(groups, owner.gid)
}

// createKEKFile writes key to a private temporary file and hard-links it into
// place, so that no reader ever sees a partial file and two processes
// starting together cannot both win. It reports false when path already
// existed.
func createKEKFile(path string, key Key) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := ensurePrivateDir(dir); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return false, fmt.Errorf("create simple_crypto KEK file: %w", err)
	}
	defer func() {
		err = errors.Join(err, ignoreNotExist(os.Remove(tmp.Name())))
	}()
	// Built in a byte slice, not a string, so the key text can be zeroed.
	content := base64.URLEncoding.AppendEncode([]byte(kekFileHeader), key.k[:])
	content = append(content, '\n')
	defer clear(content)
	if err := writeAndSync(tmp, content); err != nil {
		return false, fmt.Errorf("write simple_crypto KEK file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		// Some filesystems (certain FUSE and network mounts) have no hard
		// links; an exclusive create still guarantees a single winner.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("install simple_crypto KEK file: %w", err)
		}
		if err := writeAndSync(f, content); err != nil {
			// Never leave a partial KEK file for the next start to trip on.
			return false, errors.Join(fmt.Errorf("write simple_crypto KEK file: %w", err), os.Remove(path))
		}
	}
	if err := syncDir(dir); err != nil {
		return true, err
	}
	return true, nil
}

// writeAndSync writes content to f with mode 0600, syncs and closes it.
// CreateTemp already uses 0600; the Chmod keeps that true for any opener.
func writeAndSync(f *os.File, content []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(content)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// ensurePrivateDir creates dir with mode 0700 when it is missing. An existing
// directory is left as it is: it may be shared (/etc, a volume mount).
func ensurePrivateDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("simple_crypto KEK directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create simple_crypto KEK directory: %w", err)
	}
	// MkdirAll's mode is filtered by the umask; make the result exact.
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // a directory: 0700 is owner-only
		return fmt.Errorf("create simple_crypto KEK directory: %w", err)
	}
	return nil
}

// syncDir makes the new directory entry durable, so a crash right after the
// first secret is stored cannot lose the KEK that protects it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync simple_crypto KEK directory: %w", err)
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
