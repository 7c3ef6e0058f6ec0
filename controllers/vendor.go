package controllers

import (
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// vendorProfile holds a vendor's defaults. Empty strings leave the server's own default in place.
type vendorProfile struct {
	libraryPath         string
	maxConnections      int32 // 0: no documented limit, the budget does not cap unless spec.maxConnections is set
	hmacKeyType         string
	hmacKeygenMechanism string
	hmacMechanism       string
	encryptionMechanism string
	keyWrapMechanism    string
	// keyWrapGenerateIV, when set, overrides the server's default (true): SoftHSM2's CKM_AES_KEY_WRAP_PAD
	// refuses an IV parameter with CKR_ARGUMENTS_BAD.
	keyWrapGenerateIV *bool
}

// profiles are the vendor defaults. The paths are where the vendors' clients install their PKCS#11 module;
// the mechanisms follow what deployments of Barbican on these HSMs use (TripleO environments and the
// RHOSO CI hooks, see spec/operator-anchors.md §3.1). SoftHSM2 needs a generic-secret HMAC key and an
// RFC 5649 key wrap (it refuses CKK_AES HMAC keys and CBC_PAD wrapping, spec/reference-behaviour.md).
var profiles = map[kmv1.HSMVendor]vendorProfile{
	kmv1.VendorProteccio: {
		libraryPath: "/opt/tw_proteccio/lib/libnethsm.so", maxConnections: 32,
		hmacKeyType: "CKK_GENERIC_SECRET", hmacKeygenMechanism: "CKM_GENERIC_SECRET_KEY_GEN",
		hmacMechanism: "CKM_SHA256_HMAC", encryptionMechanism: "CKM_AES_CBC",
	},
	kmv1.VendorLuna: {
		// The Luna 7 appliance guide cites 800 concurrent connections per appliance.
		libraryPath: "/usr/local/luna/libs/64/libCryptoki2.so", maxConnections: 800,
		hmacKeyType: "CKK_GENERIC_SECRET", hmacKeygenMechanism: "CKM_GENERIC_SECRET_KEY_GEN",
		hmacMechanism: "CKM_SHA256_HMAC", encryptionMechanism: "CKM_AES_GCM",
	},
	kmv1.VendorNShield: {
		libraryPath: "/opt/nfast/toolkits/pkcs11/libcknfast.so",
		hmacKeyType: "CKK_SHA256_HMAC", hmacKeygenMechanism: "CKM_NC_SHA256_HMAC_KEY_GEN",
		hmacMechanism: "CKM_SHA256_HMAC", encryptionMechanism: "CKM_AES_CBC",
	},
	kmv1.VendorSoftHSM: {
		libraryPath: "/usr/lib/softhsm/libsofthsm2.so",
		hmacKeyType: "CKK_GENERIC_SECRET", hmacKeygenMechanism: "CKM_GENERIC_SECRET_KEY_GEN",
		hmacMechanism: "CKM_SHA256_HMAC", encryptionMechanism: "CKM_AES_GCM", keyWrapMechanism: "CKM_AES_KEY_WRAP_PAD",
		keyWrapGenerateIV: ptr.To(false),
	},
	kmv1.VendorGeneric: {},
}

// hsmSettings are a backend's effective settings: the spec over the vendor profile, with the active labels.
type hsmSettings struct {
	vendorProfile
	reserved    int32
	mkekLabel   string
	hmacLabel   string
	mkekLength  int32
	aesGCMGenIV *bool
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// effectiveSettings merges b's spec over its vendor profile. The labels are the active ones from status
// (switched by a KeyRotation) or, before the first reconcile of the backend, the initial ones of spec.
func effectiveSettings(b *kmv1.HSMBackend) hsmSettings {
	p := profiles[b.Spec.Vendor]
	mk := b.Spec.MasterKeys
	s := hsmSettings{vendorProfile: vendorProfile{
		libraryPath:         or(b.Spec.LibraryPath, p.libraryPath),
		maxConnections:      ptr.Deref(b.Spec.MaxConnections, p.maxConnections),
		hmacKeyType:         or(mk.HMACKeyType, p.hmacKeyType),
		hmacKeygenMechanism: or(mk.HMACKeygenMechanism, p.hmacKeygenMechanism),
		hmacMechanism:       or(mk.HMACMechanism, p.hmacMechanism),
		encryptionMechanism: or(mk.EncryptionMechanism, p.encryptionMechanism),
		keyWrapMechanism:    or(mk.KeyWrapMechanism, p.keyWrapMechanism),
		keyWrapGenerateIV:   p.keyWrapGenerateIV,
	}}
	s.reserved = ptr.Deref(b.Spec.ReservedSessions, 2)
	s.mkekLabel, s.hmacLabel = or(mk.MKEKLabel, "barbican_mkek_0"), or(mk.HMACLabel, "barbican_hmac_0")
	if a := b.Status.ActiveKeys; a != nil && a.MKEKLabel != "" && a.HMACLabel != "" {
		s.mkekLabel, s.hmacLabel = a.MKEKLabel, a.HMACLabel
	}
	s.mkekLength = mk.MKEKLength
	if s.mkekLength == 0 {
		s.mkekLength = 32
	}
	s.aesGCMGenIV = mk.AESGCMGenerateIV
	return s
}
