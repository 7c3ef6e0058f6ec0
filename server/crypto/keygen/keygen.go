// Package keygen generates the key pairs of asymmetric orders in the formats the reference Barbican's
// simple_crypto plugin stores (python-cryptography serialisation):
//
//   - RSA (e = 65537): the private key as PKCS#8 PEM ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" when a
//     passphrase is given), the public key as SubjectPublicKeyInfo PEM ("PUBLIC KEY");
//   - DSA: the private key as PKCS#8 DER (encrypted PKCS#8 DER with a passphrase), the public key as
//     SubjectPublicKeyInfo DER, with OpenSSL's parameter sizes (q of 160 bits below 2048-bit p, else 256).
//
// A passphrase encrypts the private key the way cryptography's BestAvailableEncryption does with OpenSSL 3:
// PBES2 with PBKDF2-HMAC-SHA256 (8-byte salt, 2048 iterations) and AES-256-CBC.
package keygen

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported means the algorithm is neither RSA nor DSA (Barbican's CryptoPrivateKeyFailureException).
var ErrUnsupported = errors.New("could not generate private key: unsupported algorithm")

// PEM block types of the keys Pair returns.
const (
	PEMPrivateKey          = "PRIVATE KEY"
	PEMEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
	PEMPublicKey           = "PUBLIC KEY"
)

// Pair generates a key pair of algorithm "rsa" or "dsa" (case-insensitive) and bits, and returns the
// serialised private and public keys; see the package comment for the formats. The caller zeroes private.
func Pair(algorithm string, bits int, passphrase []byte) (private, public []byte, err error) {
	switch strings.ToLower(algorithm) {
	case "rsa":
		return rsaPair(bits, passphrase)
	case "dsa":
		return dsaPair(bits, passphrase)
	}
	return nil, nil, ErrUnsupported
}

func rsaPair(bits int, passphrase []byte) (private, public []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a %d-bit RSA key: %w", bits, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the RSA private key: %w", err)
	}
	defer clear(der)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the RSA public key: %w", err)
	}
	block := &pem.Block{Type: PEMPrivateKey, Bytes: der}
	if len(passphrase) > 0 {
		enc, err := EncryptPKCS8(der, passphrase)
		if err != nil {
			return nil, nil, err
		}
		block = &pem.Block{Type: PEMEncryptedPrivateKey, Bytes: enc}
	}
	return pem.EncodeToMemory(block), pem.EncodeToMemory(&pem.Block{Type: PEMPublicKey, Bytes: pub}), nil
}
