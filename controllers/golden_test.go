package controllers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the builders' output")

// TestGoldenObjects pins what the builders render for the seed deployment (simple_crypto plus a capped
// Proteccio store, Keystone auth, a policy and a host_href): any change to a Deployment, Job or ConfigMap shows up as a
// reviewable diff of testdata/. Run `go test ./controllers -run Golden -update` to accept one.
func TestGoldenObjects(t *testing.T) {
	km := newKeyManager("kms", "barbican", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.Workers = ptr.To[int32](3), ptr.To[int32](32)
		s.ImagePullPolicy = corev1.PullIfNotPresent
		s.Database.Port, s.Database.Name = 3306, "barbican"
		s.Service = kmv1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Port: 9311}
		s.HostHref = "https://kms.example.com"
		s.Auth = kmv1.Auth{Mode: kmv1.AuthModeKeystone, Keystone: &kmv1.KeystoneAuth{
			AuthURL: "https://keystone.example.com/v3", Username: "barbican", UserDomainName: "Default",
			ProjectName: "service", ProjectDomainName: "Default",
			PasswordSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keystone"}, Key: "password"},
		}}
		s.PolicyConfigMapRef = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "policy"}, Key: "policy.yaml"}
		s.SecretStores = append(s.SecretStores, kmv1.SecretStore{Name: "hsm", GlobalDefault: true,
			PKCS11: &kmv1.PKCS11Store{HSMBackendRef: corev1.LocalObjectReference{Name: "proteccio"}}})
	})
	// Two Proteccio HSMs in HA with a client certificate, the client downloaded as a bundle.
	b := newHSMBackend("kms", "proteccio", func(s *kmv1.HSMBackendSpec) {
		s.Servers = []kmv1.HSMServer{
			{Address: "10.0.0.11", CertificateSecretRef: &corev1.LocalObjectReference{Name: "hsm1-cert"}},
			{Address: "10.0.0.12", CertificateSecretRef: &corev1.LocalObjectReference{Name: "hsm2-cert"}},
		}
		s.ClientCertificateSecretRef = &corev1.LocalObjectReference{Name: "proteccio-client"}
		s.Client = &kmv1.HSMClient{Bundle: &kmv1.HSMClientBundle{
			URL: "https://files.example.com/proteccio-client.tar.gz", SHA256: strings.Repeat("ab", 32), Format: "tar.gz",
			CredentialsSecretRef: &corev1.LocalObjectReference{Name: "proteccio-download"},
		}}
	})
	in := kmInputs{km: km, hsm: b, settings: effectiveSettings(b), workers: 10,
		versions: map[string]string{"Secret/db": "101", "Secret/kek": "102", "Secret/hsm-pin": "103", "ConfigMap/policy": "104"}}
	cfg := renderConfig(in)
	hash := configHash(cfg, in)
	keys := hsmJob{backend: b, settings: effectiveSettings(b), image: "keymanager:1.0", component: "ensure-keys",
		args: []string{"manage", "hsm", "ensure-keys"}}

	for name, obj := range map[string]any{
		"configmap.yaml":            buildConfigMap(in, cfg),
		"statefulset.yaml":          buildStatefulSet(in, hash),
		"migration-job.yaml":        buildMigrationJob(km, migrationRevision(km)),
		"ensure-keys-job.yaml":      keys.build("kms", "proteccio"),
		"service.yaml":              buildService(km),
		"poddisruptionbudget.yaml":  buildPDB(km),
		"hsm-client-configmap.yaml": buildHSMConfigMap(b, effectiveSettings(b)),
	} {
		got, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "golden", name), got)
	}
}

// golden compares got with the file at path, or rewrites the file with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil { //nolint:gosec // a checked-in test fixture
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendered output; review `go test ./controllers -run Golden -update` and git diff:\n%s", path, got)
	}
}

// TestGoldenVendorConfigs pins the rendered client configuration of each vendor, single and in HA, and what
// the pods get with a client image: testdata/golden/vendor/<case>.
func TestGoldenVendorConfigs(t *testing.T) {
	cert := func(name string) *corev1.LocalObjectReference { return &corev1.LocalObjectReference{Name: name} }
	cases := map[string]func(*kmv1.HSMBackendSpec){
		"proteccio-single": func(s *kmv1.HSMBackendSpec) {
			s.Servers = []kmv1.HSMServer{{Address: "hsm1.example.com", CertificateSecretRef: cert("hsm1-cert")}}
			s.ClientCertificateSecretRef = cert("proteccio-client")
		},
		"proteccio-ha": func(s *kmv1.HSMBackendSpec) {
			s.Servers = []kmv1.HSMServer{{Address: "10.0.0.11", CertificateSecretRef: cert("hsm1-cert")}, {Address: "10.0.0.12", CertificateSecretRef: cert("hsm2-cert")}}
			s.ClientCertificateSecretRef = cert("proteccio-client")
		},
		"luna-ha": func(s *kmv1.HSMBackendSpec) {
			s.Vendor, s.Token = kmv1.VendorLuna, kmv1.TokenSelector{Labels: []string{"barbican_ha"}}
			s.Servers = []kmv1.HSMServer{
				{Address: "luna1.example.com", Partition: "1312109862342", CertificateSecretRef: cert("luna-cas")},
				{Address: "luna2.example.com", Port: ptr.To[int32](1793), Partition: "1312109862343", CertificateSecretRef: cert("luna-cas")},
			}
			s.ClientCertificateSecretRef = cert("luna-client")
			s.Client = &kmv1.HSMClient{Image: &kmv1.HSMClientImage{Image: "registry.example.com/luna-client@sha256:" + strings.Repeat("0", 64), Path: "/usr/safenet/lunaclient"}}
		},
		"nshield-loadsharing": func(s *kmv1.HSMBackendSpec) {
			s.Vendor = kmv1.VendorNShield
			s.Servers = []kmv1.HSMServer{{Address: "10.1.0.1"}, {Address: "10.1.0.2"}}
			s.SecurityWorldSecretRef = cert("nshield-world")
			s.Client = &kmv1.HSMClient{Image: &kmv1.HSMClientImage{Image: "registry.example.com/nshield-client:13.4", Path: "/opt/nfast"}}
		},
		// The development setup of the cluster e2e: a token store on a shared claim, SoftHSM2 from a bundle
		// downloaded from a server with a private CA.
		"softhsm-shared-bundle": func(s *kmv1.HSMBackendSpec) {
			s.Vendor, s.Token = kmv1.VendorSoftHSM, kmv1.TokenSelector{Labels: []string{"keymanager"}}
			s.LibraryPath = "/opt/hsm-client/lib/libsofthsm2.so"
			s.SoftHSM = &kmv1.SoftHSMStore{TokenClaimName: "softhsm-tokens"}
			s.Client = &kmv1.HSMClient{Bundle: &kmv1.HSMClientBundle{
				URL: "https://10.244.0.1:8443/softhsm.tar.gz", SHA256: strings.Repeat("cd", 32), Format: "tar.gz",
				CredentialsSecretRef: cert("bundle-download"),
				CASecretRef:          &corev1.SecretKeySelector{LocalObjectReference: *cert("bundle-ca"), Key: "ca.crt"},
			}}
		},
	}
	for name, mod := range cases {
		b := newHSMBackend("kms", "hsm", mod)
		s := effectiveSettings(b)
		p := hsmClientPod(b, s, "keymanager:1.0")
		pod := map[string]any{"initContainers": p.initContainers, "volumes": p.volumes, "mounts": p.mounts, "env": p.env}
		podYAML, err := yaml.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{
			name + "/" + layouts[b.Spec.Vendor].configFile: []byte(vendorConfig(b, s)),
			name + "/pod.yaml": podYAML,
		}
		for file, got := range files {
			golden(t, filepath.Join("testdata", "golden", "vendor", file), got)
		}
	}
}
