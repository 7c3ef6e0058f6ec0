package simplecrypto

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/keymanager-io/keymanager/server/crypto"
)

// pythonPeer plays simple_crypto with several master KEKs, using
// cryptography.fernet's MultiFernet as spec §7.3 describes: it reads what Go
// wrote and writes a row for Go. This part stays a re-enactment because the
// reference Barbican tests can run (Debian's 15.0.1) has a single kek option;
// MultiFernet and rewrapping came with Barbican 2025.1. Single-KEK interop
// runs against the reference's own plugin code in reference_test.go.
const pythonPeer = `
import base64, json, sys
from cryptography.fernet import Fernet, MultiFernet

req = json.load(sys.stdin)
keks = MultiFernet([Fernet(k) for k in req["keks"]])
out = {}

# _get_kek + decrypt, on the rows Go wrote
for name in ("go_plugin_meta", "go_rewrapped_plugin_meta"):
    pkek = keks.decrypt(req[name].encode())
    out[name + "_pkek_len"] = len(base64.urlsafe_b64decode(pkek))
pkek = keks.decrypt(req["go_plugin_meta"].encode())
out["go_plaintext_b64"] = base64.b64encode(
    Fernet(pkek).decrypt(req["go_cypher_text"].encode())).decode()
# rewrap_pkek must leave a token only the active KEK is needed for
Fernet(req["keks"][0]).decrypt(req["go_rewrapped_plugin_meta"].encode())

# bind_kek_metadata + encrypt, wrapped by the last (retired) KEK
plaintext = base64.b64decode(req["plaintext_b64"])
py_pkek = Fernet.generate_key()
out["py_plugin_meta"] = Fernet(req["keks"][-1]).encrypt(py_pkek).decode()
out["py_cypher_text"] = Fernet(py_pkek).encrypt(plaintext).decode()
json.dump(out, sys.stdout)
`

// TestPythonInterop runs the real Python Fernet implementation with two
// master KEKs: Go's rows, including a rewrapped pKEK, decrypt in Python, and a
// pKEK Python wrapped with the retired KEK decrypts in Go.
func TestPythonInterop(t *testing.T) {
	py := requirePython(t)
	ctx := context.Background()
	keys := newKeys(t, 2)
	old := newPlugin(t, keys[1:], Options{})
	p := newPlugin(t, keys, Options{})
	plaintext := append([]byte("binary \x00\xff payload "), bytes.Repeat([]byte{0xa5}, 100)...)

	kek := boundKEK(t, p, "go")
	token, meta, err := p.Encrypt(ctx, kek, plaintext)
	if err != nil || meta != "" {
		t.Fatalf("Encrypt: %v (kek_meta_extended %q should be empty)", err, meta)
	}
	retired := boundKEK(t, old, "wrapped-by-retired")
	rewrapped, err := p.RewrapPKEK(retired.PluginMeta)
	if err != nil {
		t.Fatalf("RewrapPKEK: %v", err)
	}

	req := map[string]any{
		"keks":                     []string{keys[0].Encode(), keys[1].Encode()},
		"go_plugin_meta":           kek.PluginMeta,
		"go_cypher_text":           string(token),
		"go_rewrapped_plugin_meta": rewrapped,
		"plaintext_b64":            base64.StdEncoding.EncodeToString(plaintext),
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, "-c", pythonPeer)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python peer failed: %v\n%s", err, stderr.String())
	}
	var res struct {
		GoPlaintextB64 string `json:"go_plaintext_b64"`
		GoPKEKLen      int    `json:"go_plugin_meta_pkek_len"`
		GoRewrapLen    int    `json:"go_rewrapped_plugin_meta_pkek_len"`
		PyPluginMeta   string `json:"py_plugin_meta"`
		PyCypherText   string `json:"py_cypher_text"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python peer output: %v", err)
	}

	t.Run("python decrypts what go wrote", func(t *testing.T) {
		if res.GoPKEKLen != 32 || res.GoRewrapLen != 32 {
			t.Errorf("python should unwrap 32-byte pKEKs, got %d and %d", res.GoPKEKLen, res.GoRewrapLen)
		}
		if res.GoPlaintextB64 != base64.StdEncoding.EncodeToString(plaintext) {
			t.Error("python should decrypt go's token to the original plaintext")
		}
	})
	t.Run("go decrypts what python wrote", func(t *testing.T) {
		pyKEK := crypto.KEK{Label: "python", PluginMeta: res.PyPluginMeta, BindCompleted: true}
		got, err := p.Decrypt(ctx, pyKEK, []byte(res.PyCypherText), "")
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Error("go should decrypt python's token to the original plaintext")
		}
	})
}
