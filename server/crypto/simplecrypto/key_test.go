package simplecrypto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const devstackKEK = "dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg="

func TestParseKEKs(t *testing.T) {
	a, b := newKeys(t, 2)[0].Encode(), newKeys(t, 1)[0].Encode()
	std := strings.NewReplacer("-", "+", "_", "/").Replace(a)
	tests := map[string]struct {
		text string
		want []string
	}{
		"one key per line keeps the order": {
			text: a + "\n" + b + "\n", want: []string{a, b},
		},
		"comma-separated keys on one line are split": {
			text: a + ", " + b, want: []string{a, b},
		},
		"comments, blank lines and surrounding spaces are ignored": {
			text: "# active\n\n  " + a + "  # since 2024\r\n# retired\n" + b, want: []string{a, b},
		},
		"the standard base64 alphabet is accepted like Python's urlsafe_b64decode": {
			text: std, want: []string{a},
		},
		"devstack's well-known KEK parses": {
			text: devstackKEK, want: []string{devstackKEK},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keys, err := ParseKEKs(tc.text)
			if err != nil {
				t.Fatalf("ParseKEKs: %v", err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, k.Encode())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("keys should be %v in order, got %v", tc.want, got)
			}
		})
	}
}

func TestParseKEKsRejectsMalformedKeysWithoutEchoingThem(t *testing.T) {
	good := newKeys(t, 1)[0].Encode()
	tests := map[string]struct {
		text    string
		wantErr error
		secret  string // must not appear in the error
	}{
		"an empty text has no KEK":                   {text: "", wantErr: ErrNoKEK},
		"only comments is no KEK":                    {text: "# " + good + "\n", wantErr: ErrNoKEK},
		"text that is not base64 is refused":         {text: "not a key!not a key!not a key!not a key!abcd", wantErr: ErrMalformedKEK, secret: "not a key"},
		"a 16-byte key is refused":                   {text: "c2l4dGVlbl9ieXRlX2tleQ==", wantErr: ErrMalformedKEK, secret: "c2l4dGVlbl9ieXRlX2tleQ"},
		"a 33-byte key is refused":                   {text: "dGhpcnR5X3RocmVlX2J5dGVfa2V5YmxhaGJsYWhibGFo", wantErr: ErrMalformedKEK, secret: "dGhpcnR5X3Rocm"},
		"an unpadded key is refused like Python":     {text: strings.TrimRight(good, "="), wantErr: ErrMalformedKEK, secret: good[:20]},
		"a bad second entry fails the whole list":    {text: good + ",xyzzyxyzzyxyzzyxyzzyxyzzyxyzzyxyzzyxyzzy%23=", wantErr: ErrMalformedKEK, secret: "xyzzy"},
		"hex is not accepted (Python does not)":      {text: strings.Repeat("ab", 32), wantErr: ErrMalformedKEK, secret: "abab"},
		"a key broken by inner spaces is refused":    {text: good[:20] + " " + good[20:], wantErr: ErrMalformedKEK, secret: good[:20]},
		"a good key before the bad one is not shown": {text: good + "\nbroken", wantErr: ErrMalformedKEK, secret: good[:20]},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKEKs(tc.text)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error should be %v, got %v", tc.wantErr, err)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q should not echo key material", err)
			}
		})
	}
}

func TestKeyRedactsItself(t *testing.T) {
	k := newKeys(t, 1)[0]
	leaks := []string{k.Encode(), k.Encode()[:12], hex.EncodeToString(k.k[:])[:16], fmt.Sprintf("%v", k.k[:4])}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, []Key{k}), fmt.Sprintf(verb, struct{ K Key }{k}))
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "kek", k, "keks", []Key{k})
	outputs = append(outputs, logBuf.String())
	js, err := json.Marshal(struct{ KEK Key }{k})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs = append(outputs, string(js))

	for _, out := range outputs {
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("output %q should not contain key material", out)
			}
		}
	}
	if !strings.Contains(logBuf.String(), redacted) {
		t.Errorf("slog output should say %s, got %s", redacted, logBuf.String())
	}
}

func TestGenerateKEKMakesDistinctParseableKeys(t *testing.T) {
	keys := newKeys(t, 2)
	if keys[0].Encode() == keys[1].Encode() {
		t.Fatal("two generated KEKs should differ")
	}
	if len(keys[0].Encode()) != 44 {
		t.Errorf("a KEK should encode to 44 characters like Fernet.generate_key(), got %d", len(keys[0].Encode()))
	}
	parsed, err := ParseKEKs(keys[0].Encode())
	if err != nil || parsed[0] != keys[0] {
		t.Errorf("an encoded KEK should parse back to itself (err %v)", err)
	}
}
