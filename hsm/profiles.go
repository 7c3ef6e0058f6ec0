package hsm

// Profile is a vendor's defaults for the p11_crypto settings: what the deployments of that HSM use
// (operator-anchors §3), for an HSMBackend to start from. Every field can be overridden. It is the one table of
// vendor defaults: the operator renders its HSMBackends' configuration from it (controllers/vendor.go).
type Profile struct {
	// LibraryPath is where the vendor client usually installs its PKCS#11 library.
	LibraryPath         string
	HMACKeyType         string
	HMACKeygenMechanism string
	HMACMechanism       string
	KeyWrapMechanism    string
	// KeyWrapGenerateIV is key_wrap_generate_iv for KeyWrapMechanism: whether the wrap gets a random IV as its
	// parameter. It belongs to the mechanism on that HSM, so WithKeyWrapMechanism resets it with the mechanism.
	KeyWrapGenerateIV   bool
	EncryptionMechanism string
	AESGCMGenerateIV    bool
	// AlwaysSetSensitive is always_set_cka_sensitive: some HSMs refuse CKA_SENSITIVE on extractable keys.
	AlwaysSetSensitive bool
	OSLockingOK        bool
	// MaxConnections is the connection budget to assume when the HSMBackend gives none (0: no known limit).
	MaxConnections int32
}

// Profiles are the vendor profiles by HSMBackend vendor name. The generic vendor has none: it runs on the
// reference's defaults (server/config.DefaultP11) and whatever its HSMBackend sets.
//
// Where the deployments disagree, the Kubernetes-era ones win (the RHOSO CI hooks, operator-anchors §3.1), as
// they are the deployments this operator replaces; TripleO's values are the ones to set when migrating keys
// that TripleO generated (its Luna HMAC keys are CKK_AES, for one).
var Profiles = map[string]Profile{
	"proteccio": {
		LibraryPath: "/opt/tw_proteccio/lib/libnethsm.so", HMACKeyType: "CKK_GENERIC_SECRET",
		HMACKeygenMechanism: "CKM_GENERIC_SECRET_KEY_GEN", HMACMechanism: "CKM_SHA256_HMAC",
		KeyWrapMechanism: "CKM_AES_CBC_PAD", KeyWrapGenerateIV: true, EncryptionMechanism: "CKM_AES_CBC",
		AESGCMGenerateIV: true, AlwaysSetSensitive: false,
		// The figure in circulation; no vendor source was found for it.
		MaxConnections: 32,
	},
	"luna": {
		// The RHOSO CI hook's settings: a generic-secret HMAC key and GCM with IVs from the HSM.
		LibraryPath: "/usr/local/luna/libs/64/libCryptoki2.so", HMACKeyType: "CKK_GENERIC_SECRET",
		HMACKeygenMechanism: "CKM_GENERIC_SECRET_KEY_GEN", HMACMechanism: "CKM_SHA256_HMAC",
		KeyWrapMechanism: "CKM_AES_CBC_PAD", KeyWrapGenerateIV: true, EncryptionMechanism: "CKM_AES_GCM",
		AESGCMGenerateIV: false, AlwaysSetSensitive: true,
		// The Luna 7 appliance guide cites 800 concurrent connections per appliance.
		MaxConnections: 800,
	},
	"nshield": {
		LibraryPath: "/opt/nfast/toolkits/pkcs11/libcknfast.so", HMACKeyType: "CKK_SHA256_HMAC",
		HMACKeygenMechanism: "CKM_NC_SHA256_HMAC_KEY_GEN", HMACMechanism: "CKM_SHA256_HMAC",
		KeyWrapMechanism: "CKM_AES_CBC_PAD", KeyWrapGenerateIV: true, EncryptionMechanism: "CKM_AES_CBC",
		AESGCMGenerateIV: true, AlwaysSetSensitive: false,
	},
	"softhsm": {
		LibraryPath: "/usr/lib/softhsm/libsofthsm2.so", HMACKeyType: "CKK_GENERIC_SECRET",
		HMACKeygenMechanism: "CKM_GENERIC_SECRET_KEY_GEN", HMACMechanism: "CKM_SHA256_HMAC",
		// SoftHSM2 refuses CBC_PAD for wrapping, and an IV with KEY_WRAP_PAD.
		KeyWrapMechanism: "CKM_AES_KEY_WRAP_PAD", KeyWrapGenerateIV: false,
		// GCM with host IVs, as the reference Barbican was run on SoftHSM2 here (reference-behaviour.md, stored
		// formats); SoftHSM2 returns no IV when asked to make one, so the host must.
		EncryptionMechanism: "CKM_AES_GCM", AESGCMGenerateIV: true,
		AlwaysSetSensitive: true, OSLockingOK: true,
	},
}

// WithKeyWrapMechanism returns p wrapping with mechanism instead, with the IV behaviour that mechanism has
// when the vendor's own is unknown: CBC_PAD needs a random IV; the RFC 3394/5649 wraps (KEY_WRAP_PAD,
// KEY_WRAP_KWP) take the RFC's fixed one, and SoftHSM2 refuses a parameter. An empty or unchanged mechanism
// leaves p as it is.
func (p Profile) WithKeyWrapMechanism(mechanism string) Profile {
	if mechanism == "" || mechanism == p.KeyWrapMechanism {
		return p
	}
	p.KeyWrapMechanism, p.KeyWrapGenerateIV = mechanism, mechanism == "CKM_AES_CBC_PAD"
	return p
}
