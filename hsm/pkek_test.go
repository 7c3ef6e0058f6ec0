package hsm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestPKEKEncryptDecrypt(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek-1", f.set)
	if err != nil {
		t.Fatal(err)
	}
	if w.IV != nil || len(w.Wrapped) != 40 || len(w.HMAC) != 32 || w.MKEKLabel != "mkek_0" || w.HMACLabel != "hmac_0" ||
		w.WrapMechanism.Name != "CKM_AES_KEY_WRAP_PAD" {
		t.Fatalf("wrapped pKEK: iv %x, %d wrapped bytes, %d HMAC bytes, labels %s/%s, %s", w.IV, len(w.Wrapped),
			len(w.HMAC), w.MKEKLabel, w.HMACLabel, w.WrapMechanism)
	}
	for _, tc := range []struct {
		mech  string
		ivLen int
		extra int // ciphertext bytes beyond the plaintext's
	}{
		{"CKM_AES_CBC", 16, 16 - 5%16}, // software PKCS#7
		{"CKM_AES_GCM", 12, 16},        // the tag
	} {
		t.Run(tc.mech, func(t *testing.T) {
			set := f.set
			set.Encryption = mustFind(EncryptionMechanisms, tc.mech)
			for _, pt := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{16}, 32)} {
				ct, err := f.m.Encrypt(ctx, "kek-1", w, set, pt)
				if err != nil {
					t.Fatal(err)
				}
				if len(ct.IV) != tc.ivLen || ct.Mechanism.Name != tc.mech {
					t.Errorf("IV of %d bytes, mechanism %s", len(ct.IV), ct.Mechanism)
				}
				if tc.mech == "CKM_AES_CBC" && len(ct.Data) != (len(pt)/16+1)*16 || tc.mech == "CKM_AES_GCM" && len(ct.Data) != len(pt)+16 {
					t.Errorf("%d bytes of ciphertext for %d of plaintext", len(ct.Data), len(pt))
				}
				// A fresh module has no cached pKEK: decryption unwraps by the row's labels.
				for _, m := range []*Module{f.m, reopen(t, f)} {
					got, err := m.Decrypt(ctx, "kek-1", w, f.set, ct)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, pt) {
						t.Errorf("decrypted %x, want %x", got, pt)
					}
					if m != f.m {
						_ = m.Close()
					}
				}
				if tc.mech == "CKM_AES_GCM" { // CBC has no integrity of its own (the reference's neither)
					ct.Data[0] ^= 1
					if _, err := f.m.Decrypt(ctx, "kek-1", w, f.set, ct); !errors.Is(err, ErrCiphertext) {
						t.Errorf("a changed ciphertext: %v, want ErrCiphertext", err)
					}
				}
			}
		})
	}
}

func TestTamperedPKEKIsRefused(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek-1", f.set)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }
	for name, bad := range map[string]WrappedKey{
		"wrapped key": {Wrapped: flip(w.Wrapped), HMAC: w.HMAC, MKEKLabel: w.MKEKLabel, HMACLabel: w.HMACLabel, WrapMechanism: w.WrapMechanism},
		"hmac":        {Wrapped: w.Wrapped, HMAC: flip(w.HMAC), MKEKLabel: w.MKEKLabel, HMACLabel: w.HMACLabel, WrapMechanism: w.WrapMechanism},
		"short hmac":  {Wrapped: w.Wrapped, HMAC: w.HMAC[:16], MKEKLabel: w.MKEKLabel, HMACLabel: w.HMACLabel, WrapMechanism: w.WrapMechanism},
		"iv added":    {IV: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Wrapped: w.Wrapped, HMAC: w.HMAC, MKEKLabel: w.MKEKLabel, HMACLabel: w.HMACLabel, WrapMechanism: w.WrapMechanism},
	} {
		if _, err := f.m.Encrypt(ctx, "other-"+name, bad, f.set, []byte("x")); !errors.Is(err, ErrHMAC) {
			t.Errorf("%s changed: %v, want ErrHMAC", name, err)
		}
		if err := f.m.CheckPKEK(ctx, bad, f.set); !errors.Is(err, ErrHMAC) {
			t.Errorf("CheckPKEK with the %s changed: %v, want ErrHMAC", name, err)
		}
	}
	missing := w
	missing.MKEKLabel = "mkek_9"
	if err := f.m.CheckPKEK(ctx, missing, f.set); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("a row naming a missing MKEK: %v, want ErrKeyNotFound", err)
	}
}

func TestRewrapKeepsTheKey(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek-1", f.set)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := f.m.Encrypt(ctx, "kek-1", w, f.set, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.GenerateMKEK(ctx, MKEKSpec("mkek_1", 32)); err != nil {
		t.Fatal(err)
	}
	if err := f.m.GenerateHMACKey(ctx, hmacSpec("hmac_1")); err != nil {
		t.Fatal(err)
	}
	next := softHSM2Settings("mkek_1", "hmac_1")
	nw, err := f.m.Rewrap(ctx, w, next)
	if err != nil {
		t.Fatal(err)
	}
	if nw.MKEKLabel != "mkek_1" || nw.HMACLabel != "hmac_1" || bytes.Equal(nw.Wrapped, w.Wrapped) {
		t.Fatalf("rewrapped under %s/%s, wrapped bytes changed: %t", nw.MKEKLabel, nw.HMACLabel, !bytes.Equal(nw.Wrapped, w.Wrapped))
	}
	// The old keys go; the same ciphertext decrypts through the rewrapped pKEK on a module without a cache.
	for _, label := range []string{"mkek_0", "hmac_0"} {
		destroyTokenKey(t, f.m, label)
	}
	m := reopen(t, f)
	defer m.Close()
	got, err := m.Decrypt(ctx, "kek-1", nw, next, ct)
	if err != nil || string(got) != "payload" {
		t.Fatalf("decrypting after the rewrap: %q, %v", got, err)
	}
	if _, err := m.Decrypt(ctx, "kek-1b", w, next, ct); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("the old row after its keys were deleted: %v, want ErrKeyNotFound", err)
	}
}

func destroyTokenKey(t *testing.T, m *Module, label string) {
	t.Helper()
	err := m.Do(context.Background(), "test", func(s *Session) error {
		return s.call(func(c *pkcs11.Ctx, h pkcs11.SessionHandle) error {
			if err := c.FindObjectsInit(h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}); err != nil {
				return err
			}
			objs, _, err := c.FindObjects(h, 10)
			_ = c.FindObjectsFinal(h)
			if err != nil {
				return err
			}
			for _, o := range objs {
				if err := c.DestroyObject(h, o); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
