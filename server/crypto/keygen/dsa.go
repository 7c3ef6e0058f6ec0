package keygen

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// oidDSA is id-dsa (OpenSSL's "dsaEncryption"), the algorithm of DSA keys in PKCS#8 and SubjectPublicKeyInfo.
var oidDSA = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}

// primeRounds is the number of Miller-Rabin rounds for the DSA primes (math/big adds a Baillie-PSW test).
const primeRounds = 20

// dsaParameters is RFC 3279's Dss-Parms.
type dsaParameters struct{ P, Q, G *big.Int }

// privateKeyInfo is RFC 5208's PrivateKeyInfo (PKCS#8), without attributes.
type privateKeyInfo struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// subjectPublicKeyInfo is RFC 5280's SubjectPublicKeyInfo.
type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// dsaQBits is the size of q OpenSSL (and so python-cryptography, and Barbican) chooses for a p of bits.
func dsaQBits(bits int) int {
	if bits >= 2048 {
		return 256
	}
	return 160
}

// dsaPair generates DSA domain parameters and a key of bits, in DER (see the package comment). Go's crypto/dsa
// is deprecated and stops at 3072-bit p, while Barbican offers 4096, so the FIPS 186 procedure is done here.
func dsaPair(bits int, passphrase []byte) (private, public []byte, err error) {
	if bits < 1024 || bits%64 != 0 {
		return nil, nil, fmt.Errorf("DSA keys of %d bits are not supported", bits)
	}
	params, err := dsaGenerateParameters(bits, dsaQBits(bits))
	if err != nil {
		return nil, nil, err
	}
	// x is uniform in [1, q-1]; y = g^x mod p.
	x, err := rand.Int(rand.Reader, new(big.Int).Sub(params.Q, big.NewInt(1)))
	if err != nil {
		return nil, nil, fmt.Errorf("generating the DSA private value: %w", err)
	}
	x.Add(x, big.NewInt(1))
	y := new(big.Int).Exp(params.G, x, params.P)

	paramsDER, err := asn1.Marshal(*params)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding DSA parameters: %w", err)
	}
	alg := pkix.AlgorithmIdentifier{Algorithm: oidDSA, Parameters: asn1.RawValue{FullBytes: paramsDER}}
	xDER, err := asn1.Marshal(x)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the DSA private value: %w", err)
	}
	defer clear(xDER)
	private, err = asn1.Marshal(privateKeyInfo{Algorithm: alg, PrivateKey: xDER})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the DSA private key: %w", err)
	}
	if len(passphrase) > 0 {
		plain := private
		private, err = EncryptPKCS8(plain, passphrase)
		clear(plain)
		if err != nil {
			return nil, nil, err
		}
	}
	yDER, err := asn1.Marshal(y)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the DSA public value: %w", err)
	}
	public, err = asn1.Marshal(subjectPublicKeyInfo{Algorithm: alg,
		PublicKey: asn1.BitString{Bytes: yDER, BitLength: 8 * len(yDER)}})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the DSA public key: %w", err)
	}
	return private, public, nil
}

// dsaGenerateParameters finds primes q of n bits and p of l bits with q | p-1, and a generator g of the order-q
// subgroup (FIPS 186-4 A.1.1.2 with random candidates, A.2.1 for g).
func dsaGenerateParameters(l, n int) (*dsaParameters, error) {
	one := big.NewInt(1)
	for {
		q, err := rand.Prime(rand.Reader, n)
		if err != nil {
			return nil, fmt.Errorf("generating DSA q: %w", err)
		}
		twoQ := new(big.Int).Lsh(q, 1)
		buf := make([]byte, l/8)
		// FIPS 186-4 tries 4L candidates for p before it draws a new q.
		for range 4 * l {
			if _, err := rand.Read(buf); err != nil {
				return nil, fmt.Errorf("generating DSA p: %w", err)
			}
			buf[0] |= 0x80
			x := new(big.Int).SetBytes(buf)
			// p = x - (x mod 2q) + 1, so that p ≡ 1 (mod 2q) and q divides p-1.
			p := x.Sub(x, new(big.Int).Mod(x, twoQ))
			p.Add(p, one)
			if p.BitLen() != l || !p.ProbablyPrime(primeRounds) {
				continue
			}
			g, err := dsaGenerator(p, q)
			if err != nil {
				return nil, err
			}
			return &dsaParameters{P: p, Q: q, G: g}, nil
		}
	}
}

// dsaGenerator returns g = h^((p-1)/q) mod p for the first h = 2, 3, … with g > 1.
func dsaGenerator(p, q *big.Int) (*big.Int, error) {
	one := big.NewInt(1)
	e := new(big.Int).Sub(p, one)
	e.Div(e, q)
	for h := big.NewInt(2); h.Cmp(p) < 0; h.Add(h, one) {
		if g := new(big.Int).Exp(h, e, p); g.Cmp(one) > 0 {
			return g, nil
		}
	}
	return nil, errors.New("no DSA generator found")
}
