package simplecrypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/crypto"
)

// referencePeer drives the reference Barbican's own simple_crypto plugin
// (barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin, Debian's 15.0.1)
// through its public plugin interface: for each case it binds a project KEK
// and encrypts a payload, as store_crypto does on a secret upload, with the
// clock set to the case's time; it generates a 256-bit key, as a key order
// does; and it decrypts the row Go wrote. The plugin is given its KEK through
// an oslo.config object of its own, as the server's configuration would.
const referencePeer = `
import base64, json, sys, types
from unittest import mock

from barbican.common import config
from barbican.plugin.crypto import base as c
from barbican.plugin.crypto import simple_crypto as sc

def new_plugin(kek):
    conf = config.new_config()
    conf.register_group(sc.simple_crypto_plugin_group)
    conf.register_opts(sc.simple_crypto_plugin_opts, group=sc.simple_crypto_plugin_group)
    conf.set_override("kek", kek, group="simple_crypto_plugin")
    return sc.SimpleCryptoPlugin(conf)

def kek_meta(plugin_meta=None):
    # What store_crypto builds from a kek_data row.
    row = types.SimpleNamespace(kek_label="project-interop-key", plugin_name=sc.__name__ + ".SimpleCryptoPlugin",
                                algorithm=None, bit_length=None, mode=None, plugin_meta=plugin_meta)
    return c.KEKMetaDTO(row)

out = []
for case in json.load(sys.stdin):
    p = new_plugin(case["kek"])
    with mock.patch("time.time", return_value=case["at"]):
        bound = p.bind_kek_metadata(kek_meta())
        enc = p.encrypt(c.EncryptDTO(base64.b64decode(case["plaintext_b64"])), bound, "interop")
    gen = p.generate_symmetric(c.GenerateDTO("aes", 256, "cbc"), bound, "interop")
    generated = p.decrypt(c.DecryptDTO(gen.cypher_text), bound, gen.kek_meta_extended, "interop")
    go_plain = p.decrypt(c.DecryptDTO(case["go_cypher_text"].encode()), kek_meta(case["go_plugin_meta"]), None, "interop")
    out.append({
        "plugin_meta": bound.plugin_meta.decode(),
        "algorithm": bound.algorithm, "bit_length": bound.bit_length, "mode": bound.mode,
        "cypher_text": enc.cypher_text.decode(),
        "kek_meta_extended": enc.kek_meta_extended,
        "generated_cypher_text": gen.cypher_text.decode(),
        "generated_b64": base64.b64encode(generated).decode(),
        "go_plaintext_b64": base64.b64encode(go_plain).decode(),
    })
json.dump(out, sys.stdout)
`

type referenceCase struct {
	name      string
	kek       string
	at        time.Time // the reference's clock while it binds and encrypts
	plaintext []byte
}

type peerRequest struct {
	KEK          string `json:"kek"`
	At           int64  `json:"at"`
	PlaintextB64 string `json:"plaintext_b64"`
	GoPluginMeta string `json:"go_plugin_meta"`
	GoCypherText string `json:"go_cypher_text"`
}

type peerResult struct {
	PluginMeta          string  `json:"plugin_meta"`
	Algorithm           string  `json:"algorithm"`
	BitLength           int     `json:"bit_length"`
	Mode                string  `json:"mode"`
	CypherText          string  `json:"cypher_text"`
	KEKMetaExtended     *string `json:"kek_meta_extended"`
	GeneratedCypherText string  `json:"generated_cypher_text"`
	GeneratedB64        string  `json:"generated_b64"`
	GoPlaintextB64      string  `json:"go_plaintext_b64"`
}

// TestReferenceSimpleCryptoInterop checks both directions against the
// reference's plugin code: what it binds and encrypts decrypts here, and what
// this plugin binds and encrypts decrypts there. Barbican 15 has a single kek
// option; several KEKs (MultiFernet) came later and are covered by
// TestPythonInterop.
func TestReferenceSimpleCryptoInterop(t *testing.T) {
	ctx := context.Background()
	random := newKeys(t, 1)[0].Encode()
	aesKey := make([]byte, 32)
	if _, err := rand.Read(aesKey); err != nil {
		t.Fatal(err)
	}
	cases := []referenceCase{
		{"a random KEK and a text payload", random, time.Now(), []byte("my-secret-passphrase")},
		// Barbican 15's default kek, still set by devstack; tokens from 2016
		// must decrypt because simple_crypto applies no TTL.
		{"devstack's well-known KEK and a token from 2016", devstackKEK, time.Date(2016, 3, 3, 10, 0, 0, 0, time.UTC), []byte("devstack secret")},
		{"every byte value", random, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), bytes.Repeat(func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(), 2)},
		{"a payload of exactly one AES block", random, time.Now(), []byte("0123456789abcdef")},
		{"a 256-bit AES key", random, time.Now(), aesKey},
	}

	plugins := make([]*Plugin, len(cases))
	goKEKs := make([]crypto.KEK, len(cases))
	reqs := make([]peerRequest, len(cases))
	for i, c := range cases {
		keys, err := ParseKEKs(c.kek)
		if err != nil {
			t.Fatalf("%s: ParseKEKs: %v", c.name, err)
		}
		plugins[i] = newPlugin(t, keys, Options{})
		goKEKs[i] = boundKEK(t, plugins[i], "go")
		tok, _, err := plugins[i].Encrypt(ctx, goKEKs[i], c.plaintext)
		if err != nil {
			t.Fatalf("%s: Encrypt: %v", c.name, err)
		}
		reqs[i] = peerRequest{KEK: c.kek, At: c.at.Unix(), PlaintextB64: base64.StdEncoding.EncodeToString(c.plaintext),
			GoPluginMeta: goKEKs[i].PluginMeta, GoCypherText: string(tok)}
	}
	results := runReferencePeer(t, reqs)
	if len(results) != len(cases) {
		t.Fatalf("the reference answered %d cases, want %d", len(results), len(cases))
	}

	for i, c := range cases {
		res, p := results[i], plugins[i]
		t.Run(c.name, func(t *testing.T) {
			t.Run("the reference binds a project KEK the way we do", func(t *testing.T) {
				if res.Algorithm != goKEKs[i].Algorithm || res.BitLength != goKEKs[i].BitLength || res.Mode != goKEKs[i].Mode {
					t.Errorf("reference bound (%s, %d, %s), we bind (%s, %d, %s)", res.Algorithm, res.BitLength, res.Mode,
						goKEKs[i].Algorithm, goKEKs[i].BitLength, goKEKs[i].Mode)
				}
				if res.KEKMetaExtended != nil {
					t.Errorf("simple_crypto stores no kek_meta_extended, the reference returned %q", *res.KEKMetaExtended)
				}
			})
			refKEK := crypto.KEK{Label: "reference", PluginMeta: res.PluginMeta, Algorithm: res.Algorithm,
				BitLength: res.BitLength, Mode: res.Mode, BindCompleted: true}
			t.Run("we decrypt what the reference encrypted", func(t *testing.T) {
				tok := []byte(res.CypherText)
				if at, ok := tokenTime(tok); !ok || !at.Equal(c.at.Truncate(time.Second)) {
					t.Errorf("the reference's token should carry its clock %s, carries %s", c.at.UTC(), at.UTC())
				}
				got, err := p.Decrypt(ctx, refKEK, tok, "")
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(got, c.plaintext) {
					t.Error("the reference's ciphertext should decrypt to the plaintext it was given")
				}
				bound := refKEK
				bound.BindCompleted = false
				if err := p.BindKEK(ctx, &bound); err != nil || bound.PluginMeta != res.PluginMeta {
					t.Errorf("binding a row the reference bound should keep its plugin_meta (err %v)", err)
				}
			})
			t.Run("we decrypt a key the reference generated", func(t *testing.T) {
				got, err := p.Decrypt(ctx, refKEK, []byte(res.GeneratedCypherText), "")
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if len(got) != 32 || base64.StdEncoding.EncodeToString(got) != res.GeneratedB64 {
					t.Errorf("the generated key should decrypt to the reference's 32 bytes, got %d bytes", len(got))
				}
			})
			t.Run("the reference decrypts what we encrypted", func(t *testing.T) {
				if res.GoPlaintextB64 != base64.StdEncoding.EncodeToString(c.plaintext) {
					t.Error("the reference should decrypt our ciphertext under our project KEK to the plaintext")
				}
			})
		})
	}
}

// runReferencePeer sends the cases to referencePeer and returns its results.
func runReferencePeer(t *testing.T, reqs []peerRequest) []peerResult {
	t.Helper()
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := testbed.ReferencePython(context.Background(), t, "-c", referencePeer)
	// The plugin module parses barbican's default configuration files on
	// import; a HOME of our own keeps a developer's ~/.barbican out of it.
	cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the reference's simple_crypto plugin failed: %v\n%s", err, stderr.String())
	}
	var res []peerResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("reading the reference's answer: %v: %s", err, out)
	}
	return res
}
