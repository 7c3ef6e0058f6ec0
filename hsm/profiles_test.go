package hsm

import (
	"context"
	"testing"
)

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
	}
	p := Profiles["softhsm"]
	f := newFixture(t, nil)
	ctx := context.Background()
	hmac := MasterKeySpec{Label: "hmac_p", Length: 32, KeyType: mustFind(KeyTypes, p.HMACKeyType),
		KeyGen: mustFind(KeyGenMechanisms, p.HMACKeygenMechanism)}
	if err := f.m.GenerateHMACKey(ctx, hmac); err != nil {
		t.Fatal(err)
	}
	s := Settings{MKEKLabel: "mkek_0", HMACLabel: "hmac_p", HMACKeyType: hmac.KeyType,
		HMACMechanism: mustFind(HMACMechanisms, p.HMACMechanism), WrapMechanism: mustFind(WrapMechanisms, p.KeyWrapMechanism),
		GenerateIV: p.KeyWrapGenerateIV, PKEKLength: 32, Sensitive: p.AlwaysSetSensitive,
		Encryption: mustFind(EncryptionMechanisms, p.EncryptionMechanism), GCMGenerateIV: p.AESGCMGenerateIV}
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
}
