package controllers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
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
	b := newHSMBackend("kms", "proteccio", nil)
	in := kmInputs{km: km, hsm: b, settings: effectiveSettings(b), workers: 10, surge: 0,
		versions: map[string]string{"Secret/db": "101", "Secret/kek": "102", "Secret/hsm-pin": "103", "ConfigMap/policy": "104"}}
	cfg := renderConfig(in)
	hash := configHash(cfg, in)
	keys := hsmJob{backend: b, settings: effectiveSettings(b), image: "keymanager:1.0", component: "ensure-keys",
		args: []string{"manage", "hsm", "ensure-keys"}}

	for name, obj := range map[string]any{
		"configmap.yaml":           buildConfigMap(in, cfg),
		"deployment.yaml":          buildDeployment(in, hash),
		"migration-job.yaml":       buildMigrationJob(km, migrationRevision(km)),
		"ensure-keys-job.yaml":     keys.build("kms", "proteccio"),
		"service.yaml":             buildService(km),
		"poddisruptionbudget.yaml": buildPDB(km),
	} {
		got, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil { //nolint:gosec // a checked-in test fixture
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the builders' output; review `go test ./controllers -run Golden -update` and git diff:\n%s", path, got)
		}
	}
}
