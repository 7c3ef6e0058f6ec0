package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestBase64DecodingMatchesPython holds decodeBase64Bytes and decodeBase64Text against the reference's own
// Python (base64.b64decode of bytes and of a str), on hand-picked and random inputs: padding in every position,
// bytes outside the alphabet, non-ASCII.
func TestBase64DecodingMatchesPython(t *testing.T) {
	inputs := []string{"", "====", "=", "eA==", "eA=", "eA", "e", "eA==eA==", "eA=x=", "e=A=", "eAA=", "eAAA",
		"eA==\n", " e A = = ", "!!!not base64", "\U0001F37A", "8J+Nug==", "8J+Nug", "-_-_", "ab\xffcd", "YQ==YQ",
		"YWJj=", "YWJjZA=", "YWJjZA==x", "Y===", "YW==", "YWI=", "\x00YWJj"}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/====-_ \n!\xc3\xa9"
	for range 2000 {
		b := make([]byte, rng.IntN(14))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	encoded := make([]string, len(inputs))
	for i, in := range inputs {
		encoded[i] = "x" + hex.EncodeToString([]byte(in)) // never an empty line
	}
	// Each line: the input in hex; each answer: [bytes result, str result], hex or null for an error.
	script := `import base64, binascii, json, sys
def dec(x):
    try:
        return base64.b64decode(x).hex()
    except (binascii.Error, ValueError):
        return None
out = []
for line in sys.stdin.read().split():
    raw = bytes.fromhex(line[1:])
    try:
        text = raw.decode("utf-8")
        as_str = dec(text)
    except UnicodeDecodeError:
        as_str = "not-utf8"
    out.append([dec(raw), as_str])
print(json.dumps(out))
`
	cmd := testbed.ReferencePython(context.Background(), t, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(encoded, "\n"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running the reference's Python: %v: %s", err, stderr.String())
	}
	var want [][2]*string
	if err := json.Unmarshal(stdout.Bytes(), &want); err != nil {
		t.Fatalf("reading Python's answers: %v: %s", err, stdout.String())
	}
	if len(want) != len(inputs) {
		t.Fatalf("Python answered %d inputs of %d", len(want), len(inputs))
	}
	show := func(b []byte, err error) string {
		if err != nil {
			return "error"
		}
		return hex.EncodeToString(b)
	}
	pyShow := func(s *string) string {
		if s == nil {
			return "error"
		}
		return *s
	}
	for i, in := range inputs {
		if got, w := show(decodeBase64Bytes([]byte(in))), pyShow(want[i][0]); got != w {
			t.Errorf("bytes %q: got %s, Python %s", in, got, w)
		}
		if want[i][1] != nil && *want[i][1] == "not-utf8" {
			continue // a JSON string is always UTF-8
		}
		if got, w := show(decodeBase64Text(in)), pyShow(want[i][1]); got != w {
			t.Errorf("str %q: got %s, Python %s", in, got, w)
		}
	}
}
