package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvBarbican names hack/reference-barbican.sh, which runs the reference
// Barbican installed by hack/deps/barbican.sh.
const EnvBarbican = "KEYMANAGER_TEST_BARBICAN"

// scriptTimeout bounds one call of the script (a database upgrade or a start
// with its own 90 s wait) so that a hung reference cannot stall the suite; it
// never decides whether a test passes.
const scriptTimeout = 3 * time.Minute

// startAttempts covers the window between choosing a free port and uWSGI
// binding it, in which another process may take the port.
const startAttempts = 3

// ReferenceBarbican is a reference Barbican (Debian's 15.0.1) serving the v1
// API without authentication (X-Project-Id/X-Roles headers, like keymanager's
// no-auth mode), simple_crypto as its only crypto plugin and orders processed
// inside the request.
type ReferenceBarbican struct {
	// URL is the base URL, which is also the server's host_href:
	// http://127.0.0.1:<port>, without a trailing slash.
	URL string
	// DBURL is the keymanager-style URL of its database.
	DBURL string
	// KEK is the simple_crypto master KEK (url-safe base64 of 32 bytes);
	// keymanager given the same KEK reads what the reference wrote.
	KEK string
	// Dir holds barbican.conf and the uWSGI and barbican-manage logs.
	Dir string

	script string
}

// ReferenceOptions configures StartReferenceBarbican.
type ReferenceOptions struct {
	// DBURL is the database to serve: mysql://… or sqlite:///abs/path. Empty
	// means a fresh MariaDB database of the test's own (NewMySQLDatabase).
	DBURL string
	// KEK is the simple_crypto master KEK; empty means a fresh one.
	KEK string
	// NoUpgrade starts on the database as it is instead of running
	// `barbican-manage db upgrade` first.
	NoUpgrade bool
}

// StartReferenceBarbican starts a reference Barbican under uWSGI on a free
// port of 127.0.0.1 and stops it when the test ends. Without the component it
// fails the test under CI=true and skips it elsewhere. When the test fails,
// the end of the server's log is added to the test output.
func StartReferenceBarbican(t testing.TB, opts ReferenceOptions) *ReferenceBarbican {
	t.Helper()
	script := BarbicanScript(t)
	if opts.DBURL == "" {
		opts.DBURL = NewMySQLDatabase(t)
	}
	if opts.KEK == "" {
		kek, err := NewFernetKey()
		if err != nil {
			t.Fatalf("generating the reference's KEK: %v", err)
		}
		opts.KEK = kek
	}
	r := &ReferenceBarbican{DBURL: opts.DBURL, KEK: opts.KEK, Dir: t.TempDir(), script: script}
	args := []string{"start"}
	if !opts.NoUpgrade {
		args = append(args, "--db-upgrade")
	}
	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("finding a free port for the reference Barbican: %v", err)
		}
		out, err := runScript(script, r.KEK, append(args, r.Dir, r.DBURL, strconv.Itoa(port))...)
		if err == nil {
			r.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
			break
		}
		lastErr = fmt.Errorf("starting the reference Barbican: %w\n%s", err, out)
		if !bytes.Contains(out, []byte("Address already in use")) {
			break
		}
		// Only a port lost to another process is worth another attempt;
		// the database is already upgraded.
		args = []string{"start"}
	}
	if r.URL == "" {
		t.Fatal(lastErr)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("end of the reference Barbican's log (%s):\n%s", filepath.Join(r.Dir, "uwsgi.log"), r.LogTail(40))
		}
	})
	return r
}

// Stop stops the server and waits for it to exit, for a test that goes on
// with its database alone (another server taking it over). The end of the
// test stops it too; stopping a stopped server does nothing.
func (r *ReferenceBarbican) Stop() error {
	if out, err := runScript(r.script, "", "stop", r.Dir); err != nil {
		return fmt.Errorf("stopping the reference Barbican: %w\n%s", err, out)
	}
	return nil
}

// UpgradeWithReferenceBarbican runs the reference's `barbican-manage db
// upgrade` on the database at dbURL (mysql://… or sqlite:///abs/path).
func UpgradeWithReferenceBarbican(t testing.TB, dbURL string) {
	t.Helper()
	script := BarbicanScript(t)
	if out, err := runScript(script, "", "db-upgrade", t.TempDir(), dbURL); err != nil {
		t.Fatalf("barbican-manage db upgrade: %v\n%s", err, out)
	}
}

// ReferencePython returns a command running Debian's python3, which can
// import the reference Barbican's modules, with the given arguments.
func ReferencePython(ctx context.Context, t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	script := BarbicanScript(t)
	return exec.CommandContext(ctx, script, append([]string{"python"}, args...)...)
}

// LogTail returns the last n lines of the server's uWSGI log, which holds
// Barbican's own log records and tracebacks.
func (r *ReferenceBarbican) LogTail(n int) string {
	data, err := os.ReadFile(filepath.Join(r.Dir, "uwsgi.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BarbicanScript returns the path of hack/reference-barbican.sh from
// KEYMANAGER_TEST_BARBICAN after checking that what it needs is installed.
func BarbicanScript(t testing.TB) string {
	t.Helper()
	path, err := lookup(EnvBarbican)
	if err == nil {
		err = checkScript(path)
	}
	Require(t, "reference Barbican", err)
	return path
}

var scriptChecks sync.Map // path → error of `script check`, asked once per process

func checkScript(path string) error {
	if v, ok := scriptChecks.Load(path); ok {
		err, _ := v.(error)
		return err
	}
	var err error
	if out, cerr := runScript(path, "", "check"); cerr != nil {
		err = fmt.Errorf("%s check: %w: %s", path, cerr, bytes.TrimSpace(out))
	}
	scriptChecks.Store(path, err)
	return err
}

// runScript runs the script with its combined output; kek, when set, is
// passed in the environment so that it never shows in a process list.
func runScript(script, kek string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = os.Environ()
	if kek != "" {
		cmd.Env = append(cmd.Env, "REFERENCE_BARBICAN_KEK="+kek)
	}
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %s", ctx.Err(), scriptTimeout)
	}
	return out, err
}

// NewFernetKey returns a fresh Fernet key as simple_crypto's kek option
// holds it: url-safe base64 of 32 random bytes.
func NewFernetKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listening on 127.0.0.1:0: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("releasing port %d: %w", port, err)
	}
	return port, nil
}
