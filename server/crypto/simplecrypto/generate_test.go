package simplecrypto

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/keygen"
)

func TestSupportsGenerationMatchesTheReference(t *testing.T) {
	p := newPlugin(t, newKeys(t, 1), Options{})
	cases := map[string]struct {
		spec crypto.GenerateSpec
		want bool
	}{
		"aes 256":                         {crypto.GenerateSpec{Algorithm: "AES", BitLength: 256}, true},
		"des 64":                          {crypto.GenerateSpec{Algorithm: "des", BitLength: 64}, true},
		"hmacsha512 192":                  {crypto.GenerateSpec{Algorithm: "hmacsha512", BitLength: 192}, true},
		"aes 512 is too long":             {crypto.GenerateSpec{Algorithm: "aes", BitLength: 512}, false},
		"aes 512 in xts mode is 256 each": {crypto.GenerateSpec{Algorithm: "aes", BitLength: 512, Mode: "XTS"}, true},
		"aes 64 in xts mode is too short": {crypto.GenerateSpec{Algorithm: "aes", BitLength: 64, Mode: "xts"}, false},
		"rsa 2048":                        {crypto.GenerateSpec{Algorithm: "rsa", BitLength: 2048}, true},
		"dsa 4096":                        {crypto.GenerateSpec{Algorithm: "DSA", BitLength: 4096}, true},
		"rsa 3072 is not offered":         {crypto.GenerateSpec{Algorithm: "rsa", BitLength: 3072}, false},
		"ec is not simple_crypto's":       {crypto.GenerateSpec{Algorithm: "ec", BitLength: 256}, false},
		"no algorithm is not anything":    {crypto.GenerateSpec{BitLength: 256}, false},
	}
	for name, c := range cases {
		if got := p.SupportsGeneration(crypto.SymmetricGeneration, c.spec); got != c.want {
			t.Errorf("%s: SupportsGeneration = %v, want %v", name, got, c.want)
		}
	}
}

func TestGenerateSymmetricEncryptsRandomBytesOfTheLength(t *testing.T) {
	p := newPlugin(t, newKeys(t, 1), Options{})
	kek := boundKEK(t, p, "gen")
	ctx := context.Background()
	var keys [][]byte
	for range 2 {
		enc, err := p.GenerateSymmetric(ctx, kek, crypto.GenerateSpec{Algorithm: "aes", BitLength: 192})
		if err != nil {
			t.Fatal(err)
		}
		key, err := p.Decrypt(ctx, kek, enc.CypherText, enc.KEKMetaExtended)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != 24 {
			t.Fatalf("a 192-bit key should be 24 bytes, got %d", len(key))
		}
		keys = append(keys, key)
	}
	if bytes.Equal(keys[0], keys[1]) {
		t.Fatal("two generated keys should differ")
	}
}

func TestGenerateAsymmetricEncryptsEachPart(t *testing.T) {
	p := newPlugin(t, newKeys(t, 1), Options{})
	kek := boundKEK(t, p, "pair")
	ctx := context.Background()
	decrypt := func(e crypto.Encrypted) []byte {
		t.Helper()
		b, err := p.Decrypt(ctx, kek, e.CypherText, e.KEKMetaExtended)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pair, err := p.GenerateAsymmetric(ctx, kek, crypto.GenerateSpec{Algorithm: "rsa", BitLength: 1024,
		Passphrase: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	if pair.Passphrase == nil || string(decrypt(*pair.Passphrase)) != "s3cret" {
		t.Fatal("the passphrase should be stored encrypted as a third value")
	}
	block, _ := pem.Decode(decrypt(pair.Private))
	if block == nil || block.Type != keygen.PEMEncryptedPrivateKey {
		t.Fatalf("the private key should be an encrypted PKCS#8 PEM, got %+v", block)
	}
	der, err := keygen.DecryptPKCS8(block.Bytes, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(decrypt(pair.Public)); block == nil || block.Type != keygen.PEMPublicKey {
		t.Fatal("the public key should be a PUBLIC KEY PEM")
	}

	plain, err := p.GenerateAsymmetric(ctx, kek, crypto.GenerateSpec{Algorithm: "dsa", BitLength: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Passphrase != nil {
		t.Fatal("without a passphrase there should be no third value")
	}
	if _, err := x509.ParsePKIXPublicKey(decrypt(plain.Public)); err != nil {
		t.Fatalf("the DSA public key should be SubjectPublicKeyInfo DER: %v", err)
	}
}
