package hsm

import (
	"context"
	"os"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveSoftHSM2()
	os.Exit(code)
}

// softHSM2Settings are the settings SoftHSM2 accepts (reference-behaviour.md): an RFC 5649 wrap without an
// IV parameter, an HMAC key of CKK_GENERIC_SECRET, host-generated GCM IVs.
func softHSM2Settings(mkek, hmac string) Settings {
	return Settings{
		MKEKLabel: mkek, HMACLabel: hmac,
		HMACKeyType:   mustFind(KeyTypes, "CKK_GENERIC_SECRET"),
		HMACMechanism: mustFind(HMACMechanisms, "CKM_SHA256_HMAC"),
		WrapMechanism: mustFind(WrapMechanisms, "CKM_AES_KEY_WRAP_PAD"),
		PKEKLength:    32, Sensitive: true,
		Encryption:    mustFind(EncryptionMechanisms, "CKM_AES_CBC"),
		GCMGenerateIV: true,
	}
}

func mustFind(table []Mechanism, name string) Mechanism {
	m, err := Lookup(table, name)
	if err != nil {
		panic(err)
	}
	return m
}

// hmacSpec is a SoftHSM2-compatible HMAC key.
func hmacSpec(label string) MasterKeySpec {
	return MasterKeySpec{Label: label, Length: 32, KeyType: mustFind(KeyTypes, "CKK_GENERIC_SECRET"),
		KeyGen: mustFind(KeyGenMechanisms, "CKM_GENERIC_SECRET_KEY_GEN")}
}

// fixture is a fresh SoftHSM2 token opened as a Module, with master keys mkek_0 and hmac_0.
type fixture struct {
	tok testbed.SoftHSM2Token
	m   *Module
	set Settings
}

func newFixture(t testing.TB, cfg func(*Config)) *fixture {
	t.Helper()
	tok := testbed.NewSoftHSM2Token(t)
	c := Config{LibraryPath: tok.Module, TokenLabels: []string{tok.Label}, PIN: PIN(tok.PIN), MaxSessions: 4,
		OSLockingOK: true}
	if cfg != nil {
		cfg(&c)
	}
	m, err := Open(context.Background(), c)
	if err != nil {
		t.Fatalf("opening the token: %v", err)
	}
	f := &fixture{tok: tok, m: m, set: softHSM2Settings("mkek_0", "hmac_0")}
	t.Cleanup(func() {
		if err := f.m.Close(); err != nil {
			t.Errorf("closing the module: %v", err)
		}
	})
	ctx := context.Background()
	if err := m.GenerateMKEK(ctx, MKEKSpec("mkek_0", 32)); err != nil {
		t.Fatal(err)
	}
	if err := m.GenerateHMACKey(ctx, hmacSpec("hmac_0")); err != nil {
		t.Fatal(err)
	}
	return f
}
