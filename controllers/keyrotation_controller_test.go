package controllers

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

func TestNextLabel(t *testing.T) {
	for in, want := range map[string]string{
		"barbican_mkek_10":          "barbican_mkek_11",
		"barbican_hmac_0":           "barbican_hmac_1",
		"mkek9":                     "mkek10",
		"mkek":                      "mkek_1",
		"":                          "_1",
		"k_99999999999999999999999": "k_99999999999999999999999_1",
	} {
		if got := nextLabel(in); got != want {
			t.Errorf("nextLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func (e *env) phase(kr *kmv1.KeyRotation, want kmv1.RotationPhase) {
	e.t.Helper()
	e.eventually("KeyRotation "+kr.Name+" in phase "+string(want), func() bool {
		return e.get(kr) == nil && kr.Status.Phase == want
	})
}

// rotationJob waits for the single Job of kr with the given component and returns it.
func (e *env) rotationJob(kr *kmv1.KeyRotation, component string) *batchv1.Job {
	e.t.Helper()
	var jobs batchv1.JobList
	e.eventually(kr.Name+" "+component+" Job", func() bool {
		return e.c.List(e.t.Context(), &jobs, client.InNamespace(kr.Namespace),
			client.MatchingLabels{labelInstance: kr.Name, labelComponent: component}) == nil && len(jobs.Items) == 1
	})
	job := &jobs.Items[0]
	if !metav1.IsControlledBy(job, kr) {
		e.t.Errorf("Job %s is not owned by KeyRotation %s", job.Name, kr.Name)
	}
	return job
}

// jobPod creates a pod of job as the Job controller would, ended as the kubelet reports it: its container
// terminated with exitCode and the termination message it left (empty: none).
func (e *env) jobPod(job *batchv1.Job, exitCode int32, message string) {
	e.t.Helper()
	if err := e.get(job); err != nil {
		e.t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: job.Name + "-", Namespace: job.Namespace, Labels: job.Spec.Template.Labels},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
	}
	e.create(pod)
	c, now := pod.Spec.Containers[0], metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: c.Name, Image: c.Image, ImageID: "sha256:0",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Message: message, StartedAt: now, FinishedAt: now, Reason: "Completed",
		}},
	}}}
	if exitCode != 0 {
		pod.Status.Phase, pod.Status.ContainerStatuses[0].State.Terminated.Reason = corev1.PodFailed, "Error"
	}
	if err := e.c.Status().Update(e.t.Context(), pod); err != nil {
		e.t.Fatalf("writing the status of pod %s: %v", pod.Name, err)
	}
}

// readyHSMKeyManager creates km, which uses backend b, and plays its migration, b's keys and its StatefulSet's
// rollout to success; it returns the StatefulSet once km is Ready.
func (e *env) readyHSMKeyManager(b *kmv1.HSMBackend, km *kmv1.KeyManager) *appsv1.StatefulSet {
	e.t.Helper()
	e.create(km)
	e.finishJob(e.migrationJob(km), true, "")
	e.keysReady(b)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: km.Namespace, Name: km.Name}}
	e.eventually("StatefulSet "+km.Name, func() bool { return e.get(sts) == nil })
	e.rollOut(sts)
	e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable)
	return sts
}

func jobEnv(job *batchv1.Job) map[string]string {
	env := map[string]string{}
	for _, ev := range job.Spec.Template.Spec.Containers[0].Env {
		env[ev.Name] = ev.Value
	}
	return env
}

// TestKeyRotation runs rotations through every phase with Jobs marked succeeded or failed by the test, with
// an operator restart in the middle of one.
func TestKeyRotation(t *testing.T) {
	e := startOperator(t)
	ns := e.namespace()
	e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
	e.secret(ns, "hsm-pin", map[string]string{"pin": "1234"})
	b := newHSMBackend(ns, "proteccio", nil)
	e.create(b)
	km := newKeyManager(ns, "kms", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.Workers, s.SecretStores = ptr.To[int32](1), ptr.To[int32](4), hsmStore("proteccio")
	})
	dep := e.readyHSMKeyManager(b, km)

	first := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "first"},
		Spec: kmv1.KeyRotationSpec{HSMBackendRef: &kmv1.LocalRef{Name: "proteccio"}}}
	e.create(first)
	e.phase(first, kmv1.PhaseGeneratingKeys)
	second := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "second"},
		Spec: kmv1.KeyRotationSpec{HSMBackendRef: &kmv1.LocalRef{Name: "proteccio"}, NewMKEKLabel: "mkek_b", NewHMACLabel: "hmac_b"}}
	e.create(second)

	if o, n := first.Status.OldKeys, first.Status.NewKeys; o == nil || n == nil || o.MKEKLabel != "barbican_mkek_0" ||
		n.MKEKLabel != "barbican_mkek_1" || n.HMACLabel != "barbican_hmac_1" || first.Status.StartTime == nil {
		t.Fatalf("first rotation status %+v", first.Status)
	}
	gen := e.rotationJob(first, "generate-keys")
	if env := jobEnv(gen); env["KEYMANAGER_P11_MKEK_LABEL"] != "barbican_mkek_1" || env["KEYMANAGER_P11_HMAC_LABEL"] != "barbican_hmac_1" ||
		!slices.Equal(gen.Spec.Template.Spec.Containers[0].Args, []string{"manage", "hsm", "ensure-keys"}) {
		t.Errorf("generate-keys Job %v with %v", gen.Spec.Template.Spec.Containers[0].Args, env)
	}
	// One rotation at a time per backend.
	e.eventually("the second rotation waits", func() bool {
		return e.get(second) == nil && second.Status.Phase == kmv1.PhasePending &&
			second.Status.Message == "waiting for KeyRotation first, which is rotating HSMBackend proteccio"
	})

	e.finishJob(gen, true, "")
	e.phase(first, kmv1.PhaseRollingOut)
	e.eventually("the backend's active labels switched", func() bool {
		return e.get(b) == nil && b.Status.ActiveKeys != nil &&
			*b.Status.ActiveKeys == kmv1.ActiveKeys{MKEKLabel: "barbican_mkek_1", HMACLabel: "barbican_hmac_1", Rotation: "first"}
	})
	if b.Spec.MasterKeys.MKEKLabel != "barbican_mkek_0" {
		t.Errorf("the rotation wrote the backend's spec: %q", b.Spec.MasterKeys.MKEKLabel)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms-config"}}
	e.eventually("the KeyManager renders the new labels", func() bool {
		return e.get(cm) == nil && cm.Data["KEYMANAGER_P11_MKEK_LABEL"] == "barbican_mkek_1"
	})

	// The operator restarts in the middle of the rollout; the rotation goes on where it was.
	e.restart()
	e.kmCondition(km, kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonRollingOut)
	e.eventually("the restarted operator waits for the rollout", func() bool {
		return e.get(first) == nil && first.Status.Phase == kmv1.PhaseRollingOut &&
			first.Status.Message == "waiting for KeyManager kms to roll out"
	})
	e.rollOut(dep)
	e.phase(first, kmv1.PhaseRewrapping)
	rewrap := e.rotationJob(first, "rewrap")
	env := jobEnv(rewrap)
	if !slices.Equal(rewrap.Spec.Template.Spec.Containers[0].Args, []string{"manage", "hsm", "rewrap-pkek", "--summary-file", "/dev/termination-log"}) ||
		env["KEYMANAGER_P11_MKEK_LABEL"] != "barbican_mkek_1" || !strings.HasPrefix(env[envDBURL], "mysql://$(") {
		t.Errorf("rewrap Job %v with %v", rewrap.Spec.Template.Spec.Containers[0].Args, env)
	}
	// The rewrap's first pod failed without a message, the retry left its counts.
	e.jobPod(rewrap, 1, "")
	e.jobPod(rewrap, 0, `{"total":5,"rewrapped":5,"failed":0,"remaining":0}`)
	e.finishJob(rewrap, true, "")
	e.phase(first, kmv1.PhaseVerifying)
	if c := first.Status.Counts; c == nil || *c != (kmv1.RewrapCounts{Total: 5, Rewrapped: 5}) {
		t.Errorf("counts after the rewrap: %+v", c)
	}
	verify := e.rotationJob(first, "verify")
	if !slices.Equal(verify.Spec.Template.Spec.Containers[0].Args, []string{"manage", "hsm", "rewrap-pkek", "--summary-file", "/dev/termination-log", "--verify"}) {
		t.Errorf("verify Job args %v", verify.Spec.Template.Spec.Containers[0].Args)
	}
	// A message that is not a summary changes no count and breaks nothing.
	e.jobPod(verify, 0, "panic: something else entirely")
	e.finishJob(verify, true, "")
	e.phase(first, kmv1.PhaseSucceeded)
	if c := first.Status.Counts; c == nil || *c != (kmv1.RewrapCounts{Total: 5, Rewrapped: 5}) {
		t.Errorf("counts after a verification without a summary: %+v", c)
	}
	ready := e.condition(first, func() []metav1.Condition { return first.Status.Conditions }, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonRotationSucceeded)
	if ready.Message != "rotated to barbican_mkek_1/barbican_hmac_1; the old keys barbican_mkek_0/barbican_hmac_0 stay in the HSM" || first.Status.CompletionTime == nil {
		t.Errorf("Succeeded with %q, completionTime %v", ready.Message, first.Status.CompletionTime)
	}
	for _, p := range []string{"GeneratingKeys", "RollingOut", "Rewrapping", "Verifying", "Succeeded"} {
		e.waitEvent(first, "Normal "+p+": phase "+p)
	}

	// The second rotation now runs, and its key generation fails: the rotation fails with the Job's reason and
	// the servers stay on the labels of the first.
	e.phase(second, kmv1.PhaseGeneratingKeys)
	e.finishJob(e.rotationJob(second, "generate-keys"), false, "Job has reached the specified backoff limit")
	e.phase(second, kmv1.PhaseFailed)
	if !strings.Contains(second.Status.Message, "failed: BackoffLimitExceeded: Job has reached the specified backoff limit") {
		t.Errorf("Failed message %q", second.Status.Message)
	}
	e.condition(second, func() []metav1.Condition { return second.Status.Conditions }, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRotationFailed)
	e.waitEvent(second, "Warning Failed: phase Failed")
	if err := e.get(b); err != nil || b.Status.ActiveKeys.MKEKLabel != "barbican_mkek_1" {
		t.Errorf("a failed rotation moved the active labels: %+v (%v)", b.Status.ActiveKeys, err)
	}

	// A dry run generates nothing and switches nothing: it only counts.
	dry := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dry"},
		Spec: kmv1.KeyRotationSpec{HSMBackendRef: &kmv1.LocalRef{Name: "proteccio"}, DryRun: true}}
	e.create(dry)
	e.phase(dry, kmv1.PhaseVerifying)
	dryJob := e.rotationJob(dry, "verify")
	if args := dryJob.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"manage", "hsm", "rewrap-pkek", "--summary-file", "/dev/termination-log", "--dry-run"}) {
		t.Errorf("a dry run's Job runs %v, want rewrap-pkek --dry-run (what would move, checked; nothing changed)", args)
	}
	e.jobPod(dryJob, 0, `{"total":5,"rewrapped":5,"failed":0,"remaining":5}`)
	e.finishJob(dryJob, true, "")
	e.phase(dry, kmv1.PhaseSucceeded)
	if c := dry.Status.Counts; c == nil || *c != (kmv1.RewrapCounts{Total: 5, Rewrapped: 5, Remaining: 5}) ||
		dry.Status.Message != "dry run of 1 databases done: 5 project keys would be rewrapped, 0 could not be" {
		t.Errorf("dry run counts %+v, message %q", c, dry.Status.Message)
	}
	var jobs batchv1.JobList
	if err := e.c.List(t.Context(), &jobs, client.InNamespace(ns), client.MatchingLabels{labelInstance: "dry"}); err != nil || len(jobs.Items) != 1 {
		t.Errorf("a dry run ran %d Jobs (%v), want only the verification", len(jobs.Items), err)
	}
	if err := e.get(b); err != nil || b.Status.ActiveKeys.MKEKLabel != "barbican_mkek_1" {
		t.Errorf("a dry run moved the active labels: %+v (%v)", b.Status.ActiveKeys, err)
	}
}
