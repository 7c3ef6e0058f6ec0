package v1alpha1_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

// The CRDs' defaults, enums, bounds and CEL rules carry all validation (there is no webhook), so these tests
// apply objects to envtest's real kube-apiserver with the generated CRDs and pin the exact rejections.

func newClient(t *testing.T) client.Client {
	t.Helper()
	cfg := testbed.StartKube(t, "../../config/crd/bases")
	scheme := runtime.NewScheme()
	if err := kmv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return c
}

func hsmBackend(name string, mod func(*kmv1.HSMBackendSpec)) *kmv1.HSMBackend {
	b := &kmv1.HSMBackend{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: kmv1.HSMBackendSpec{
			Vendor: kmv1.VendorProteccio,
			Token:  kmv1.TokenSelector{Labels: []string{"partition1"}},
			LoginPINSecretRef: corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "hsm-pin"}, Key: "pin",
			},
		},
	}
	if mod != nil {
		mod(&b.Spec)
	}
	return b
}

func keyManager(name string, mod func(*kmv1.KeyManagerSpec)) *kmv1.KeyManager {
	km := &kmv1.KeyManager{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: kmv1.KeyManagerSpec{
			Image: "keymanager:test",
			Database: kmv1.Database{
				Host:                 "mariadb",
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "db"},
			},
			SecretStores: []kmv1.SecretStore{{Name: "hsm", PKCS11: &kmv1.PKCS11Store{
				HSMBackendRef: corev1.LocalObjectReference{Name: "proteccio"},
			}}},
		},
	}
	if mod != nil {
		mod(&km.Spec)
	}
	return km
}

func simpleStore(name string, def bool) kmv1.SecretStore {
	return kmv1.SecretStore{Name: name, GlobalDefault: def, SimpleCrypto: &kmv1.SimpleCryptoStore{
		KEKSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "kek"}, Key: "kek"},
	}}
}

func pkcs11Store(name string, def bool) kmv1.SecretStore {
	return kmv1.SecretStore{Name: name, GlobalDefault: def, PKCS11: &kmv1.PKCS11Store{
		HSMBackendRef: corev1.LocalObjectReference{Name: "proteccio"},
	}}
}

// rejection is one expected field error: its field path and its exact message.
type rejection struct{ field, message string }

// assertRejected checks that err is an Invalid error whose causes are exactly want (order ignored).
func assertRejected(t *testing.T, err error, want ...rejection) {
	t.Helper()
	var status *apierrors.StatusError
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		t.Fatalf("got error %v, want Invalid with %v", err, want)
	}
	var got []rejection
	for _, c := range status.ErrStatus.Details.Causes {
		// A schema error makes the API server skip the CEL rules and say so in a cause without a field;
		// that note is not a rejection of its own.
		if (c.Field == "" || c.Field == "<nil>") && strings.Contains(c.Message, "some validation rules were not checked") {
			continue
		}
		got = append(got, rejection{c.Field, c.Message})
	}
	if len(got) != len(want) {
		t.Fatalf("rejected with %q, want %q", got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("rejected with %q, want among them %q", got, w)
		}
	}
}

func TestValidation(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()

	t.Run("HSMBackend defaults", func(t *testing.T) {
		b := hsmBackend("defaults", nil)
		if err := c.Create(ctx, b); err != nil {
			t.Fatalf("creating a minimal HSMBackend: %v", err)
		}
		mk := b.Spec.MasterKeys
		if mk.MKEKLabel != "barbican_mkek_0" || mk.HMACLabel != "barbican_hmac_0" || mk.MKEKLength != 32 {
			t.Errorf("master key defaults = %+v, want barbican_mkek_0, barbican_hmac_0, 32", mk)
		}
		if got := ptr.Deref(b.Spec.ReservedSessions, -1); got != 2 {
			t.Errorf("reservedSessions default = %d, want 2", got)
		}
	})

	for _, tc := range []struct {
		name string
		mod  func(*kmv1.HSMBackendSpec)
		want []rejection
	}{
		{"unknown vendor", func(s *kmv1.HSMBackendSpec) { s.Vendor = "thales" },
			[]rejection{{"spec.vendor", `Unsupported value: "thales": supported values: "proteccio", "luna", "nshield", "softhsm", "generic"`}}},
		{"two token selectors", func(s *kmv1.HSMBackendSpec) { s.Token.SlotID = ptr.To[int64](1) },
			[]rejection{{"spec.token", `Invalid value: exactly one of serialNumber, labels or slotID must be set`}}},
		{"no token selector", func(s *kmv1.HSMBackendSpec) { s.Token = kmv1.TokenSelector{} },
			[]rejection{{"spec.token", `Invalid value: exactly one of serialNumber, labels or slotID must be set`}}},
		{"generic without library or limit", func(s *kmv1.HSMBackendSpec) { s.Vendor = kmv1.VendorGeneric },
			[]rejection{
				{"spec", `Invalid value: libraryPath is required for vendor generic`},
				{"spec", `Invalid value: maxConnections is required for vendor generic: no profile knows the HSM's connection limit`},
			}},
		{"softHSM store on another vendor", func(s *kmv1.HSMBackendSpec) {
			s.SoftHSM = &kmv1.SoftHSMStore{TokenClaimName: "tokens"}
		}, []rejection{{"spec", `Invalid value: softHSM is for vendor softhsm only`}}},
		{"zero connections", func(s *kmv1.HSMBackendSpec) { s.MaxConnections = ptr.To[int32](0) },
			[]rejection{{"spec.maxConnections", "Invalid value: 0: spec.maxConnections in body should be greater than or equal to 1"}}},
		{"same MKEK and HMAC label", func(s *kmv1.HSMBackendSpec) {
			s.MasterKeys = kmv1.MasterKeys{MKEKLabel: "k", HMACLabel: "k"}
		}, []rejection{{"spec.masterKeys", `Invalid value: mkekLabel and hmacLabel must differ`}}},
		{"MKEK length", func(s *kmv1.HSMBackendSpec) { s.MasterKeys.MKEKLength = 20 },
			[]rejection{{"spec.masterKeys.mkekLength", `Unsupported value: 20: supported values: "16", "24", "32"`}}},
		{"image and bundle", func(s *kmv1.HSMBackendSpec) {
			s.Client = &kmv1.HSMClient{
				Image:  &kmv1.HSMClientImage{Image: "client:1"},
				Bundle: &kmv1.HSMClientBundle{URL: "https://x/c.tgz", SHA256: strings.Repeat("a", 64), Format: "tar.gz"},
			}
		}, []rejection{{"spec.client", `Invalid value: exactly one of image or bundle must be set`}}},
		{"bundle over http with a bad digest", func(s *kmv1.HSMBackendSpec) {
			s.Client = &kmv1.HSMClient{Bundle: &kmv1.HSMClientBundle{URL: "http://x/c.tgz", SHA256: "ABC", Format: "rar"}}
		}, []rejection{
			{"spec.client.bundle.url", `Invalid value: "http://x/c.tgz": spec.client.bundle.url in body should match '^https://'`},
			{"spec.client.bundle.sha256", `Invalid value: "ABC": spec.client.bundle.sha256 in body should match '^[0-9a-f]{64}$'`},
			{"spec.client.bundle.format", `Unsupported value: "rar": supported values: "tar.gz", "zip", "iso"`},
		}},
	} {
		t.Run("HSMBackend rejects "+tc.name, func(t *testing.T) {
			assertRejected(t, c.Create(ctx, hsmBackend("invalid", tc.mod)), tc.want...)
		})
	}

	t.Run("HSMBackend initial labels are immutable", func(t *testing.T) {
		b := hsmBackend("immutable", nil)
		if err := c.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Spec.MasterKeys.MKEKLabel = "barbican_mkek_1"
		b.Spec.MasterKeys.HMACLabel = "barbican_hmac_1"
		assertRejected(t, c.Update(ctx, b),
			rejection{"spec.masterKeys.mkekLabel", `Invalid value: "barbican_mkek_1": mkekLabel is immutable: create a KeyRotation to move to a new MKEK`},
			rejection{"spec.masterKeys.hmacLabel", `Invalid value: "barbican_hmac_1": hmacLabel is immutable: create a KeyRotation to move to a new HMAC key`})

		// Other fields stay editable.
		if err := c.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
			t.Fatal(err)
		}
		b.Spec.MaxConnections = ptr.To[int32](64)
		if err := c.Update(ctx, b); err != nil {
			t.Errorf("changing maxConnections: %v", err)
		}
	})

	t.Run("KeyManager defaults", func(t *testing.T) {
		km := keyManager("defaults", nil)
		if err := c.Create(ctx, km); err != nil {
			t.Fatalf("creating a minimal KeyManager: %v", err)
		}
		s := km.Spec
		if ptr.Deref(s.Replicas, -1) != 2 || ptr.Deref(s.Workers, -1) != 8 {
			t.Errorf("replicas, workers = %v, %v, want 2, 8", ptr.Deref(s.Replicas, -1), ptr.Deref(s.Workers, -1))
		}
		if s.Database.Port != 3306 || s.Database.Name != "barbican" {
			t.Errorf("database defaults = %+v, want port 3306, name barbican", s.Database)
		}
		if s.Auth.Mode != kmv1.AuthModeNoAuth || s.Service.Type != corev1.ServiceTypeClusterIP || s.Service.Port != 9311 {
			t.Errorf("auth %q, service %+v, want noauth, ClusterIP 9311", s.Auth.Mode, s.Service)
		}
		if !ptr.Deref(s.PodDisruptionBudget.Enabled, false) || ptr.Deref(s.PodDisruptionBudget.MaxUnavailable, intstr.FromInt(0)) != intstr.FromInt(1) {
			t.Errorf("podDisruptionBudget default = %+v, want enabled, maxUnavailable 1", s.PodDisruptionBudget)
		}
		if s.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("imagePullPolicy default = %q", s.ImagePullPolicy)
		}
	})

	t.Run("KeyManager with Keystone auth", func(t *testing.T) {
		km := keyManager("keystone", func(s *kmv1.KeyManagerSpec) {
			s.Auth = kmv1.Auth{Mode: kmv1.AuthModeKeystone, Keystone: &kmv1.KeystoneAuth{
				AuthURL: "https://keystone.example.com/v3", Username: "barbican",
				PasswordSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ks"}, Key: "password"},
			}}
		})
		if err := c.Create(ctx, km); err != nil {
			t.Fatalf("creating: %v", err)
		}
		if ks := km.Spec.Auth.Keystone; ks.UserDomainName != "Default" || ks.ProjectName != "service" || ks.ProjectDomainName != "Default" {
			t.Errorf("keystone defaults = %+v", ks)
		}
	})

	t.Run("KeyManager accepts two stores with one default", func(t *testing.T) {
		km := keyManager("two-stores", func(s *kmv1.KeyManagerSpec) {
			s.SecretStores = []kmv1.SecretStore{simpleStore("simple", false), pkcs11Store("hsm", true)}
		})
		if err := c.Create(ctx, km); err != nil {
			t.Errorf("creating: %v", err)
		}
	})

	for _, tc := range []struct {
		name string
		mod  func(*kmv1.KeyManagerSpec)
		want []rejection
	}{
		{"two stores without a default", func(s *kmv1.KeyManagerSpec) {
			s.SecretStores = []kmv1.SecretStore{simpleStore("simple", false), pkcs11Store("hsm", false)}
		}, []rejection{{"spec.secretStores", `Invalid value: with two secret stores exactly one must be the globalDefault`}}},
		{"two simpleCrypto stores", func(s *kmv1.KeyManagerSpec) {
			s.SecretStores = []kmv1.SecretStore{simpleStore("a", true), simpleStore("b", false)}
		}, []rejection{{"spec.secretStores", `Invalid value: at most one simpleCrypto and one pkcs11 store`}}},
		{"a store of both kinds", func(s *kmv1.KeyManagerSpec) {
			st := simpleStore("both", false)
			st.PKCS11 = pkcs11Store("x", false).PKCS11
			s.SecretStores = []kmv1.SecretStore{st}
		}, []rejection{{"spec.secretStores[0]", `Invalid value: exactly one of simpleCrypto or pkcs11 must be set`}}},
		{"no store", func(s *kmv1.KeyManagerSpec) { s.SecretStores = nil },
			[]rejection{{"spec.secretStores", "Required value"}}},
		{"zero workers and too many replicas", func(s *kmv1.KeyManagerSpec) {
			s.Workers = ptr.To[int32](0)
			s.Replicas = ptr.To[int32](500)
		}, []rejection{
			{"spec.workers", "Invalid value: 0: spec.workers in body should be greater than or equal to 1"},
			{"spec.replicas", "Invalid value: 500: spec.replicas in body should be less than or equal to 128"},
		}},
		{"keystone auth without its settings", func(s *kmv1.KeyManagerSpec) { s.Auth.Mode = kmv1.AuthModeKeystone },
			[]rejection{{"spec.auth", "Invalid value: keystone settings are required with mode keystone"}}},
		{"an unknown auth mode", func(s *kmv1.KeyManagerSpec) { s.Auth.Mode = "token-file" },
			[]rejection{{"spec.auth.mode", `Unsupported value: "token-file": supported values: "noauth", "keystone"`}}},
	} {
		t.Run("KeyManager rejects "+tc.name, func(t *testing.T) {
			assertRejected(t, c.Create(ctx, keyManager("invalid", tc.mod)), tc.want...)
		})
	}

	t.Run("KeyRotation spec is immutable", func(t *testing.T) {
		kr := &kmv1.KeyRotation{
			ObjectMeta: metav1.ObjectMeta{Name: "rotate", Namespace: "default"},
			Spec:       kmv1.KeyRotationSpec{HSMBackendRef: kmv1.LocalRef{Name: "proteccio"}},
		}
		if err := c.Create(ctx, kr); err != nil {
			t.Fatal(err)
		}
		kr.Spec.DryRun = true
		assertRejected(t, c.Update(ctx, kr),
			rejection{"spec", `Invalid value: spec is immutable: create a new KeyRotation instead`})
	})
}
