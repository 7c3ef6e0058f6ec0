package controllers

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

func newHSMBackend(ns, name string, mod func(*kmv1.HSMBackendSpec)) *kmv1.HSMBackend {
	b := &kmv1.HSMBackend{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
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

func hsmStore(backend string) []kmv1.SecretStore {
	return []kmv1.SecretStore{{Name: "hsm", PKCS11: &kmv1.PKCS11Store{HSMBackendRef: corev1.LocalObjectReference{Name: backend}}}}
}

// TestConnectionBudget runs the seed documents' case through the controllers: three replicas asking for
// 32 workers each (32-core hosts) against a 32-connection Proteccio with 2 sessions reserved for Jobs end at
// 10 workers per pod, under a StatefulSet that replaces one pod at a time; a second KeyManager on the same
// HSM re-divides the budget.
func TestConnectionBudget(t *testing.T) {
	e := startOperator(t)
	ns := e.namespace()
	e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
	e.secret(ns, "hsm-pin", map[string]string{"pin": "1234"})
	backend := newHSMBackend(ns, "proteccio", nil)
	e.create(backend)

	a := newKeyManager(ns, "a", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.Workers, s.SecretStores = ptr.To[int32](3), ptr.To[int32](32), hsmStore("proteccio")
	})
	e.create(a)
	// The backend renders its client configuration into a ConfigMap it owns, which the pods mount.
	rc := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "proteccio-hsm-client"}}
	e.eventually("the proteccio.rc ConfigMap", func() bool { return e.get(rc) == nil })
	if !strings.Contains(rc.Data["proteccio.rc"], "[CLIENT]\nMode=0\n") || !metav1.IsControlledBy(rc, backend) {
		t.Errorf("ConfigMap %s: %v, owners %v", rc.Name, rc.Data, rc.OwnerReferences)
	}
	capped := e.kmCondition(a, kmv1.ConditionWorkersCapped, metav1.ConditionTrue, kmv1.ReasonWorkersCapped)
	want := "10 of 32 requested workers per pod: HSMBackend proteccio allows 32 connections, 2 reserved for Jobs, 96 requested in all"
	if capped.Message != want {
		t.Errorf("WorkersCapped message\n %q\nwant\n %q", capped.Message, want)
	}
	if w := a.Status.Workers; w == nil || w.Requested != 32 || w.Granted != 10 || w.HSMBackend != "proteccio" {
		t.Errorf("status.workers = %+v", w)
	}
	e.waitEvent(a, "Warning WorkersCapped: WorkersCapped is True (was Unknown): 10 of 32")

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a-config"}}
	e.eventually("ConfigMap", func() bool { return e.get(cm) == nil })
	for k, v := range map[string]string{
		"KEYMANAGER_HSM_MAX_SESSIONS":          "10",
		"KEYMANAGER_P11_LIBRARY_PATH":          "/opt/tw_proteccio/lib/libnethsm.so",
		"KEYMANAGER_P11_TOKEN_LABELS":          "partition1",
		"KEYMANAGER_P11_MKEK_LABEL":            "barbican_mkek_0",
		"KEYMANAGER_P11_HMAC_LABEL":            "barbican_hmac_0",
		"KEYMANAGER_P11_HMAC_KEY_TYPE":         "CKK_GENERIC_SECRET",
		"KEYMANAGER_P11_HMAC_KEYGEN_MECHANISM": "CKM_GENERIC_SECRET_KEY_GEN",
		"KEYMANAGER_SECRET_STORE":              "name=hsm,plugin=p11_crypto",
	} {
		if cm.Data[k] != v {
			t.Errorf("ConfigMap %s = %q, want %q", k, cm.Data[k], v)
		}
	}
	for k, v := range cm.Data {
		if strings.Contains(v, "1234") {
			t.Errorf("ConfigMap %s holds the PIN", k)
		}
	}

	e.finishJob(e.migrationJob(a), true, "")
	// Migrated, but the first pods wait for the HSM's master keys.
	wait := e.kmCondition(a, kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonKeysJobRunning)
	if !strings.HasPrefix(wait.Message, "waiting for the master keys of HSMBackend proteccio") {
		t.Errorf("Progressing message %q", wait.Message)
	}
	dep := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}}
	if err := e.get(dep); !apierrors.IsNotFound(err) {
		t.Fatalf("StatefulSet before the keys exist: %v", err)
	}
	e.keysReady(backend)
	e.eventually("StatefulSet", func() bool { return e.get(dep) == nil })
	if ru := dep.Spec.UpdateStrategy.RollingUpdate; ru == nil || ru.MaxUnavailable.String() != "1" || ptr.Deref(ru.Partition, -1) != 0 ||
		dep.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("StatefulSet update strategy %+v, pod management %s: want one pod at a time, in parallel otherwise",
			dep.Spec.UpdateStrategy, dep.Spec.PodManagementPolicy)
	}
	if err := e.get(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}}); !apierrors.IsNotFound(err) {
		t.Errorf("a KeyManager with an HSM also got a Deployment: %v", err)
	}
	pin := false
	for _, ev := range dep.Spec.Template.Spec.Containers[0].Env {
		if ev.Name == envP11PIN {
			pin = ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil && ev.ValueFrom.SecretKeyRef.Name == "hsm-pin" && ev.Value == ""
		}
	}
	if !pin {
		t.Error("the PIN does not come from the HSMBackend's Secret")
	}

	// A second user of the HSM: 3 pods × min(32, L) + 1 pod × min(4, L) ≤ 30 gives L = 8.
	b := newKeyManager(ns, "b", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.Workers, s.SecretStores = ptr.To[int32](1), ptr.To[int32](4), hsmStore("proteccio")
	})
	e.create(b)
	e.kmCondition(b, kmv1.ConditionWorkersCapped, metav1.ConditionFalse, kmv1.ReasonWorkersGranted)
	e.eventually("a re-capped to 8", func() bool {
		return e.get(cm) == nil && cm.Data["KEYMANAGER_HSM_MAX_SESSIONS"] == "8"
	})

	// Scaling a to zero frees the budget: a is no longer capped, b runs its 4 workers.
	e.modify(a, func() { a.Spec.Replicas = ptr.To[int32](0) })
	bcm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b-config"}}
	e.finishJob(e.migrationJob(b), true, "")
	e.eventually("b runs 4 workers", func() bool {
		return e.get(bcm) == nil && bcm.Data["KEYMANAGER_HSM_MAX_SESSIONS"] == "4"
	})
	e.kmCondition(a, kmv1.ConditionWorkersCapped, metav1.ConditionFalse, kmv1.ReasonWorkersGranted)
}

// TestHSMBackend checks the backend's side: the budget with who uses it, and the ensure-keys Job for the
// active labels with KeysReady through success and failure.
func TestHSMBackend(t *testing.T) {
	e := startOperator(t)
	ns := e.namespace()
	e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
	b := newHSMBackend(ns, "proteccio", nil)
	e.create(b)
	bcond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		t.Helper()
		return e.condition(b, func() []metav1.Condition { return b.Status.Conditions }, typ, status, reason)
	}
	// No PIN Secret yet: Ready says so from the first reconcile.
	ready := bcond(kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonReferenceNotFound)
	if ready.Message != "Secret hsm-pin not found" {
		t.Errorf("Ready message %q", ready.Message)
	}
	if a := b.Status.ActiveKeys; a == nil || a.MKEKLabel != "barbican_mkek_0" || a.HMACLabel != "barbican_hmac_0" {
		t.Errorf("activeKeys = %+v, want the initial labels", a)
	}
	e.secret(ns, "hsm-pin", map[string]string{"pin": "1234"})
	bcond(kmv1.ConditionKeysReady, metav1.ConditionUnknown, kmv1.ReasonKeysJobRunning)

	km := newKeyManager(ns, "a", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.Workers, s.SecretStores = ptr.To[int32](3), ptr.To[int32](32), hsmStore("proteccio")
	})
	e.create(km)
	alloc := bcond(kmv1.ConditionConnectionsAllocated, metav1.ConditionFalse, kmv1.ReasonWorkersCapped)
	if want := "96 connections requested, 30 available after 2 reserved for Jobs: workers capped for [a 10 of 32]"; alloc.Message != want {
		t.Errorf("ConnectionsAllocated message %q, want %q", alloc.Message, want)
	}
	cb := b.Status.Connections
	if cb == nil || cb.Max != 32 || cb.Reserved != 2 || cb.Requested != 96 || cb.Granted != 30 ||
		len(cb.Users) != 1 || cb.Users[0] != (kmv1.ConnectionUser{KeyManager: "a", Pods: 3, RequestedWorkers: 32, GrantedWorkers: 10}) {
		t.Errorf("status.connections = %+v", cb)
	}
	e.waitEvent(b, "Normal WorkersCapped: ConnectionsAllocated is False")

	bcond(kmv1.ConditionKeysReady, metav1.ConditionFalse, kmv1.ReasonKeysJobRunning)
	var jobs batchv1.JobList
	e.eventually("the ensure-keys Job", func() bool {
		return e.c.List(t.Context(), &jobs, client.InNamespace(ns), client.MatchingLabels{labelComponent: "ensure-keys"}) == nil && len(jobs.Items) == 1
	})
	job := &jobs.Items[0]
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != "keymanager:1.0" || !slices.Equal(c.Args, []string{"manage", "hsm", "ensure-keys"}) {
		t.Errorf("ensure-keys Job runs %s %v", c.Image, c.Args)
	}
	env := map[string]string{}
	for _, ev := range c.Env {
		env[ev.Name] = ev.Value
		if ev.Name == envP11PIN && (ev.ValueFrom == nil || ev.ValueFrom.SecretKeyRef.Name != "hsm-pin") {
			t.Error("the Job's PIN does not come from the Secret")
		}
	}
	if env["KEYMANAGER_P11_MKEK_LABEL"] != "barbican_mkek_0" || env["KEYMANAGER_P11_TOKEN_LABELS"] != "partition1" || env["KEYMANAGER_HSM_MAX_SESSIONS"] != "1" {
		t.Errorf("ensure-keys Job env %v", env)
	}
	e.finishJob(job, false, "Job has reached the specified backoff limit")
	bcond(kmv1.ConditionKeysReady, metav1.ConditionFalse, kmv1.ReasonKeysJobFailed)
	bcond(kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonKeysJobFailed)
	e.waitEvent(b, "Warning KeysJobFailed: KeysReady is False")

	// A changed mechanism is a new input: a new Job, which succeeds.
	e.modify(b, func() { b.Spec.MasterKeys.HMACMechanism = "CKM_SHA512_HMAC" })
	e.eventually("a second ensure-keys Job", func() bool {
		return e.c.List(t.Context(), &jobs, client.InNamespace(ns), client.MatchingLabels{labelComponent: "ensure-keys"}) == nil && len(jobs.Items) == 2
	})
	for i := range jobs.Items {
		if jobs.Items[i].Name != job.Name {
			e.finishJob(&jobs.Items[i], true, "")
		}
	}
	bcond(kmv1.ConditionKeysReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent)
	bcond(kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent)
}
