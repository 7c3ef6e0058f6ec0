package p11crypto

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/crypto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveSoftHSM2()
	os.Exit(code)
}

// A plugin_meta of each shape the reference has written reads, and writes back byte for byte.
func TestPluginMetaFormat(t *testing.T) {
	for _, tc := range []struct {
		name, meta string
		ivLen      int
		mech       string
	}{
		{"2025.1, no IV", `{"iv":null,"wrapped_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw==","hmac":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","mkek_label":"barbican_mkek_0","hmac_label":"barbican_hmac_0","key_wrap_mechanism":"CKM_AES_KEY_WRAP_PAD"}`, 0, "CKM_AES_KEY_WRAP_PAD"},
		{"2025.1, CBC_PAD with an IV", `{"iv":"AAECAwQFBgcICQoLDA0ODw==","wrapped_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v","hmac":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","mkek_label":"mkek_0","hmac_label":"hmac_0","key_wrap_mechanism":"CKM_AES_CBC_PAD"}`, 16, "CKM_AES_CBC_PAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := decodePluginMeta(tc.meta)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.IV) != tc.ivLen || w.WrapMechanism.Name != tc.mech {
				t.Errorf("IV %x, mechanism %s", w.IV, w.WrapMechanism)
			}
			again, err := encodePluginMeta(w)
			if err != nil || again != tc.meta {
				t.Errorf("written back as\n%s\nwant\n%s (%v)", again, tc.meta, err)
			}
		})
	}
	// Rows of Barbican before 2025.1 have no key_wrap_mechanism: they were wrapped with CBC_PAD.
	old := `{"iv": "AAECAwQFBgcICQoLDA0ODw==", "wrapped_key": "AAEC", "hmac": "AAEC", "mkek_label": "m", "hmac_label": "h"}`
	w, err := decodePluginMeta(old)
	if err != nil || w.WrapMechanism.Name != "CKM_AES_CBC_PAD" {
		t.Errorf("an old row: %s, %v", w.WrapMechanism, err)
	}
	for _, bad := range []string{`{}`, `not json`, `{"wrapped_key":"AA==","hmac":"AA==","mkek_label":"m","hmac_label":"h","key_wrap_mechanism":"CKM_DES"}`,
		`{"wrapped_key":"!!","hmac":"AA==","mkek_label":"m","hmac_label":"h"}`} {
		if _, err := decodePluginMeta(bad); !errors.Is(err, ErrMeta) {
			t.Errorf("%s: %v, want ErrMeta", bad, err)
		}
	}
	spaced, err := decodeKEKMetaExtended(`{"mechanism": "CKM_AES_CBC", "iv": "AAECAwQFBgcICQoLDA0ODw=="}`, nil)
	if err != nil || len(spaced.IV) != 16 || spaced.Mechanism.Name != "CKM_AES_CBC" {
		t.Errorf("a spaced kek_meta_extended: %+v, %v", spaced, err)
	}
	ct, err := decodeKEKMetaExtended(`{"iv":"AAECAwQFBgcICQoL","mechanism":"VENDOR_SAFENET_CKM_AES_GCM"}`, nil)
	if err != nil || len(ct.IV) != 12 || ct.Mechanism.Value != hsm.CKMVendorSafeNetAESGCM {
		t.Errorf("a SafeNet GCM secret: %+v, %v", ct, err)
	}
	if s, _ := encodeKEKMetaExtended(ct); s != `{"iv":"AAECAwQFBgcICQoL","mechanism":"VENDOR_SAFENET_CKM_AES_GCM"}` {
		t.Errorf("kek_meta_extended written as %s", s)
	}
}

// newPlugin opens a fresh SoftHSM2 token with mkek_0 and hmac_0 and returns the plugin on it.
func newPlugin(t testing.TB, cap int, wait time.Duration, opts ...func(*hsm.Config)) *Plugin {
	t.Helper()
	tok := testbed.NewSoftHSM2Token(t)
	cfg := hsm.Config{LibraryPath: tok.Module, TokenLabels: []string{tok.Label},
		PIN: hsm.PIN(tok.PIN), MaxSessions: cap, SessionWait: wait, OSLockingOK: true}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := hsm.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	look := func(table []hsm.Mechanism, name string) hsm.Mechanism {
		mech, err := hsm.Lookup(table, name)
		if err != nil {
			t.Fatal(err)
		}
		return mech
	}
	ctx := context.Background()
	hmac := hsm.MasterKeySpec{Label: "hmac_0", Length: 32, KeyType: look(hsm.KeyTypes, "CKK_GENERIC_SECRET"),
		KeyGen: look(hsm.KeyGenMechanisms, "CKM_GENERIC_SECRET_KEY_GEN")}
	if err := m.GenerateMKEK(ctx, hsm.MKEKSpec("mkek_0", 32)); err != nil {
		t.Fatal(err)
	}
	if err := m.GenerateHMACKey(ctx, hmac); err != nil {
		t.Fatal(err)
	}
	p, err := New(m, hsm.Settings{MKEKLabel: "mkek_0", HMACLabel: "hmac_0", HMACKeyType: hmac.KeyType,
		HMACMechanism: look(hsm.HMACMechanisms, "CKM_SHA256_HMAC"), WrapMechanism: look(hsm.WrapMechanisms, "CKM_AES_KEY_WRAP_PAD"),
		PKEKLength: 32, Sensitive: true, Encryption: look(hsm.EncryptionMechanisms, "CKM_AES_GCM"), GCMGenerateIV: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPluginOnSoftHSM2(t *testing.T) {
	p := newPlugin(t, 2, time.Second)
	ctx := context.Background()
	kek := crypto.KEK{ID: "k1", Label: "project-ext-key-1"}
	if err := p.BindKEK(ctx, &kek); err != nil {
		t.Fatal(err)
	}
	if !kek.BindCompleted || kek.Algorithm != "AES" || kek.BitLength != 256 || kek.Mode != "CBC" {
		t.Fatalf("bound KEK: %+v", kek)
	}
	ct, meta, err := p.Encrypt(ctx, kek, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := p.Decrypt(ctx, kek, ct, meta); err != nil || string(pt) != "payload" {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
	gen, err := p.GenerateSymmetric(ctx, kek, crypto.GenerateSpec{Algorithm: "aes", BitLength: 256, Mode: "cbc"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := p.Decrypt(ctx, kek, gen.CypherText, gen.KEKMetaExtended)
	if err != nil || len(key) != 32 || bytes.Equal(key, make([]byte, 32)) {
		t.Fatalf("generated key: %d bytes, %v", len(key), err)
	}
	if p.SupportsGeneration(crypto.AsymmetricGeneration, crypto.GenerateSpec{Algorithm: "rsa", BitLength: 2048}) {
		t.Error("p11_crypto claims to generate key pairs")
	}
	if err := p.CheckKEK(ctx, kek); err != nil {
		t.Fatal(err)
	}
	// A changed HMAC is refused on a cold cache, as a configuration-level unwrap failure.
	tampered := kek
	tampered.Label = "other-label" // not cached
	tampered.PluginMeta = strings.Replace(kek.PluginMeta, `"hmac":"`, `"hmac":"AAAA`, 1)
	if _, err := p.Decrypt(ctx, tampered, ct, meta); !errors.Is(err, crypto.ErrKEKUnwrap) || !errors.Is(err, hsm.ErrHMAC) {
		t.Errorf("a tampered plugin_meta: %v, want ErrKEKUnwrap and ErrHMAC", err)
	}
	if err := p.CheckKEK(ctx, tampered); !errors.Is(err, crypto.ErrKEKUnwrap) {
		t.Errorf("CheckKEK of a tampered plugin_meta: %v", err)
	}
	// A changed ciphertext does not authenticate under GCM.
	bad := bytes.Clone(ct)
	bad[0] ^= 1
	if _, err := p.Decrypt(ctx, kek, bad, meta); !errors.Is(err, crypto.ErrDecrypt) {
		t.Errorf("a changed ciphertext: %v, want ErrDecrypt", err)
	}
}

func TestBusyHSMIsUnavailable(t *testing.T) {
	p := newPlugin(t, 1, 10*time.Millisecond)
	ctx := context.Background()
	kek := crypto.KEK{ID: "k1", Label: "l1"}
	if err := p.BindKEK(ctx, &kek); err != nil {
		t.Fatal(err)
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- p.Module().Do(ctx, "hold", func(*hsm.Session) error { close(held); <-release; return nil })
	}()
	<-held
	_, _, err := p.Encrypt(ctx, kek, []byte("x"))
	close(release)
	if !errors.Is(err, crypto.ErrUnavailable) {
		t.Errorf("encrypting with every session busy: %v, want crypto.ErrUnavailable", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
