package controllers

import (
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/hsm"
)

// hsmSettings are a backend's effective settings: the spec over the vendor profile (hsm.Profiles, the one
// table of vendor defaults), with the active labels. Empty strings and nil booleans leave the server's own
// default (the reference's) in place: that is all the generic vendor, which has no profile, gets.
type hsmSettings struct {
	libraryPath         string
	maxConnections      int32 // 0: no documented limit, the budget does not cap unless spec.maxConnections is set
	hmacKeyType         string
	hmacKeygenMechanism string
	hmacMechanism       string
	encryptionMechanism string
	keyWrapMechanism    string
	keyWrapGenerateIV   *bool
	aesGCMGenIV         *bool
	alwaysSetSensitive  *bool
	osLockingOK         *bool

	reserved   int32
	mkekLabel  string
	hmacLabel  string
	mkekLength int32
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
	mk := b.Spec.MasterKeys
	var s hsmSettings
	if p, ok := hsm.Profiles[string(b.Spec.Vendor)]; ok {
		// A wrap mechanism of the spec brings its own IV behaviour, not the one of the profile's mechanism.
		p = p.WithKeyWrapMechanism(mk.KeyWrapMechanism)
		s = hsmSettings{
			libraryPath: p.LibraryPath, maxConnections: p.MaxConnections,
			hmacKeyType: p.HMACKeyType, hmacKeygenMechanism: p.HMACKeygenMechanism, hmacMechanism: p.HMACMechanism,
			encryptionMechanism: p.EncryptionMechanism, keyWrapMechanism: p.KeyWrapMechanism,
			keyWrapGenerateIV: ptr.To(p.KeyWrapGenerateIV), aesGCMGenIV: ptr.To(p.AESGCMGenerateIV),
			alwaysSetSensitive: ptr.To(p.AlwaysSetSensitive), osLockingOK: ptr.To(p.OSLockingOK),
		}
	} else if mk.KeyWrapMechanism != "" {
		// Without a profile the server's default IV behaviour is CBC_PAD's: give the spec's mechanism its own.
		p := hsm.Profile{}.WithKeyWrapMechanism(mk.KeyWrapMechanism)
		s.keyWrapMechanism, s.keyWrapGenerateIV = p.KeyWrapMechanism, ptr.To(p.KeyWrapGenerateIV)
	}
	s.libraryPath = or(b.Spec.LibraryPath, s.libraryPath)
	s.maxConnections = ptr.Deref(b.Spec.MaxConnections, s.maxConnections)
	s.hmacKeyType = or(mk.HMACKeyType, s.hmacKeyType)
	s.hmacKeygenMechanism = or(mk.HMACKeygenMechanism, s.hmacKeygenMechanism)
	s.hmacMechanism = or(mk.HMACMechanism, s.hmacMechanism)
	s.encryptionMechanism = or(mk.EncryptionMechanism, s.encryptionMechanism)
	if mk.AESGCMGenerateIV != nil {
		s.aesGCMGenIV = mk.AESGCMGenerateIV
	}

	s.reserved = ptr.Deref(b.Spec.ReservedSessions, 2)
	s.mkekLabel, s.hmacLabel = or(mk.MKEKLabel, "barbican_mkek_0"), or(mk.HMACLabel, "barbican_hmac_0")
	if a := b.Status.ActiveKeys; a != nil && a.MKEKLabel != "" && a.HMACLabel != "" {
		s.mkekLabel, s.hmacLabel = a.MKEKLabel, a.HMACLabel
	}
	s.mkekLength = mk.MKEKLength
	if s.mkekLength == 0 {
		s.mkekLength = 32
	}
	return s
}
