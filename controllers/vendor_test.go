package controllers

import (
	"strconv"
	"testing"

	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/hsm"
)

// The operator's vendor defaults are hsm.Profiles, field for field: what a backend of each vendor renders into
// the server's and the Jobs' configuration is its profile, the spec overrides it, and generic renders none.
func TestVendorSettingsFromProfiles(t *testing.T) {
	vendors := []kmv1.HSMVendor{kmv1.VendorProteccio, kmv1.VendorLuna, kmv1.VendorNShield, kmv1.VendorSoftHSM}
	if len(vendors) != len(hsm.Profiles) {
		t.Fatalf("hsm.Profiles has %d vendors, the CRD %d besides generic", len(hsm.Profiles), len(vendors))
	}
	for _, v := range vendors {
		p, ok := hsm.Profiles[string(v)]
		if !ok {
			t.Fatalf("no profile for vendor %s", v)
		}
		b := newHSMBackend("kms", "hsm", func(s *kmv1.HSMBackendSpec) { s.Vendor = v })
		s := effectiveSettings(b)
		if s.maxConnections != p.MaxConnections {
			t.Errorf("%s: maxConnections %d, profile %d", v, s.maxConnections, p.MaxConnections)
		}
		want := map[string]string{
			"KEYMANAGER_P11_LIBRARY_PATH":             p.LibraryPath,
			"KEYMANAGER_P11_HMAC_KEY_TYPE":            p.HMACKeyType,
			"KEYMANAGER_P11_HMAC_KEYGEN_MECHANISM":    p.HMACKeygenMechanism,
			"KEYMANAGER_P11_HMAC_MECHANISM":           p.HMACMechanism,
			"KEYMANAGER_P11_ENCRYPTION_MECHANISM":     p.EncryptionMechanism,
			"KEYMANAGER_P11_KEY_WRAP_MECHANISM":       p.KeyWrapMechanism,
			"KEYMANAGER_P11_KEY_WRAP_GENERATE_IV":     strconv.FormatBool(p.KeyWrapGenerateIV),
			"KEYMANAGER_P11_AES_GCM_GENERATE_IV":      strconv.FormatBool(p.AESGCMGenerateIV),
			"KEYMANAGER_P11_ALWAYS_SET_CKA_SENSITIVE": strconv.FormatBool(p.AlwaysSetSensitive),
			"KEYMANAGER_P11_OS_LOCKING_OK":            strconv.FormatBool(p.OSLockingOK),
		}
		cfg := p11Config(b, s)
		for k, w := range want {
			if cfg[k] != w {
				t.Errorf("%s: %s=%q, profile %q", v, k, cfg[k], w)
			}
		}
	}

	// The spec wins; a wrap mechanism of the spec brings its own IV behaviour.
	b := newHSMBackend("kms", "hsm", func(s *kmv1.HSMBackendSpec) {
		s.MaxConnections, s.LibraryPath = ptr.To[int32](5), "/opt/other/lib.so"
		s.MasterKeys = kmv1.MasterKeys{HMACKeyType: "CKK_AES", HMACKeygenMechanism: "CKM_AES_KEY_GEN",
			EncryptionMechanism: "CKM_AES_GCM", KeyWrapMechanism: "CKM_AES_KEY_WRAP_KWP", AESGCMGenerateIV: ptr.To(false)}
	})
	cfg := p11Config(b, effectiveSettings(b))
	for k, w := range map[string]string{
		"KEYMANAGER_P11_LIBRARY_PATH": "/opt/other/lib.so", "KEYMANAGER_P11_HMAC_KEY_TYPE": "CKK_AES",
		"KEYMANAGER_P11_HMAC_KEYGEN_MECHANISM": "CKM_AES_KEY_GEN", "KEYMANAGER_P11_ENCRYPTION_MECHANISM": "CKM_AES_GCM",
		"KEYMANAGER_P11_KEY_WRAP_MECHANISM": "CKM_AES_KEY_WRAP_KWP", "KEYMANAGER_P11_KEY_WRAP_GENERATE_IV": "false",
		"KEYMANAGER_P11_AES_GCM_GENERATE_IV": "false", "KEYMANAGER_P11_ALWAYS_SET_CKA_SENSITIVE": "false",
	} {
		if cfg[k] != w {
			t.Errorf("overridden proteccio: %s=%q, want %q", k, cfg[k], w)
		}
	}
	if s := effectiveSettings(b); s.maxConnections != 5 {
		t.Errorf("maxConnections %d, want the spec's 5", s.maxConnections)
	}

	// generic has no profile: only what its spec says, the server's defaults for the rest.
	g := newHSMBackend("kms", "hsm", func(s *kmv1.HSMBackendSpec) {
		s.Vendor, s.LibraryPath, s.MaxConnections = kmv1.VendorGeneric, "/opt/vendor/p11.so", ptr.To[int32](16)
		s.MasterKeys.KeyWrapMechanism = "CKM_AES_KEY_WRAP_PAD"
	})
	cfg = p11Config(g, effectiveSettings(g))
	for _, k := range []string{"KEYMANAGER_P11_HMAC_KEY_TYPE", "KEYMANAGER_P11_ENCRYPTION_MECHANISM",
		"KEYMANAGER_P11_AES_GCM_GENERATE_IV", "KEYMANAGER_P11_ALWAYS_SET_CKA_SENSITIVE", "KEYMANAGER_P11_OS_LOCKING_OK"} {
		if v, ok := cfg[k]; ok {
			t.Errorf("generic renders %s=%q", k, v)
		}
	}
	if cfg["KEYMANAGER_P11_KEY_WRAP_MECHANISM"] != "CKM_AES_KEY_WRAP_PAD" || cfg["KEYMANAGER_P11_KEY_WRAP_GENERATE_IV"] != "false" {
		t.Errorf("generic with KEY_WRAP_PAD: %q, IV %q", cfg["KEYMANAGER_P11_KEY_WRAP_MECHANISM"], cfg["KEYMANAGER_P11_KEY_WRAP_GENERATE_IV"])
	}
}
