package simplecrypto

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fernet/fernet-go"

	"github.com/keymanager-io/keymanager/server/crypto"
)

func TestNew(t *testing.T) {
	if _, err := New(nil, Options{}); !errors.Is(err, ErrNoKEK) {
		t.Errorf("New without KEKs should fail with ErrNoKEK, got %v", err)
	}
	p := newPlugin(t, newKeys(t, 1), Options{})
	if p.Name() != "Software Only Crypto" || p.ClassPath() != ClassPath {
		t.Errorf("defaults should be Barbican's, got name %q class %q", p.Name(), p.ClassPath())
	}
	if named := newPlugin(t, newKeys(t, 1), Options{Name: "HQ"}); named.Name() != "HQ" {
		t.Errorf("Options.Name should be the friendly name, got %q", named.Name())
	}
}

func TestBindKEK(t *testing.T) {
	ctx := context.Background()
	p := newPlugin(t, newKeys(t, 1), Options{})
	bound := boundKEK(t, p, "bound")
	tests := map[string]struct {
		in       crypto.KEK
		keepMeta bool
	}{
		"an unbound row gets aes/128/cbc and a wrapped pKEK": {
			in: crypto.KEK{Label: "new"},
		},
		"an unbound row with plugin_meta keeps it, as Barbican does": {
			in: crypto.KEK{Label: "half", PluginMeta: bound.PluginMeta}, keepMeta: true,
		},
		"a bound row is left alone": {
			in: bound, keepMeta: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kek := tc.in
			if err := p.BindKEK(ctx, &kek); err != nil {
				t.Fatalf("BindKEK: %v", err)
			}
			if kek.Algorithm != "aes" || kek.BitLength != 128 || kek.Mode != "cbc" || !kek.BindCompleted {
				t.Errorf("row should be aes/128/cbc and bound, got %+v", kek)
			}
			if tc.keepMeta && kek.PluginMeta != tc.in.PluginMeta {
				t.Error("plugin_meta should be unchanged")
			}
			if !strings.HasPrefix(kek.PluginMeta, "gAAAAA") {
				t.Error("plugin_meta should be a Fernet token")
			}
			text := decryptToken([]byte(kek.PluginMeta), p.keks[0])
			if len(text) != 44 {
				t.Errorf("the wrapped pKEK should be 44 characters of key text, got %d", len(text))
			}
		})
	}
	if err := p.BindKEK(ctx, nil); err == nil {
		t.Error("BindKEK(nil) should fail, not panic")
	}
}

func TestEncryptDecrypt(t *testing.T) {
	ctx := context.Background()
	keys := newKeys(t, 2)
	p := newPlugin(t, keys, Options{})
	kek := boundKEK(t, p, "project-a")
	plaintexts := map[string][]byte{
		"an empty payload round-trips":    {},
		"a one-block payload round-trips": []byte("0123456789abcdef"),
		"a binary payload round-trips":    {0, 1, 2, 0xff, 0xfe},
		"a 64 KiB payload round-trips":    bytes.Repeat([]byte("x"), 64<<10),
	}
	for name, pt := range plaintexts {
		t.Run(name, func(t *testing.T) {
			tok, meta, err := p.Encrypt(ctx, kek, pt)
			if err != nil || meta != "" {
				t.Fatalf("Encrypt: %v (kek_meta_extended %q should be empty)", err, meta)
			}
			got, err := p.Decrypt(ctx, kek, tok, "")
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Decrypt should return the plaintext (err %v)", err)
			}
		})
	}
	t.Run("a second plugin with only the same KEKs decrypts", func(t *testing.T) {
		tok, _, err := p.Encrypt(ctx, kek, []byte("shared"))
		if err != nil {
			t.Fatal(err)
		}
		other := newPlugin(t, keys, Options{})
		if got, err := other.Decrypt(ctx, kek, tok, ""); err != nil || string(got) != "shared" {
			t.Errorf("another server with the same KEKs should decrypt (err %v)", err)
		}
	})
	t.Run("a plugin whose active KEK is new still decrypts rows under the old one", func(t *testing.T) {
		oldOnly := newPlugin(t, keys[1:], Options{})
		oldKEK := boundKEK(t, oldOnly, "old")
		tok, _, err := oldOnly.Encrypt(ctx, oldKEK, []byte("before rotation"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := p.Decrypt(ctx, oldKEK, tok, ""); err != nil || string(got) != "before rotation" {
			t.Errorf("MultiFernet should unwrap with the retired KEK (err %v)", err)
		}
	})
}

func TestEncryptDecryptErrors(t *testing.T) {
	ctx := context.Background()
	p := newPlugin(t, newKeys(t, 1), Options{})
	kek := boundKEK(t, p, "a")
	otherKEK := boundKEK(t, p, "b")
	plaintext := []byte("top-secret-value")
	tok, _, err := p.Encrypt(ctx, kek, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(tok)
	flipped[40] ^= 'A' ^ 'B'
	if flipped[40] == tok[40] {
		flipped[40] = 'C'
	}
	stranger := newPlugin(t, newKeys(t, 1), Options{})

	tests := map[string]struct {
		plugin  *Plugin
		kek     crypto.KEK
		token   []byte
		wantErr error
	}{
		"an unbound KEK cannot decrypt":               {p, crypto.KEK{Label: "x"}, tok, crypto.ErrKEKNotBound},
		"a server with other KEKs cannot unwrap":      {stranger, kek, tok, crypto.ErrKEKUnwrap},
		"garbage plugin_meta does not unwrap":         {p, crypto.KEK{PluginMeta: "not a token"}, tok, crypto.ErrKEKUnwrap},
		"another project's pKEK does not decrypt":     {p, otherKEK, tok, crypto.ErrDecrypt},
		"a modified token does not decrypt":           {p, kek, flipped, crypto.ErrDecrypt},
		"a truncated token does not decrypt":          {p, kek, tok[:len(tok)-4], crypto.ErrDecrypt},
		"an empty token does not decrypt":             {p, kek, nil, crypto.ErrDecrypt},
		"the DB's base64 of the token is not a token": {p, kek, []byte(base64.StdEncoding.EncodeToString(tok)), crypto.ErrDecrypt},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tc.plugin.Decrypt(ctx, tc.kek, tc.token, "")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error should be %v, got %v", tc.wantErr, err)
			}
			if strings.Contains(err.Error(), string(plaintext)) || strings.Contains(err.Error(), "gAAAA") {
				t.Errorf("error %q should not contain payloads or tokens", err)
			}
		})
	}
	t.Run("encrypting under an unbound KEK fails", func(t *testing.T) {
		if _, _, err := p.Encrypt(ctx, crypto.KEK{}, plaintext); !errors.Is(err, crypto.ErrKEKNotBound) {
			t.Errorf("error should be ErrKEKNotBound, got %v", err)
		}
	})
}

// TestDecryptSurvivesAuthenticatedMalformedTokens feeds tokens that carry a
// valid HMAC but a shape fernet-go would slice out of range on.
func TestDecryptSurvivesAuthenticatedMalformedTokens(t *testing.T) {
	ctx := context.Background()
	p := newPlugin(t, newKeys(t, 1), Options{})
	kek := boundKEK(t, p, "a")
	var pkek fernet.Key
	if err := p.unwrap(&kek, &pkek); err != nil {
		t.Fatal(err)
	}
	forge := func(body []byte) []byte {
		head := make([]byte, 9, 9+len(body)+32)
		head[0] = 0x80
		binary.BigEndian.PutUint64(head[1:], uint64(time.Now().Unix()))
		msg := append(append([]byte{}, head...), body...)
		mac := hmac.New(sha256.New, pkek[:16])
		mac.Write(msg)
		return []byte(base64.URLEncoding.EncodeToString(mac.Sum(msg)))
	}
	tests := map[string][]byte{
		"a token with an IV but no cipher block is rejected": forge(make([]byte, 16)),
		"a token shorter than an IV is rejected":             forge(make([]byte, 5)),
		"a token with a partial cipher block is rejected":    forge(make([]byte, 16+7)),
		"a token with only a version byte is rejected":       []byte(base64.URLEncoding.EncodeToString([]byte{0x80})),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := p.Decrypt(ctx, kek, tok, ""); !errors.Is(err, crypto.ErrDecrypt) {
				t.Errorf("error should be ErrDecrypt, got %v", err)
			}
		})
	}
}

func TestDecryptAppliesNoTTL(t *testing.T) {
	p := newPlugin(t, newKeys(t, 1), Options{})
	kek := boundKEK(t, p, "a")
	var pkek fernet.Key
	if err := p.unwrap(&kek, &pkek); err != nil {
		t.Fatal(err)
	}
	for name, at := range map[string]time.Time{
		"a token from 2012 decrypts":             time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC),
		"a token dated ten years ahead decrypts": time.Now().AddDate(10, 0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := fernet.EncryptAndSignAtTime([]byte("timeless"), &pkek, at)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := p.Decrypt(context.Background(), kek, tok, ""); err != nil || string(got) != "timeless" {
				t.Errorf("Decrypt should ignore the token's age (err %v)", err)
			}
		})
	}
}

func TestRewrapSecretMovesCiphertextToTheNewPKEK(t *testing.T) {
	ctx := context.Background()
	p := newPlugin(t, newKeys(t, 1), Options{})
	oldKEK, newKEK := boundKEK(t, p, "old"), boundKEK(t, p, "new")
	tok, _, err := p.Encrypt(ctx, oldKEK, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := p.RewrapSecret(ctx, oldKEK, newKEK, tok)
	if err != nil {
		t.Fatalf("RewrapSecret: %v", err)
	}
	if got, err := p.Decrypt(ctx, newKEK, rewrapped, ""); err != nil || string(got) != "payload" {
		t.Errorf("the rewrapped secret should decrypt under the new pKEK (err %v)", err)
	}
	if _, err := p.Decrypt(ctx, oldKEK, rewrapped, ""); !errors.Is(err, crypto.ErrDecrypt) {
		t.Errorf("the rewrapped secret should no longer decrypt under the old pKEK, got %v", err)
	}
	before, _ := tokenTime(tok)
	after, _ := tokenTime(rewrapped)
	if !before.Equal(after) {
		t.Error("rotation should keep the token's timestamp, as MultiFernet.rotate does")
	}
	again, err := p.RewrapSecret(ctx, oldKEK, newKEK, rewrapped)
	if err != nil {
		t.Errorf("rewrapping an already rewrapped secret should succeed (resumable), got %v", err)
	}
	if got, err := p.Decrypt(ctx, newKEK, again, ""); err != nil || string(got) != "payload" {
		t.Errorf("a twice rewrapped secret should still decrypt (err %v)", err)
	}
	stranger := boundKEK(t, p, "stranger")
	if _, err := p.RewrapSecret(ctx, stranger, newKEK, tok); !errors.Is(err, crypto.ErrDecrypt) {
		t.Errorf("rewrapping from the wrong pKEK should fail with ErrDecrypt, got %v", err)
	}
}

func TestRewrapPKEK(t *testing.T) {
	keys := newKeys(t, 2)
	old := newPlugin(t, keys[1:], Options{})
	p := newPlugin(t, keys, Options{})
	kek := boundKEK(t, old, "a")
	if p.WrappedByActiveKEK(kek.PluginMeta) {
		t.Fatal("a pKEK wrapped by the retired KEK should not count as wrapped by the active one")
	}
	rewrapped, err := p.RewrapPKEK(kek.PluginMeta)
	if err != nil {
		t.Fatalf("RewrapPKEK: %v", err)
	}
	if !p.WrappedByActiveKEK(rewrapped) {
		t.Error("a rewrapped pKEK should be wrapped by the active KEK")
	}
	var before, after fernet.Key
	if err := p.unwrapUncached(kek.PluginMeta, &before); err != nil {
		t.Fatal(err)
	}
	if err := p.unwrapUncached(rewrapped, &after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Error("rewrapping should keep the pKEK itself")
	}
	if _, err := newPlugin(t, newKeys(t, 1), Options{}).RewrapPKEK(kek.PluginMeta); !errors.Is(err, crypto.ErrKEKUnwrap) {
		t.Errorf("rewrapping without the wrapping KEK should fail with ErrKEKUnwrap, got %v", err)
	}
}
