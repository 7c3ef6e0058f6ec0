package simplecrypto

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKEKFileCreatesPrivateFileAndReloadsIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "kek")
	path := filepath.Join(dir, "simple_crypto.kek")

	keys, created, err := LoadOrCreateKEKFile(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKEKFile: %v", err)
	}
	if !created || len(keys) != 1 {
		t.Fatalf("a missing file should be created with one KEK, got created=%v, %d keys", created, len(keys))
	}
	assertMode(t, path, 0o600)
	assertMode(t, dir, 0o700)

	again, created, err := LoadOrCreateKEKFile(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if created || len(again) != 1 || again[0] != keys[0] {
		t.Errorf("reloading should return the same single KEK without creating, got created=%v, %d keys", created, len(again))
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("only the KEK file should remain in its directory, got %v (err %v)", entries, err)
	}
}

func TestLoadOrCreateKEKFileLeavesAnExistingDirectoryAlone(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKEKFile(filepath.Join(dir, "kek")); err != nil {
		t.Fatalf("LoadOrCreateKEKFile: %v", err)
	}
	assertMode(t, dir, 0o755)
}

func TestLoadOrCreateKEKFileKeepsRetiredKeys(t *testing.T) {
	keys := newKeys(t, 2)
	path := filepath.Join(t.TempDir(), "kek")
	content := "# active\n" + keys[0].Encode() + "\n# retired\n" + keys[1].Encode() + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateKEKFile(path)
	if err != nil || created {
		t.Fatalf("an existing file should be loaded, not created (created=%v, err %v)", created, err)
	}
	if len(got) != 2 || got[0] != keys[0] || got[1] != keys[1] {
		t.Error("both KEKs should load in file order")
	}
}

func TestLoadOrCreateKEKFileRefusesInsecurePermissions(t *testing.T) {
	tests := map[string]fs.FileMode{
		"a world-readable file is refused":   0o644,
		"a group-readable file is refused":   0o640,
		"an others-readable file is refused": 0o604,
		"a group-writable file is refused":   0o620,
		"a fully open file is refused":       0o666,
	}
	for name, mode := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(newKeys(t, 1)[0].Encode()), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			// Run as root (as CI does), the file is root's, and root's own group may read a root-owned
			// file: give it a group this process is not in. Otherwise the file is not root's, and any group
			// read is refused.
			if os.Getuid() == 0 {
				if err := os.Chown(path, 0, 54321); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := LoadOrCreateKEKFile(path)
			if !errors.Is(err, ErrInsecureKEKFile) {
				t.Fatalf("error should be ErrInsecureKEKFile, got %v", err)
			}
			if !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Errorf("error %q should name the fix", err)
			}
		})
	}
	t.Run("owner-only read-only file is accepted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kek")
		if err := os.WriteFile(path, []byte(newKeys(t, 1)[0].Encode()), 0o400); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateKEKFile(path); err != nil {
			t.Errorf("a 0400 file should load, got %v", err)
		}
	})
}

func TestLoadOrCreateKEKFileReportsMalformedContentWithoutKeyBytes(t *testing.T) {
	good := newKeys(t, 1)[0].Encode()
	tests := map[string]struct {
		content string
		wantErr error
	}{
		"an empty file has no KEK":              {content: "", wantErr: ErrNoKEK},
		"a truncated key is malformed":          {content: good[:30] + "\n", wantErr: ErrMalformedKEK},
		"a second, corrupted key is malformed":  {content: good + "\n" + good[:43] + "*\n", wantErr: ErrMalformedKEK},
		"a key pasted with quotes is malformed": {content: `"` + good + `"`, wantErr: ErrMalformedKEK},
		"a PEM-looking file is malformed":       {content: "-----BEGIN KEY-----\n" + good + "\n", wantErr: ErrMalformedKEK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, created, err := LoadOrCreateKEKFile(path)
			if !errors.Is(err, tc.wantErr) || created {
				t.Fatalf("error should be %v without creating, got created=%v, %v", tc.wantErr, created, err)
			}
			if strings.Contains(err.Error(), good[:16]) {
				t.Errorf("error %q should not echo key material", err)
			}
		})
	}
}

func TestLoadOrCreateKEKFileRacingCreatorsAgreeOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "kek")
	const n = 16
	var (
		wg      sync.WaitGroup
		results [n]string
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			keys, c, err := LoadOrCreateKEKFile(path)
			if err == nil {
				results[i] = keys[0].Encode()
			}
			created[i], errs[i] = c, err
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Fatal("every racing caller should get the same KEK")
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("exactly one caller should report creating the file, got %d", creators)
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s should have mode %04o, got %04o", path, want, got)
	}
}

// TestPrivateKEKFile is the rule for who may read a KEK file: its owner, plus -- for a root-owned file -- a
// group of the process's own, which is how a Kubernetes Secret volume reaches a non-root server (root:fsGroup,
// mode 0440 for defaultMode 0400).
func TestPrivateKEKFile(t *testing.T) {
	const fsGroup = 65532
	mine := []int{fsGroup, 100}
	for name, tc := range map[string]struct {
		perm  fs.FileMode
		owner fileOwner
		want  bool
	}{
		"owner-only":                           {0o600, fileOwner{uid: 1000, gid: 1000, known: true}, true},
		"owner read-only":                      {0o400, fileOwner{uid: 1000, gid: 1000, known: true}, true},
		"a Secret volume with fsGroup":         {0o440, fileOwner{uid: 0, gid: fsGroup, known: true}, true},
		"root-owned, group one of ours (0640)": {0o640, fileOwner{uid: 0, gid: 100, known: true}, true},
		"root-owned, a group not ours":         {0o440, fileOwner{uid: 0, gid: 4242, known: true}, false},
		"group-readable, not root's":           {0o440, fileOwner{uid: 1000, gid: fsGroup, known: true}, false},
		"group-writable":                       {0o460, fileOwner{uid: 0, gid: fsGroup, known: true}, false},
		"others may read":                      {0o444, fileOwner{uid: 0, gid: fsGroup, known: true}, false},
		"others may write":                     {0o402, fileOwner{uid: 0, gid: fsGroup, known: true}, false},
		"owner unknown":                        {0o440, fileOwner{}, false},
	} {
		if got := privateKEKFile(tc.perm, tc.owner, mine); got != tc.want {
			t.Errorf("%s: mode %04o owner %+v: got %v, want %v", name, tc.perm, tc.owner, got, tc.want)
		}
	}
}
