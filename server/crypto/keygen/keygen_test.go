package keygen

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
)

func decodePEM(t *testing.T, data []byte, wantType string) []byte {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("want exactly one PEM block, got %q", data)
	}
	if block.Type != wantType {
		t.Fatalf("PEM type should be %q, got %q", wantType, block.Type)
	}
	return block.Bytes
}

func TestRSAPair(t *testing.T) {
	for _, passphrase := range []string{"", "correct horse"} {
		t.Run("passphrase="+passphrase, func(t *testing.T) {
			private, public, err := Pair("RSA", 1024, []byte(passphrase))
			if err != nil {
				t.Fatal(err)
			}
			pubKey, err := x509.ParsePKIXPublicKey(decodePEM(t, public, PEMPublicKey))
			if err != nil {
				t.Fatalf("public key should be a SubjectPublicKeyInfo: %v", err)
			}
			var der []byte
			if passphrase == "" {
				der = decodePEM(t, private, PEMPrivateKey)
			} else {
				der = decodePEM(t, private, PEMEncryptedPrivateKey)
				if _, err := DecryptPKCS8(der, []byte("wrong")); !errors.Is(err, ErrPassphrase) {
					t.Fatalf("a wrong passphrase should fail with ErrPassphrase, got %v", err)
				}
				if der, err = DecryptPKCS8(der, []byte(passphrase)); err != nil {
					t.Fatalf("decrypting with the passphrase: %v", err)
				}
			}
			key, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatalf("private key should be PKCS#8: %v", err)
			}
			rsaKey, ok := key.(*rsa.PrivateKey)
			if !ok || rsaKey.N.BitLen() != 1024 || rsaKey.E != 65537 {
				t.Fatalf("want a 1024-bit RSA key with e=65537, got %T", key)
			}
			if !rsaKey.PublicKey.Equal(pubKey) {
				t.Fatal("public key should belong to the private key")
			}
		})
	}
}

// parsedDSA is a DSA key pair read back from its DER forms with no help from the code under test.
type parsedDSA struct {
	params dsaParameters
	x, y   *big.Int
}

func parseDSA(t *testing.T, private, public []byte) parsedDSA {
	t.Helper()
	if _, err := x509.ParsePKIXPublicKey(public); err != nil {
		t.Fatalf("Go's x509 should read the DSA public key: %v", err)
	}
	var pki privateKeyInfo
	if rest, err := asn1.Unmarshal(private, &pki); err != nil || len(rest) > 0 || pki.Version != 0 ||
		!pki.Algorithm.Algorithm.Equal(oidDSA) {
		t.Fatalf("private key should be a DSA PrivateKeyInfo: %v", err)
	}
	var out parsedDSA
	if _, err := asn1.Unmarshal(pki.Algorithm.Parameters.FullBytes, &out.params); err != nil {
		t.Fatalf("DSA parameters: %v", err)
	}
	if _, err := asn1.Unmarshal(pki.PrivateKey, &out.x); err != nil {
		t.Fatalf("DSA private value: %v", err)
	}
	var spki subjectPublicKeyInfo
	if _, err := asn1.Unmarshal(public, &spki); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(spki.Algorithm.Parameters.FullBytes, pki.Algorithm.Parameters.FullBytes) {
		t.Fatal("public and private key should carry the same parameters")
	}
	if _, err := asn1.Unmarshal(spki.PublicKey.RightAlign(), &out.y); err != nil {
		t.Fatalf("DSA public value: %v", err)
	}
	return out
}

func TestDSAPair(t *testing.T) {
	private, public, err := Pair("dsa", 1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := parseDSA(t, private, public)
	p, q, g := k.params.P, k.params.Q, k.params.G
	if p.BitLen() != 1024 || q.BitLen() != 160 || !p.ProbablyPrime(20) || !q.ProbablyPrime(20) {
		t.Fatalf("want prime p of 1024 bits and q of 160 bits, got %d and %d", p.BitLen(), q.BitLen())
	}
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	if new(big.Int).Mod(pm1, q).Sign() != 0 {
		t.Fatal("q should divide p-1")
	}
	if g.Cmp(big.NewInt(1)) <= 0 || new(big.Int).Exp(g, q, p).Cmp(big.NewInt(1)) != 0 {
		t.Fatal("g should generate the subgroup of order q")
	}
	if k.x.Sign() <= 0 || k.x.Cmp(q) >= 0 || new(big.Int).Exp(g, k.x, p).Cmp(k.y) != 0 {
		t.Fatal("the public value should be g^x mod p for 0 < x < q")
	}

	encrypted, _, err := Pair("dsa", 1024, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(encrypted, &privateKeyInfo{}); err == nil {
		t.Fatal("with a passphrase the private key should not be a plain PrivateKeyInfo")
	}
	if _, err := DecryptPKCS8(encrypted, []byte("pw")); err != nil {
		t.Fatalf("the encrypted DSA key should decrypt with its passphrase: %v", err)
	}
}

func TestDSAQSizeFollowsOpenSSL(t *testing.T) {
	for bits, want := range map[int]int{1024: 160, 2048: 256, 4096: 256} {
		if got := dsaQBits(bits); got != want {
			t.Errorf("q for %d-bit p should have %d bits, got %d", bits, want, got)
		}
	}
}

func TestPairRefusesOtherAlgorithms(t *testing.T) {
	if _, _, err := Pair("ec", 256, nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("want ErrUnsupported, got %v", err)
	}
	if _, _, err := Pair("dsa", 1000, nil); err == nil {
		t.Fatal("a DSA size that is not a multiple of 64 should be refused")
	}
}

func TestDecryptPKCS8RejectsGarbage(t *testing.T) {
	for _, der := range [][]byte{nil, {0x30, 0x00}, []byte("not DER at all")} {
		if _, err := DecryptPKCS8(der, []byte("pw")); err == nil {
			t.Errorf("garbage %q should not decrypt", der)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t *testing.T, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("want base64, got %v", v)
	}
	return b
}
