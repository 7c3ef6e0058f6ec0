package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// SoftHSM2Token is a token initialised for one test on the test process's own SoftHSM2 store.
type SoftHSM2Token struct {
	Module string // the PKCS#11 library
	Label  string
	PIN    string
	SOPIN  string
}

var softhsm struct {
	once sync.Once
	dir  string
	err  error
}

// softHSM2Store points SOFTHSM2_CONF at a configuration whose token directory is new and this process's own,
// once per process: the library reads it at C_Initialize, which happens once per process.
func softHSM2Store() (string, error) {
	softhsm.once.Do(func() {
		dir, err := os.MkdirTemp("", "keymanager-softhsm2-")
		if err != nil {
			softhsm.err = err
			return
		}
		tokens := filepath.Join(dir, "tokens")
		conf := filepath.Join(dir, "softhsm2.conf")
		body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
		if err := os.Mkdir(tokens, 0o700); err != nil {
			softhsm.err = err
			return
		}
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			softhsm.err = err
			return
		}
		softhsm.dir, softhsm.err = dir, os.Setenv("SOFTHSM2_CONF", conf)
	})
	return softhsm.dir, softhsm.err
}

// RemoveSoftHSM2 deletes the process's SoftHSM2 store; call it from TestMain after m.Run.
func RemoveSoftHSM2() {
	if softhsm.dir != "" {
		_ = os.RemoveAll(softhsm.dir)
	}
}

// NewSoftHSM2Token initialises a fresh token with a random label and PINs with softhsm2-util, in a SoftHSM2
// store private to the test process (SOFTHSM2_CONF is set for the process).
func NewSoftHSM2Token(t testing.TB) SoftHSM2Token {
	t.Helper()
	module := SoftHSM2Module(t)
	util, err := exec.LookPath("softhsm2-util")
	if err == nil {
		_, err = softHSM2Store()
	}
	Require(t, "SoftHSM2", err)
	tok := SoftHSM2Token{Module: module, Label: "km-" + randomHex(t, 6), PIN: randomHex(t, 8), SOPIN: randomHex(t, 8)}
	out, err := exec.CommandContext(context.Background(), util, "--init-token", "--free", "--label", tok.Label,
		"--pin", tok.PIN, "--so-pin", tok.SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v: %s", err, out)
	}
	return tok
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
