package hsm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/pkcs11"
)

// Vendor constants that PKCS#11 headers do not carry (spec §7.4).
const (
	// CKMVendorSafeNetAESGCM is SafeNet/Luna's pre-standard AES-GCM mechanism.
	CKMVendorSafeNetAESGCM = 0x8000011c
	// CKMNCipherSHA256HMACKeyGen is nCipher/nShield's keygen mechanism for CKK_SHA256_HMAC keys.
	CKMNCipherSHA256HMACKeyGen = 0xDE436997
	// CKKSHA256HMAC is the key type nShield requires for HMAC-SHA256 keys (PKCS#11 v3.0 CKK_SHA256_HMAC).
	CKKSHA256HMAC = 0x2B
	// ckmAESKeyWrapKWP is CKM_AES_KEY_WRAP_KWP (PKCS#11 v3.0), unknown to miekg/pkcs11's v2.40 headers.
	ckmAESKeyWrapKWP = 0x210B
)

// Mechanism is a PKCS#11 mechanism or key type under the name Barbican's configuration and stored metadata use
// (e.g. "CKM_AES_KEY_WRAP_PAD"): the name is what rows record, the value is what the HSM is told.
type Mechanism struct {
	Name  string
	Value uint
}

// String returns the configuration name.
func (m Mechanism) String() string { return m.Name }

// The names Barbican accepts, per option. Each table is closed: an unknown name is a configuration error, as in
// the reference ("Invalid mechanism names → plugin init fails").
var (
	// WrapMechanisms wrap pKEKs under the MKEK (key_wrap_mechanism).
	WrapMechanisms = []Mechanism{
		{"CKM_AES_CBC_PAD", pkcs11.CKM_AES_CBC_PAD},
		{"CKM_AES_KEY_WRAP_PAD", pkcs11.CKM_AES_KEY_WRAP_PAD},
		{"CKM_AES_KEY_WRAP_KWP", ckmAESKeyWrapKWP},
	}
	// EncryptionMechanisms encrypt secrets under a pKEK (encryption_mechanism).
	EncryptionMechanisms = []Mechanism{
		{"CKM_AES_CBC", pkcs11.CKM_AES_CBC},
		{"CKM_AES_GCM", pkcs11.CKM_AES_GCM},
		{"VENDOR_SAFENET_CKM_AES_GCM", CKMVendorSafeNetAESGCM},
	}
	// HMACMechanisms sign wrapped pKEKs (hmac_mechanism).
	HMACMechanisms = []Mechanism{
		{"CKM_SHA256_HMAC", pkcs11.CKM_SHA256_HMAC},
		{"CKM_AES_MAC", pkcs11.CKM_AES_MAC},
	}
	// KeyTypes are the HMAC key's possible types (hmac_key_type); the MKEK is always CKK_AES.
	KeyTypes = []Mechanism{
		{"CKK_AES", pkcs11.CKK_AES},
		{"CKK_GENERIC_SECRET", pkcs11.CKK_GENERIC_SECRET},
		{"CKK_SHA256_HMAC", CKKSHA256HMAC},
	}
	// KeyGenMechanisms generate the HMAC key (hmac_keygen_mechanism).
	KeyGenMechanisms = []Mechanism{
		{"CKM_AES_KEY_GEN", pkcs11.CKM_AES_KEY_GEN},
		{"CKM_GENERIC_SECRET_KEY_GEN", pkcs11.CKM_GENERIC_SECRET_KEY_GEN},
		{"CKM_NC_SHA256_HMAC_KEY_GEN", CKMNCipherSHA256HMACKeyGen},
	}
)

// Lookup finds a mechanism by its name in one of the tables above; the error lists the names allowed.
func Lookup(table []Mechanism, name string) (Mechanism, error) {
	i := slices.IndexFunc(table, func(m Mechanism) bool { return m.Name == name })
	if i < 0 {
		names := make([]string, len(table))
		for j, m := range table {
			names[j] = m.Name
		}
		return Mechanism{}, fmt.Errorf("unknown mechanism %q (want one of %s)", name, strings.Join(names, ", "))
	}
	return table[i], nil
}

// wrapIVLength is how many random bytes key_wrap_generate_iv supplies as the wrap mechanism's parameter
// (spec §7.4: 16 for CBC_PAD, 8 for KEY_WRAP_PAD, 4 for KWP).
func wrapIVLength(m Mechanism) int {
	switch m.Value {
	case pkcs11.CKM_AES_KEY_WRAP_PAD:
		return 8
	case ckmAESKeyWrapKWP:
		return 4
	default:
		return 16
	}
}
