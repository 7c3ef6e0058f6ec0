package hsm

import (
	"context"
	"testing"
)

// profileSettings are the Settings a profile gives, with the labels of the fixture's keys.
func profileSettings(p Profile, mkek, hmac string) Settings {
	return Settings{MKEKLabel: mkek, HMACLabel: hmac, HMACKeyType: mustFind(KeyTypes, p.HMACKeyType),
		HMACMechanism: mustFind(HMACMechanisms, p.HMACMechanism), WrapMechanism: mustFind(WrapMechanisms, p.KeyWrapMechanism),
		GenerateIV: p.KeyWrapGenerateIV, PKEKLength: 32, Sensitive: p.AlwaysSetSensitive,
		Encryption: mustFind(EncryptionMechanisms, p.EncryptionMechanism), GCMGenerateIV: p.AESGCMGenerateIV}
}

// Every profile names mechanisms keymanager knows, and the softhsm profile works on SoftHSM2 end to end.
func TestProfiles(t *testing.T) {
	for name, p := range Profiles {
		for _, c := range []struct {
			table []Mechanism
			name  string
		}{{KeyTypes, p.HMACKeyType}, {KeyGenMechanisms, p.HMACKeygenMechanism}, {HMACMechanisms, p.HMACMechanism},
			{WrapMechanisms, p.KeyWrapMechanism}, {EncryptionMechanisms, p.EncryptionMechanism}} {
			if _, err := Lookup(c.table, c.name); err != nil {
				t.Errorf("profile %s: %v", name, err)
			}
		}
		if p.LibraryPath == "" {
			t.Errorf("profile %s has no library path", name)
		}
	}
	p := Profiles["softhsm"]
	f := newFixture(t, nil)
	ctx := context.Background()
	hmac := MasterKeySpec{Label: "hmac_p", Length: 32, KeyType: mustFind(KeyTypes, p.HMACKeyType),
		KeyGen: mustFind(KeyGenMechanisms, p.HMACKeygenMechanism)}
	if err := f.m.GenerateHMACKey(ctx, hmac); err != nil {
		t.Fatal(err)
	}
	s := profileSettings(p, "mkek_0", "hmac_p")
	w, err := f.m.NewPKEK(ctx, "k", s)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := f.m.Encrypt(ctx, "k", w, s, []byte("profile"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := f.m.Decrypt(ctx, "k2", w, s, ct); err != nil || string(pt) != "profile" {
		t.Fatalf("the softhsm profile: %q, %v", pt, err)
	}
	if len(ct.IV) != 12 {
		t.Errorf("the softhsm profile encrypts with a %d-byte IV, want GCM's 12", len(ct.IV))
	}
}

// A profile given another wrap mechanism takes that mechanism's IV behaviour, not the vendor's for its own:
// a Proteccio backend told to wrap with KEY_WRAP_PAD must not pass CBC_PAD's IV, which SoftHSM2 refuses.
func TestWithKeyWrapMechanism(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	soft := Profiles["softhsm"]
	for name, p := range Profiles {
		q := p.WithKeyWrapMechanism("CKM_AES_KEY_WRAP_PAD")
		if q.KeyWrapMechanism != "CKM_AES_KEY_WRAP_PAD" || q.KeyWrapGenerateIV {
			t.Errorf("%s with KEY_WRAP_PAD: %s, IV %t", name, q.KeyWrapMechanism, q.KeyWrapGenerateIV)
		}
		// Only the wrap comes from the profile under test: SoftHSM2 takes the softhsm HMAC and encryption.
		q.HMACKeyType, q.HMACMechanism = soft.HMACKeyType, soft.HMACMechanism
		q.EncryptionMechanism, q.AESGCMGenerateIV = soft.EncryptionMechanism, soft.AESGCMGenerateIV
		if _, err := f.m.NewPKEK(ctx, "w-"+name, profileSettings(q, "mkek_0", "hmac_0")); err != nil {
			t.Errorf("%s with KEY_WRAP_PAD on SoftHSM2: %v", name, err)
		}
	}
	if q := soft.WithKeyWrapMechanism("CKM_AES_CBC_PAD"); !q.KeyWrapGenerateIV {
		t.Error("CBC_PAD without an IV")
	}
	if q := soft.WithKeyWrapMechanism(""); q != soft {
		t.Errorf("an empty mechanism changed the profile: %+v", q)
	}
}
