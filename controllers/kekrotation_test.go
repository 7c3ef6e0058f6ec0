package controllers

import (
	"bytes"
	"encoding/json"
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
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

func kekRotation(ns, name string, dryRun bool) *kmv1.KeyRotation {
	return &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kmv1.KeyRotationSpec{KeyManagerRef: &kmv1.LocalRef{Name: "kms"}, SecretStore: "simple", DryRun: dryRun}}
}

// keks reads the KEK Secret and parses it as the server would.
func (e *env) keks(s *corev1.Secret) []simplecrypto.Key {
	e.t.Helper()
	if err := e.get(s); err != nil {
		e.t.Fatal(err)
	}
	keys, err := simplecrypto.ParseKEKs(string(s.Data["kek"]))
	if err != nil {
		e.t.Fatalf("the server would not read the KEK Secret: %v", err)
	}
	return keys
}

// rollOutKEK waits until km renders the current version of its KEK Secret into dep's template, then rolls dep
// out as the Deployment controller and kubelet would.
func (e *env) rollOutKEK(km *kmv1.KeyManager, dep *appsv1.Deployment, secret *corev1.Secret) {
	e.t.Helper()
	e.eventually("KeyManager "+km.Name+" renders the current KEK Secret", func() bool {
		return e.get(secret) == nil && e.get(km) == nil && km.Status.KEKSecretVersion == secret.ResourceVersion &&
			e.get(dep) == nil && dep.Spec.Template.Annotations[annotationConfigHash] == km.Status.ConfigHash
	})
	e.rollOut(dep)
}

// noKeyMaterial fails when any of keys appears in the rotation's status or in the Events of the namespace.
func (e *env) noKeyMaterial(kr *kmv1.KeyRotation, keys []simplecrypto.Key) {
	e.t.Helper()
	status, err := json.Marshal(kr.Status)
	if err != nil {
		e.t.Fatal(err)
	}
	var events corev1.EventList
	if err := e.c.List(e.t.Context(), &events, client.InNamespace(kr.Namespace)); err != nil {
		e.t.Fatal(err)
	}
	text := string(status) + strings.Join(e.events(kr), "\n")
	for _, ev := range events.Items {
		text += ev.Message
	}
	for i, k := range keys {
		if strings.Contains(text, k.Encode()) {
			e.t.Errorf("KEK %d of the Secret appears in the rotation's status or Events", i)
		}
	}
}

// TestKEKRotation rotates a KeyManager's simpleCrypto KEK through every phase, with Jobs and their pods' ends
// played by the test, an operator restart that finds the KEK written but its status not, a failing rewrap and
// a dry run.
func TestKEKRotation(t *testing.T) {
	e := startOperator(t)
	ns := e.namespace()
	e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
	secret := e.secret(ns, "kek", map[string]string{"kek": testKEK})
	km := newKeyManager(ns, "kms", func(s *kmv1.KeyManagerSpec) { s.Replicas = ptr.To[int32](1) })
	e.create(km)
	e.finishJob(e.migrationJob(km), true, "")
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
	e.eventually("Deployment", func() bool { return e.get(dep) == nil })
	e.rollOut(dep)
	e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable)
	if err := e.get(secret); err != nil || km.Status.KEKSecretVersion != secret.ResourceVersion {
		t.Fatalf("KeyManager status names KEK Secret version %q, want %q (%v)", km.Status.KEKSecretVersion, secret.ResourceVersion, err)
	}

	first := kekRotation(ns, "kek-1", false)
	e.create(first)
	e.phase(first, kmv1.PhaseRollingOut)
	second := kekRotation(ns, "kek-2", false)
	e.create(second)
	e.eventually("the second rotation waits", func() bool {
		return e.get(second) == nil && second.Status.Phase == kmv1.PhasePending &&
			second.Status.Message == "waiting for KeyRotation kek-1, which is rotating the KEK in Secret kek"
	})

	// The new KEK is first, the old one kept after it, and the Secret names the rotation that wrote it.
	keys := e.keks(secret)
	if len(keys) != 2 || keys[1].Encode() != testKEK || keys[0].Encode() == testKEK {
		t.Fatalf("after the rotation wrote its KEK the Secret holds %d keys, the old one second: %v", len(keys), len(keys) == 2 && keys[1].Encode() == testKEK)
	}
	if got := secret.Annotations[annotationKEKRotation]; got != string(first.UID) {
		t.Errorf("the Secret's %s annotation is %q, want the rotation's UID", annotationKEKRotation, got)
	}
	if k := first.Status.KEK; k == nil || k.SecretName != "kek" || k.Key != "kek" || k.Keys != 2 || !slices.Equal(k.KeyManagers, []string{"kms"}) {
		t.Errorf("status.kek = %+v", k)
	}
	if first.Status.NewKeys != nil || first.Status.OldKeys != nil || first.Status.StartTime == nil {
		t.Errorf("a KEK rotation reports labels %+v/%+v or no start time", first.Status.OldKeys, first.Status.NewKeys)
	}
	written, firstKEK := bytes.Clone(secret.Data["kek"]), keys[0].Encode()

	// The operator stops after writing the KEK but before its status said so (the status write was lost): the
	// restarted operator finds its mark on the Secret and does not write a second KEK.
	e.stop()
	if err := e.get(first); err != nil {
		t.Fatal(err)
	}
	first.Status.Phase, first.Status.Message = kmv1.PhaseGeneratingKeys, "writing a new KEK into Secret kek before the old ones"
	first.Status.KEK.Keys = 0
	if err := e.c.Status().Update(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	e.restart()
	e.eventually("the restarted operator waits for the rollout", func() bool {
		return e.get(first) == nil && first.Status.Phase == kmv1.PhaseRollingOut && first.Status.KEK.Keys == 2 &&
			first.Status.Message == "waiting for KeyManager kms to roll out"
	})
	if e.keks(secret); !bytes.Equal(secret.Data["kek"], written) {
		t.Fatalf("the restarted operator rewrote the KEK Secret")
	}

	// The KeyManager renders the new Secret version and rolls; the rotation waits for that rollout.
	e.rollOutKEK(km, dep, secret)
	e.phase(first, kmv1.PhaseRewrapping)
	rewrap := e.rotationJob(first, "rewrap")
	c := rewrap.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"manage", "simple-crypto", "rewrap", "--summary-file", "/dev/termination-log"}) ||
		jobEnv(rewrap)[envKEKFile] != kekFile || !strings.HasPrefix(jobEnv(rewrap)[envDBURL], "mysql://$(") || c.Image != km.Spec.Image {
		t.Errorf("rewrap Job %v (%s) with %v", c.Args, c.Image, jobEnv(rewrap))
	}
	// The KEK reaches the Job exactly as it reaches the servers.
	i := slices.IndexFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "kek" })
	j := slices.IndexFunc(rewrap.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "kek" })
	if i < 0 || j < 0 || !equalJSON(t, dep.Spec.Template.Spec.Volumes[i], rewrap.Spec.Template.Spec.Volumes[j]) ||
		!slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "kek" && m.MountPath == kekDir && m.ReadOnly }) {
		t.Errorf("the rewrap Job mounts the KEK differently from the Deployment")
	}
	if c.TerminationMessagePath != terminationLog || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("termination message %q %q, want the defaults", c.TerminationMessagePath, c.TerminationMessagePolicy)
	}
	e.jobPod(rewrap, 0, `{"total":3,"rewrapped":3,"failed":0,"remaining":0}`+"\n")
	e.finishJob(rewrap, true, "")
	e.phase(first, kmv1.PhaseVerifying)
	if cnt := first.Status.Counts; cnt == nil || *cnt != (kmv1.RewrapCounts{Total: 3, Rewrapped: 3}) {
		t.Errorf("counts after the rewrap: %+v", cnt)
	}
	verify := e.rotationJob(first, "verify")
	if args := verify.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"manage", "simple-crypto", "rewrap", "--summary-file", "/dev/termination-log", "--verify"}) {
		t.Errorf("verify Job args %v", args)
	}
	e.jobPod(verify, 0, `{"total":0,"rewrapped":0,"failed":0,"remaining":0}`)
	e.finishJob(verify, true, "")
	e.phase(first, kmv1.PhaseSucceeded)
	ready := e.condition(first, func() []metav1.Condition { return first.Status.Conditions }, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonRotationSucceeded)
	if ready.Message != "rotated the KEK in Secret kek; its 1 old KEKs stay after it for decryption" || first.Status.CompletionTime == nil {
		t.Errorf("Succeeded with %q", ready.Message)
	}
	for _, p := range []string{"GeneratingKeys", "RollingOut", "Rewrapping", "Verifying", "Succeeded"} {
		e.waitEvent(first, "Normal "+p+": phase "+p)
	}

	// The second rotation now runs: a third KEK goes first, and its rewrap fails. The rotation fails with the
	// Job's reason and the counts its pod left; no KEK is removed.
	e.phase(second, kmv1.PhaseRollingOut)
	keys = e.keks(secret)
	if len(keys) != 3 || keys[1].Encode() != firstKEK || keys[2].Encode() != testKEK {
		t.Fatalf("after the second rotation the Secret holds %d keys", len(keys))
	}
	e.rollOutKEK(km, dep, secret)
	e.phase(second, kmv1.PhaseRewrapping)
	failing := e.rotationJob(second, "rewrap")
	e.jobPod(failing, 1, `{"total":3,"rewrapped":2,"failed":1,"remaining":1}`)
	e.finishJob(failing, false, "Job has reached the specified backoff limit")
	e.phase(second, kmv1.PhaseFailed)
	if !strings.Contains(second.Status.Message, "failed: BackoffLimitExceeded: Job has reached the specified backoff limit (it reported 2 of 3 project keys rewrapped, 1 failed, 1 remaining)") {
		t.Errorf("Failed message %q", second.Status.Message)
	}
	e.condition(second, func() []metav1.Condition { return second.Status.Conditions }, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRotationFailed)
	if got := e.keks(secret); len(got) != 3 {
		t.Errorf("a failed rotation left %d KEKs, want 3", len(got))
	}

	// A dry run writes nothing: the Secret keeps its version, one Job counts, and a Job without a termination
	// message leaves no counts and breaks nothing.
	before := secret.ResourceVersion
	dry := kekRotation(ns, "kek-dry", true)
	e.create(dry)
	e.phase(dry, kmv1.PhaseVerifying)
	dryJob := e.rotationJob(dry, "verify")
	if args := dryJob.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"manage", "simple-crypto", "rewrap", "--summary-file", "/dev/termination-log", "--dry-run"}) {
		t.Errorf("a dry run's Job runs %v", args)
	}
	e.jobPod(dryJob, 0, "")
	e.finishJob(dryJob, true, "")
	e.phase(dry, kmv1.PhaseSucceeded)
	if dry.Status.Counts != nil || dry.Status.Message != "dry run of 1 databases done; the Jobs' logs list what would be rewrapped" {
		t.Errorf("a dry run without a summary: counts %+v, message %q", dry.Status.Counts, dry.Status.Message)
	}
	var jobs batchv1.JobList
	if err := e.c.List(t.Context(), &jobs, client.InNamespace(ns), client.MatchingLabels{labelInstance: "kek-dry"}); err != nil || len(jobs.Items) != 1 {
		t.Errorf("a dry run ran %d Jobs (%v), want only the count", len(jobs.Items), err)
	}
	if e.keks(secret); secret.ResourceVersion != before {
		t.Errorf("a dry run wrote the KEK Secret")
	}
	for _, kr := range []*kmv1.KeyRotation{first, second, dry} {
		e.noKeyMaterial(kr, keys)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
