package hsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestTokenSelectionPrecedence(t *testing.T) {
	f := newFixture(t, nil)
	info, err := f.m.TokenInfo()
	if err != nil {
		t.Fatal(err)
	}
	slot := f.m.Slot()
	base := Config{LibraryPath: f.tok.Module, PIN: PIN(f.tok.PIN), MaxSessions: 1, OSLockingOK: true}
	cases := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"serial", func(c *Config) { c.TokenSerial = info.SerialNumber }, ""},
		{"serial wins over labels", func(c *Config) {
			c.TokenSerial, c.TokenLabels = info.SerialNumber, []string{"no-such-label"}
		}, ""},
		{"unknown serial is not rescued by labels", func(c *Config) {
			c.TokenSerial, c.TokenLabels = "0000", []string{f.tok.Label}
		}, `no PKCS#11 token with serial number "0000"`},
		{"second of the labels", func(c *Config) { c.TokenLabels = []string{"no-such-label", f.tok.Label} }, ""},
		{"labels win over slot", func(c *Config) { c.TokenLabels, c.SlotID = []string{f.tok.Label}, 999999 }, ""},
		{"slot", func(c *Config) { c.SlotID = slot }, ""},
		{"slot, with the generator seeded", func(c *Config) { c.SlotID, c.Seed = slot, []byte("32 bytes of seed for the token..") }, ""},
		{"unknown labels", func(c *Config) { c.TokenLabels = []string{"nope"} }, "no PKCS#11 token labelled nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			m, err := Open(context.Background(), c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Slot() != slot {
				t.Errorf("selected slot %d, want %d", m.Slot(), slot)
			}
		})
	}
}

func TestWrongPINFailsAtOpenWithoutThePIN(t *testing.T) {
	f := newFixture(t, nil)
	// Login is per application: with the fixture's sessions open, a new one would find the token logged in.
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	defer func() { f.m = reopen(t, f) }()
	pin := "wrong-" + f.tok.PIN
	m, err := Open(context.Background(), Config{LibraryPath: f.tok.Module, TokenLabels: []string{f.tok.Label},
		PIN: PIN(pin), MaxSessions: 1, OSLockingOK: true})
	if err == nil {
		_ = m.Close()
	}
	if !isRV(err, pkcs11.CKR_PIN_INCORRECT) {
		t.Fatalf("Open with a wrong PIN: %v, want CKR_PIN_INCORRECT", err)
	}
	if strings.Contains(err.Error(), pin) {
		t.Errorf("the error shows the PIN: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", PIN(pin), Config{PIN: PIN(pin)}, Config{PIN: PIN(pin)}); strings.Contains(s, pin) {
		t.Errorf("a formatted config shows the PIN: %s", s)
	}
}

func TestMasterKeys(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.m.FindKey(ctx, MKEKSpec("mkek_1", 32)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("FindKey of a missing label: %v, want ErrKeyNotFound", err)
	}
	if err := f.m.FindKey(ctx, MKEKSpec("mkek_0", 32)); err != nil {
		t.Fatalf("FindKey mkek_0: %v", err)
	}
	// The key type is part of the lookup: hmac_0 is no AES key.
	if err := f.m.FindKey(ctx, MKEKSpec("hmac_0", 32)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("FindKey hmac_0 as CKK_AES: %v, want ErrKeyNotFound", err)
	}
	if err := f.m.GenerateMKEK(ctx, MKEKSpec("mkek_0", 32)); err == nil {
		t.Fatal("generating a second mkek_0 succeeded")
	}

	// The attribute sets of the spec.
	attrs := func(label string, keyType uint) map[uint]bool {
		t.Helper()
		got := map[uint]bool{}
		err := f.m.Do(ctx, "test", func(s *Session) error {
			h, err := s.findKey(masterKeyID{label, keyType})
			if err != nil {
				return err
			}
			return s.call(func(c *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
				types := []uint{pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE,
					pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT, pkcs11.CKA_WRAP, pkcs11.CKA_UNWRAP, pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY}
				var tmpl []*pkcs11.Attribute
				for _, a := range types {
					tmpl = append(tmpl, pkcs11.NewAttribute(a, nil))
				}
				out, err := c.GetAttributeValue(sh, h, tmpl)
				for _, a := range out {
					got[a.Type] = len(a.Value) == 1 && a.Value[0] == 1
				}
				return err
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	mkek := attrs("mkek_0", pkcs11.CKK_AES)
	for a, want := range map[uint]bool{pkcs11.CKA_TOKEN: true, pkcs11.CKA_PRIVATE: true, pkcs11.CKA_SENSITIVE: true,
		pkcs11.CKA_EXTRACTABLE: false, pkcs11.CKA_WRAP: true, pkcs11.CKA_UNWRAP: true, pkcs11.CKA_ENCRYPT: true,
		pkcs11.CKA_SIGN: false, pkcs11.CKA_VERIFY: false} {
		if mkek[a] != want {
			t.Errorf("MKEK attribute %#x = %t, want %t", a, mkek[a], want)
		}
	}
	hmac := attrs("hmac_0", pkcs11.CKK_GENERIC_SECRET)
	for a, want := range map[uint]bool{pkcs11.CKA_TOKEN: true, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: false,
		pkcs11.CKA_SIGN: true, pkcs11.CKA_VERIFY: true, pkcs11.CKA_WRAP: false, pkcs11.CKA_ENCRYPT: false} {
		if hmac[a] != want {
			t.Errorf("HMAC key attribute %#x = %t, want %t", a, hmac[a], want)
		}
	}

	// Two keys under one label make it unusable: Barbican refuses to pick one, and generation refuses to add one.
	rawKey := func() error {
		return f.m.Do(ctx, "test", func(s *Session) error {
			return s.call(func(c *pkcs11.Ctx, h pkcs11.SessionHandle) error {
				_, err := c.GenerateKey(h, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)},
					[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
						pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
						pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "twice")})
				return err
			})
		})
	}
	if err := rawKey(); err != nil {
		t.Fatal(err)
	}
	if err := f.m.GenerateMKEK(ctx, MKEKSpec("twice", 32)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("generating over an existing label: %v", err)
	}
	if err := rawKey(); err != nil {
		t.Fatal(err)
	}
	if err := f.m.FindKey(ctx, MKEKSpec("twice", 32)); !errors.Is(err, ErrKeyAmbiguous) {
		t.Fatalf("FindKey of a label held twice: %v, want ErrKeyAmbiguous", err)
	}
}

// SoftHSM2's refusals, as reference-behaviour.md records them: the profiles of real HSMs need what it lacks.
func TestSoftHSM2Refusals(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	nc := MasterKeySpec{Label: "hmac_nc", Length: 32, KeyType: mustFind(KeyTypes, "CKK_SHA256_HMAC"),
		KeyGen: mustFind(KeyGenMechanisms, "CKM_NC_SHA256_HMAC_KEY_GEN")}
	if err := f.m.GenerateHMACKey(ctx, nc); !isRV(err, pkcs11.CKR_MECHANISM_INVALID) {
		t.Errorf("nCipher HMAC keygen: %v, want CKR_MECHANISM_INVALID", err)
	}
	aesHMAC := MasterKeySpec{Label: "hmac_aes", Length: 32, KeyType: mustFind(KeyTypes, "CKK_AES"),
		KeyGen: mustFind(KeyGenMechanisms, "CKM_AES_KEY_GEN")}
	if err := f.m.GenerateHMACKey(ctx, aesHMAC); err != nil {
		t.Fatal(err)
	}
	set := f.set
	set.HMACLabel, set.HMACKeyType = "hmac_aes", aesHMAC.KeyType
	if _, err := f.m.NewPKEK(ctx, "p", set); !isRV(err, pkcs11.CKR_KEY_TYPE_INCONSISTENT) {
		t.Errorf("CKM_SHA256_HMAC with a CKK_AES key (the reference default): %v, want CKR_KEY_TYPE_INCONSISTENT", err)
	}
	for _, tc := range []struct {
		wrap string
		iv   bool
		rv   uint
	}{
		{"CKM_AES_CBC_PAD", true, pkcs11.CKR_MECHANISM_INVALID},
		{"CKM_AES_KEY_WRAP_KWP", false, pkcs11.CKR_MECHANISM_INVALID},
		{"CKM_AES_KEY_WRAP_PAD", true, pkcs11.CKR_ARGUMENTS_BAD}, // no IV parameter accepted
	} {
		set := f.set
		set.WrapMechanism, set.GenerateIV = mustFind(WrapMechanisms, tc.wrap), tc.iv
		if _, err := f.m.NewPKEK(ctx, "p", set); !isRV(err, tc.rv) {
			t.Errorf("wrapping with %s (IV %t): %v, want %#x", tc.wrap, tc.iv, err, tc.rv)
		}
	}
	w, err := f.m.NewPKEK(ctx, "p", f.set)
	if err != nil {
		t.Fatal(err)
	}
	set = f.set
	set.Encryption = mustFind(EncryptionMechanisms, "VENDOR_SAFENET_CKM_AES_GCM")
	if _, err := f.m.Encrypt(ctx, "p", w, set, []byte("x")); !isRV(err, pkcs11.CKR_MECHANISM_INVALID) {
		t.Errorf("SafeNet GCM: %v, want CKR_MECHANISM_INVALID", err)
	}
	// Asked for GCM without an IV, SoftHSM2 encrypts without one and returns none: keymanager refuses to store
	// such a ciphertext rather than take part of the tag for an IV.
	set.Encryption, set.GCMGenerateIV = mustFind(EncryptionMechanisms, "CKM_AES_GCM"), false
	if _, err := f.m.Encrypt(ctx, "p", w, set, []byte("x")); err == nil || !strings.Contains(err.Error(), "HSM-generated IV") {
		t.Errorf("GCM with an HSM-generated IV: %v", err)
	}
}

func TestCloseFinalizes(t *testing.T) {
	f := newFixture(t, nil)
	// A second handle on the library keeps it loaded, so that it shows whether C_Finalize ran.
	raw := pkcs11.New(f.tok.Module)
	defer raw.Destroy()
	if _, err := raw.GetSlotList(true); err != nil {
		t.Fatalf("the library before Close: %v", err)
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.GetSlotList(true); !isRV(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		t.Errorf("the library after the last Close: %v, want CKR_CRYPTOKI_NOT_INITIALIZED", err)
	}
	// A second Close leaves the library, and the next module's use of it, alone.
	other := reopen(t, f)
	if err := f.m.Close(); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	if err := other.Ping(context.Background()); err != nil {
		t.Errorf("another module after a second Close of the first: %v", err)
	}
	_ = other.Close()
	if err := f.m.Do(context.Background(), "after close", func(*Session) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
	f.m = reopen(t, f)
}

// reopen gives the fixture's cleanup a module to close.
func reopen(t *testing.T, f *fixture) *Module {
	m, err := Open(context.Background(), Config{LibraryPath: f.tok.Module, TokenLabels: []string{f.tok.Label},
		PIN: PIN(f.tok.PIN), MaxSessions: 1, OSLockingOK: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
