package controllers

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// TestSamples applies every manifest of config/samples to the API server, with the Secrets they name, and
// checks that the seed deployment converges as its comment says: 10 workers per pod, capped.
func TestSamples(t *testing.T) {
	e := startOperator(t)
	ns := e.namespace()
	for _, s := range []struct {
		name string
		data map[string]string
	}{
		{"barbican-db", map[string]string{"username": "barbican", "password": "p"}},
		{"kms-db", map[string]string{"username": "barbican", "password": "p"}},
		{"barbican-kek", map[string]string{"kek": testKEK}},
		{"kms-kek", map[string]string{"kek": testKEK}},
		{"proteccio-pin", map[string]string{"pin": "1234"}},
		// What the Proteccio pods mount: the HSMs' and the client's certificates, the bundle's credentials.
		{"proteccio-hsm1-cert", map[string]string{"ca.crt": "cert"}},
		{"proteccio-hsm2-cert", map[string]string{"ca.crt": "cert"}},
		{"proteccio-client-tls", map[string]string{"tls.crt": "cert", "tls.key": "key"}},
		{"vendor-download", map[string]string{"username": "u", "password": "p"}},
	} {
		e.secret(ns, s.name, s.data)
	}

	files, err := filepath.Glob("../config/samples/*.yaml")
	if err != nil || len(files) < 9 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetNamespace(ns)
			if err := e.c.Create(t.Context(), u); err != nil {
				t.Errorf("applying %s: %v", f, err)
			}
		}
	}

	km := &kmv1.KeyManager{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "barbican"}}
	e.kmCondition(km, kmv1.ConditionWorkersCapped, metav1.ConditionTrue, kmv1.ReasonWorkersCapped)
	if w := km.Status.Workers; w == nil || w.Granted != 10 {
		t.Errorf("the seed sample got %+v workers, want 10", w)
	}
	e.migrationJob(km)
	e.migrationJob(&kmv1.KeyManager{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}, Spec: kmv1.KeyManagerSpec{
		Image: "keymanager:latest", Database: kmv1.Database{Host: "mariadb.databases.svc", Port: 3306, Name: "barbican",
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "kms-db"}},
	}})
	kr := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "proteccio-2026-12"}}
	e.phase(kr, kmv1.PhaseGeneratingKeys)
	// The KEK rotation writes its KEK into kms-kek and waits for the KeyManager, whose migration never ends here.
	kek := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms-kek-2026-12"}}
	e.phase(kek, kmv1.PhaseRollingOut)
	if k := kek.Status.KEK; k == nil || k.SecretName != "kms-kek" || k.Keys != 2 {
		t.Errorf("the KEK rotation sample's status.kek = %+v", k)
	}
}
