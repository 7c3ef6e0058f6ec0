package hsm

// Profile is a vendor's defaults for the p11_crypto settings: what the TripleO and RHOSO deployments of that HSM
// use (operator-anchors §3), for an HSMBackend to start from. Every field can be overridden.
type Profile struct {
	// LibraryPath is where the vendor client usually installs its PKCS#11 library.
	LibraryPath         string
	HMACKeyType         string
	HMACKeygenMechanism string
	HMACMechanism       string
	KeyWrapMechanism    string
	KeyWrapGenerateIV   bool
	EncryptionMechanism string
	AESGCMGenerateIV    bool
	// AlwaysSetSensitive is always_set_cka_sensitive: some HSMs refuse CKA_SENSITIVE on extractable keys.
	AlwaysSetSensitive bool
	OSLockingOK        bool
	// MaxConnections is the connection budget to assume when the HSMBackend gives none (0: no known limit).
	MaxConnections int
}

// Profiles are the vendor profiles by HSMBackend vendor name.
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
		LibraryPath: "/usr/local/luna/libs/64/libCryptoki2.so", HMACKeyType: "CKK_AES",
		HMACKeygenMechanism: "CKM_AES_KEY_GEN", HMACMechanism: "CKM_SHA256_HMAC",
		KeyWrapMechanism: "CKM_AES_CBC_PAD", KeyWrapGenerateIV: true, EncryptionMechanism: "CKM_AES_GCM",
		AESGCMGenerateIV: false, AlwaysSetSensitive: true,
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
		KeyWrapMechanism: "CKM_AES_KEY_WRAP_PAD", KeyWrapGenerateIV: false, EncryptionMechanism: "CKM_AES_CBC",
		AESGCMGenerateIV: true, AlwaysSetSensitive: true, OSLockingOK: true,
	},
}
