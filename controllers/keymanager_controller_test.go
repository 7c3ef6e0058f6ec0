package controllers

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

const testKEK = "3jJmvUZtHvz6KtcZc0dOTk5E8GZ4eAP6S1uLQ2L6Agk="

func newKeyManager(ns, name string, mod func(*kmv1.KeyManagerSpec)) *kmv1.KeyManager {
	km := &kmv1.KeyManager{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kmv1.KeyManagerSpec{
			Image:    "keymanager:1.0",
			Database: kmv1.Database{Host: "mariadb", CredentialsSecretRef: corev1.LocalObjectReference{Name: "db"}},
			SecretStores: []kmv1.SecretStore{{Name: "simple", SimpleCrypto: &kmv1.SimpleCryptoStore{
				KEKSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "kek"}, Key: "kek"},
			}}},
		},
	}
	if mod != nil {
		mod(&km.Spec)
	}
	return km
}

// rollOut writes the status the Deployment or StatefulSet controller and the kubelet would after every pod
// of the current template became ready.
func (e *env) rollOut(w client.Object) {
	e.t.Helper()
	if err := e.get(w); err != nil {
		e.t.Fatal(err)
	}
	switch w := w.(type) {
	case *appsv1.Deployment:
		n := ptr.Deref(w.Spec.Replicas, 1)
		now := metav1.Now()
		w.Status = appsv1.DeploymentStatus{
			ObservedGeneration: w.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastUpdateTime: now, LastTransitionTime: now},
			},
		}
	case *appsv1.StatefulSet:
		n := ptr.Deref(w.Spec.Replicas, 1)
		// The StatefulSet controller names revisions after the template; its config hash does here.
		rev := w.Name + "-" + w.Spec.Template.Annotations[annotationConfigHash]
		w.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: w.Generation, Replicas: n, CurrentReplicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			CurrentRevision: rev, UpdateRevision: rev,
		}
	default:
		e.t.Fatalf("rollOut of a %T", w)
	}
	if err := e.c.Status().Update(e.t.Context(), w); err != nil {
		e.t.Fatalf("writing %T status: %v", w, err)
	}
}

func (e *env) migrationJob(km *kmv1.KeyManager) *batchv1.Job {
	e.t.Helper()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: km.Namespace, Name: migrationJobName(km, migrationRevision(km))}}
	e.eventually("migration Job "+job.Name, func() bool { return e.get(job) == nil })
	return job
}

func TestKeyManager(t *testing.T) {
	e := startOperator(t)

	t.Run("from creation to Ready, then a Secret change rolls the pods", func(t *testing.T) {
		e := &env{t: t, c: e.c}
		ns := e.namespace()
		e.secret(ns, "db", map[string]string{"username": "barbican", "password": "s3cret"})
		kek := e.secret(ns, "kek", map[string]string{"kek": testKEK})
		km := newKeyManager(ns, "kms", nil)
		e.create(km)

		// From the first reconcile: Ready is False (not absent), with the migration running.
		ready := e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonMigrationRunning)
		if !strings.Contains(ready.Message, "migrates the database for keymanager:1.0") {
			t.Errorf("Ready message %q", ready.Message)
		}
		e.kmCondition(km, kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonMigrationRunning)
		e.kmCondition(km, kmv1.ConditionWorkersCapped, metav1.ConditionFalse, kmv1.ReasonNoHSM)
		if km.Status.ObservedGeneration != km.Generation {
			t.Errorf("status.observedGeneration %d, want %d", km.Status.ObservedGeneration, km.Generation)
		}

		job := e.migrationJob(km)
		c := job.Spec.Template.Spec.Containers[0]
		if !slices.Equal(c.Args, []string{"manage", "db", "upgrade"}) || c.Image != "keymanager:1.0" {
			t.Errorf("migration Job runs %s %v", c.Image, c.Args)
		}
		if !metav1.IsControlledBy(job, km) {
			t.Error("migration Job is not owned by the KeyManager")
		}
		// No Deployment before the migration succeeded.
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
		if err := e.get(dep); !apierrors.IsNotFound(err) {
			t.Fatalf("Deployment before the migration: %v", err)
		}

		// The ConfigMap holds no secret; the Secrets are referenced.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms-config"}}
		e.eventually("ConfigMap", func() bool { return e.get(cm) == nil })
		for k, v := range cm.Data {
			if strings.Contains(v, "s3cret") || strings.Contains(v, testKEK) {
				t.Errorf("ConfigMap %s holds a secret", k)
			}
		}
		if cm.Data["KEYMANAGER_KEK_FILE"] != kekFile || cm.Data["KEYMANAGER_SECRET_STORE"] != "name=simple,plugin=simple_crypto" {
			t.Errorf("ConfigMap data %v", cm.Data)
		}

		e.finishJob(job, true, "")
		e.kmCondition(km, kmv1.ConditionDatabaseMigrated, metav1.ConditionTrue, kmv1.ReasonMigrated)
		e.eventually("Deployment", func() bool { return e.get(dep) == nil })
		checkServerPod(t, dep.Spec.Template)
		hash := dep.Spec.Template.Annotations[annotationConfigHash]

		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonUnavailable)
		e.rollOut(dep)
		e.kmCondition(km, kmv1.ConditionAvailable, metav1.ConditionTrue, kmv1.ReasonAvailable)
		e.kmCondition(km, kmv1.ConditionProgressing, metav1.ConditionFalse, kmv1.ReasonRolledOut)
		e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionFalse, kmv1.ReasonAsExpected)
		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable)
		if km.Status.ReadyReplicas != 2 || km.Status.Endpoint != "http://kms."+ns+".svc:9311" {
			t.Errorf("status readyReplicas %d endpoint %q", km.Status.ReadyReplicas, km.Status.Endpoint)
		}
		e.waitEvent(km, "Normal Migrated: DatabaseMigrated is True")
		e.waitEvent(km, "Normal Available: Ready is True")

		for _, o := range []client.Object{
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}},
			&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}},
			cm, dep,
		} {
			if err := e.get(o); err != nil {
				t.Fatalf("%T: %v", o, err)
			}
			if !metav1.IsControlledBy(o, km) {
				t.Errorf("%T %s is not owned by the KeyManager (garbage collection would leave it)", o, o.GetName())
			}
		}

		// A new KEK in the referenced Secret rolls the pods: the template's hash changes.
		e.modify(kek, func() { kek.StringData = map[string]string{"kek": testKEK + "\n" + testKEK} })
		e.eventually("a new config hash after the Secret changed", func() bool {
			return e.get(dep) == nil && dep.Spec.Template.Annotations[annotationConfigHash] != hash
		})
		e.kmCondition(km, kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonRollingOut)
		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRollingOut)
		e.rollOut(dep)
		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable)

		// One replica: no PodDisruptionBudget, which could only block node drains.
		e.modify(km, func() { km.Spec.Replicas = ptr.To[int32](1) })
		e.eventually("PodDisruptionBudget deleted", func() bool {
			return apierrors.IsNotFound(e.get(&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}))
		})
	})

	t.Run("a new image migrates before the Deployment moves", func(t *testing.T) {
		e := &env{t: t, c: e.c}
		ns := e.namespace()
		e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
		e.secret(ns, "kek", map[string]string{"kek": testKEK})
		km := newKeyManager(ns, "kms", nil)
		e.create(km)
		e.finishJob(e.migrationJob(km), true, "")
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
		e.eventually("Deployment", func() bool { return e.get(dep) == nil })
		e.rollOut(dep)
		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable)
		oldJob := e.migrationJob(km)

		e.modify(km, func() { km.Spec.Image = "keymanager:2.0" })
		e.kmCondition(km, kmv1.ConditionDatabaseMigrated, metav1.ConditionFalse, kmv1.ReasonMigrationRunning)
		newJob := e.migrationJob(km)
		if err := e.get(dep); err != nil || dep.Spec.Template.Spec.Containers[0].Image != "keymanager:1.0" {
			t.Fatalf("the Deployment moved to %s before the migration (%v)", dep.Spec.Template.Spec.Containers[0].Image, err)
		}
		e.finishJob(newJob, false, "Job has reached the specified backoff limit")
		e.kmCondition(km, kmv1.ConditionDatabaseMigrated, metav1.ConditionFalse, kmv1.ReasonMigrationFailed)
		deg := e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionTrue, kmv1.ReasonMigrationFailed)
		if !strings.Contains(deg.Message, "BackoffLimitExceeded: Job has reached the specified backoff limit") {
			t.Errorf("Degraded message %q does not carry the Job's reason", deg.Message)
		}
		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonMigrationFailed)
		e.waitEvent(km, "Warning MigrationFailed: Degraded is True")
		// The old pods keep serving.
		e.kmCondition(km, kmv1.ConditionAvailable, metav1.ConditionTrue, kmv1.ReasonAvailable)
		if err := e.get(dep); err != nil || dep.Spec.Template.Spec.Containers[0].Image != "keymanager:1.0" {
			t.Fatalf("a failed migration moved the Deployment (%v)", err)
		}

		// A fixed image migrates and rolls; the superseded Jobs are removed.
		e.modify(km, func() { km.Spec.Image = "keymanager:2.1" })
		e.finishJob(e.migrationJob(km), true, "")
		e.eventually("Deployment on keymanager:2.1", func() bool {
			return e.get(dep) == nil && dep.Spec.Template.Spec.Containers[0].Image == "keymanager:2.1"
		})
		for _, j := range []*batchv1.Job{oldJob, newJob} {
			e.eventually("old migration Job "+j.Name+" deleted", func() bool {
				err := e.get(j)
				return apierrors.IsNotFound(err) || (err == nil && !j.DeletionTimestamp.IsZero())
			})
		}
	})

	t.Run("a missing Secret is reported and picked up once created", func(t *testing.T) {
		e := &env{t: t, c: e.c}
		ns := e.namespace()
		e.secret(ns, "kek", map[string]string{"kek": testKEK})
		km := newKeyManager(ns, "kms", nil)
		e.create(km)
		deg := e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionTrue, kmv1.ReasonReferenceNotFound)
		if deg.Message != "Secret db not found" {
			t.Errorf("Degraded message %q", deg.Message)
		}
		e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonReferenceNotFound)
		e.waitEvent(km, "Warning ReferenceNotFound: Degraded is True (was Unknown): Secret db not found")

		e.secret(ns, "db", map[string]string{"username": "u"})
		e.eventually("the missing key reported", func() bool {
			return e.get(km) == nil && slices.ContainsFunc(km.Status.Conditions, func(c metav1.Condition) bool {
				return c.Type == kmv1.ConditionDegraded && c.Message == `Secret db has no key "password"`
			})
		})
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}}
		e.modify(s, func() { s.StringData = map[string]string{"password": "p"} })
		e.migrationJob(km)
		e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionFalse, kmv1.ReasonAsExpected)
	})
}

// checkServerPod checks the security-relevant parts of the server's pod template.
func checkServerPod(t *testing.T, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	pod := tmpl.Spec
	// fsGroup is the server's own group: it makes the root-owned KEK readable by the server alone (0440).
	if psc := pod.SecurityContext; psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || ptr.Deref(psc.FSGroup, 0) != ptr.Deref(psc.RunAsUser, -1) {
		t.Errorf("pod security context %+v: want runAsNonRoot and fsGroup the server's own group", psc)
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) {
		t.Errorf("container security context %+v: want a read-only root filesystem, no privilege escalation", sc)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthcheck" {
		t.Errorf("probes %s, %s", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	for _, v := range pod.Volumes {
		if v.Name == "kek" && (ptr.Deref(v.Secret.DefaultMode, 0) != 0o400 || ptr.Deref(v.Secret.Items[0].Mode, 0) != 0o400) {
			t.Errorf("KEK volume modes %o/%o, want 0400", ptr.Deref(v.Secret.DefaultMode, 0), ptr.Deref(v.Secret.Items[0].Mode, 0))
		}
	}
	for _, ev := range c.Env {
		if ev.Value != "" && (strings.Contains(ev.Value, "s3cret") || strings.Contains(ev.Value, testKEK)) {
			t.Errorf("env %s holds a secret value", ev.Name)
		}
	}
	if tmpl.Annotations[annotationConfigHash] == "" {
		t.Error("no config hash on the pod template")
	}
}
