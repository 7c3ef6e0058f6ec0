package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// KeyRotationReconciler moves a KeyRotation through its phases. Every step is recorded in status before the
// next begins and every Job has a name derived from its input, so a restarted operator finds the rotation
// where it was and the Jobs it had started. Old keys are never deleted: no Job it runs deletes anything.
type KeyRotationReconciler struct {
	client.Client
	// APIReader reads what the operator does not cache: the pods of ended rewrap Jobs, for their counts.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  recorder.EventRecorder
	JobImage  string
}

// activePhases hold the target: one rotation at a time per HSMBackend, and per simpleCrypto KEK Secret key.
var activePhases = []kmv1.RotationPhase{kmv1.PhaseGeneratingKeys, kmv1.PhaseRollingOut, kmv1.PhaseRewrapping, kmv1.PhaseVerifying}

func terminal(p kmv1.RotationPhase) bool { return p == kmv1.PhaseSucceeded || p == kmv1.PhaseFailed }

// Reconcile advances one KeyRotation by at most one phase per call.
func (r *KeyRotationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	kr := &kmv1.KeyRotation{}
	if err := r.Get(ctx, req.NamespacedName, kr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !kr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	status := kr.Status.DeepCopy()
	if status.Phase == "" {
		status.Phase = kmv1.PhasePending
	}
	var err error
	if !terminal(status.Phase) {
		err = r.step(ctx, kr, status)
	}
	var p *problem
	if errors.As(err, &p) {
		fail(status, p.message)
		err = nil
	}
	setRotationReady(kr, status)
	status.ObservedGeneration = kr.Generation

	if !equality.Semantic.DeepEqual(&kr.Status, status) {
		was := kr.Status.Phase
		kr.Status = *status
		return writeStatus(ctx, r.Client, kr, err, func() {
			if was != status.Phase && r.Recorder != nil {
				typ := corev1.EventTypeNormal
				if status.Phase == kmv1.PhaseFailed {
					typ = corev1.EventTypeWarning
				}
				r.Recorder.Eventf(kr, nil, typ, string(status.Phase), "Rotate", "phase %s: %s", status.Phase, status.Message)
			}
		})
	}
	return ctrl.Result{}, err
}

func fail(status *kmv1.KeyRotationStatus, message string) {
	status.Phase, status.Message = kmv1.PhaseFailed, message
	status.CompletionTime = ptr.To(metav1.Now())
}

func setRotationReady(kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus) {
	conds := conditionSet{conds: &status.Conditions, generation: kr.Generation}
	switch status.Phase {
	case kmv1.PhaseSucceeded:
		conds.set(kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonRotationSucceeded, status.Message)
	case kmv1.PhaseFailed:
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRotationFailed, status.Message)
	case kmv1.PhasePending:
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRotationBlocked, status.Message)
	default:
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRotationInProgress, status.Message)
	}
}

func (r *KeyRotationReconciler) step(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus) error {
	switch {
	case kr.Spec.KeyManagerRef != nil:
		return r.stepKEK(ctx, kr, status)
	case kr.Spec.HSMBackendRef == nil:
		// The CRD requires one of them; an object from before that rule is reported, not retried.
		return &problem{message: "neither hsmBackendRef nor keyManagerRef is set"}
	}
	b := &kmv1.HSMBackend{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: kr.Namespace, Name: kr.Spec.HSMBackendRef.Name}, b); err != nil {
		if apierrors.IsNotFound(err) && status.Phase == kmv1.PhasePending {
			status.Message = fmt.Sprintf("waiting for HSMBackend %s", kr.Spec.HSMBackendRef.Name)
			return nil
		}
		if apierrors.IsNotFound(err) {
			return &problem{message: fmt.Sprintf("HSMBackend %s was deleted during the rotation", kr.Spec.HSMBackendRef.Name)}
		}
		return fmt.Errorf("reading HSMBackend %s: %w", kr.Spec.HSMBackendRef.Name, err)
	}
	switch status.Phase {
	case kmv1.PhasePending:
		return r.start(ctx, kr, b, status)
	case kmv1.PhaseGeneratingKeys:
		return r.generate(ctx, kr, b, status)
	case kmv1.PhaseRollingOut:
		return r.rollOut(ctx, kr, b, status)
	case kmv1.PhaseRewrapping:
		return r.rewrap(ctx, kr, b, status, false)
	case kmv1.PhaseVerifying:
		return r.rewrap(ctx, kr, b, status, true)
	}
	return nil
}

// start takes the backend when no other rotation holds it and no older one waits for it.
func (r *KeyRotationReconciler) start(ctx context.Context, kr *kmv1.KeyRotation, b *kmv1.HSMBackend, status *kmv1.KeyRotationStatus) error {
	var all kmv1.KeyRotationList
	if err := r.List(ctx, &all, client.InNamespace(kr.Namespace), client.MatchingFields{indexHSMBackend: b.Name}); err != nil {
		return fmt.Errorf("listing the rotations of HSMBackend %s: %w", b.Name, err)
	}
	if wait := waitFor(kr, all.Items, "HSMBackend "+b.Name); wait != "" {
		status.Message = wait
		return nil
	}
	s := effectiveSettings(b)
	old := kmv1.ActiveKeys{MKEKLabel: s.mkekLabel, HMACLabel: s.hmacLabel}
	next := kmv1.ActiveKeys{
		MKEKLabel: cmp.Or(kr.Spec.NewMKEKLabel, nextLabel(old.MKEKLabel)),
		HMACLabel: cmp.Or(kr.Spec.NewHMACLabel, nextLabel(old.HMACLabel)),
		Rotation:  kr.Name,
	}
	if next.MKEKLabel == next.HMACLabel {
		return &problem{message: fmt.Sprintf("the new MKEK and HMAC labels are both %q", next.MKEKLabel)}
	}
	if next.MKEKLabel == old.MKEKLabel || next.HMACLabel == old.HMACLabel {
		return &problem{message: fmt.Sprintf("the new labels %s/%s reuse an active one (%s/%s)", next.MKEKLabel, next.HMACLabel, old.MKEKLabel, old.HMACLabel)}
	}
	status.OldKeys, status.NewKeys = &old, &next
	begin(kr, status, fmt.Sprintf("generating MKEK %s and HMAC key %s", next.MKEKLabel, next.HMACLabel))
	return nil
}

// begin starts a rotation that took its target: at GeneratingKeys with generating as its message, or for a
// dry run straight at Verifying, which only counts.
func begin(kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus, generating string) {
	status.StartTime = ptr.To(metav1.Now())
	if kr.Spec.DryRun {
		status.Phase = kmv1.PhaseVerifying
		status.Message = "dry run: counting the project keys a rotation would rewrap"
		return
	}
	status.Phase, status.Message = kmv1.PhaseGeneratingKeys, generating
}

// waitFor says what kr waits for among the other rotations of its target (what names it): one that is
// rotating it, or an older one that has not finished. Empty when kr may start.
func waitFor(kr *kmv1.KeyRotation, others []kmv1.KeyRotation, what string) string {
	older := func(a, c *kmv1.KeyRotation) bool {
		return cmp.Or(a.CreationTimestamp.Compare(c.CreationTimestamp.Time), strings.Compare(a.Name, c.Name)) < 0
	}
	for i := range others {
		o := &others[i]
		if o.Name == kr.Name {
			continue
		}
		if slices.Contains(activePhases, o.Status.Phase) {
			return fmt.Sprintf("waiting for KeyRotation %s, which is rotating %s", o.Name, what)
		}
		if !terminal(o.Status.Phase) && older(o, kr) {
			return fmt.Sprintf("waiting for the older KeyRotation %s of %s", o.Name, what)
		}
	}
	return ""
}

func (r *KeyRotationReconciler) newKeysJob(ctx context.Context, kr *kmv1.KeyRotation, b *kmv1.HSMBackend, status *kmv1.KeyRotationStatus, component string, args []string, extra []corev1.EnvVar) (hsmJob, error) {
	image, err := jobImage(ctx, r, b, r.JobImage)
	if err != nil {
		return hsmJob{}, err
	}
	if image == "" {
		return hsmJob{}, &problem{message: "no KeyManager uses HSMBackend " + b.Name + " and the operator has no --job-image"}
	}
	s := withLabels(effectiveSettings(b), status.NewKeys.MKEKLabel, status.NewKeys.HMACLabel)
	return hsmJob{backend: b, settings: s, image: image, component: component, args: args, extraEnv: extra}, nil
}

// jobOutcome turns a Job's state into the rotation's: nil when it succeeded, errRunning while it runs, a
// problem (the rotation fails) when it failed.
var errRunning = errors.New("job running")

func jobOutcome(job *batchv1.Job) error {
	switch done, failed, msg := jobState(job); {
	case done:
		return nil
	case failed:
		return &problem{message: fmt.Sprintf("Job %s failed: %s", job.Name, msg)}
	}
	return errRunning
}

func (r *KeyRotationReconciler) generate(ctx context.Context, kr *kmv1.KeyRotation, b *kmv1.HSMBackend, status *kmv1.KeyRotationStatus) error {
	j, err := r.newKeysJob(ctx, kr, b, status, "generate-keys", []string{"manage", "hsm", "ensure-keys"}, nil)
	if err != nil {
		return err
	}
	job, err := runJob(ctx, r.Client, r.Scheme, kr, j)
	if err != nil {
		return err
	}
	if err := jobOutcome(job); err != nil {
		if errors.Is(err, errRunning) {
			return nil
		}
		return err
	}
	// Switch the servers to the new keys: the backend's active labels live in its status (the spec keeps
	// the initial ones), and every KeyManager renders its configuration from them.
	if a := b.Status.ActiveKeys; a == nil || *a != *status.NewKeys {
		b.Status.ActiveKeys = status.NewKeys.DeepCopy()
		if err := r.Status().Update(ctx, b); err != nil {
			return fmt.Errorf("switching HSMBackend %s to the new labels: %w", b.Name, err)
		}
	}
	status.Phase = kmv1.PhaseRollingOut
	status.Message = fmt.Sprintf("keys generated by Job %s; rolling the KeyManagers onto %s/%s", job.Name, status.NewKeys.MKEKLabel, status.NewKeys.HMACLabel)
	return nil
}

func (r *KeyRotationReconciler) usersOf(ctx context.Context, b *kmv1.HSMBackend) ([]kmv1.KeyManager, error) {
	var kms kmv1.KeyManagerList
	if err := r.List(ctx, &kms, client.InNamespace(b.Namespace), client.MatchingFields{indexHSMBackend: b.Name}); err != nil {
		return nil, fmt.Errorf("listing the KeyManagers of HSMBackend %s: %w", b.Name, err)
	}
	slices.SortFunc(kms.Items, func(a, c kmv1.KeyManager) int { return strings.Compare(a.Name, c.Name) })
	return kms.Items, nil
}

// rollOut waits until every KeyManager using the backend runs pods configured with the new labels.
func (r *KeyRotationReconciler) rollOut(ctx context.Context, kr *kmv1.KeyRotation, b *kmv1.HSMBackend, status *kmv1.KeyRotationStatus) error {
	kms, err := r.usersOf(ctx, b)
	if err != nil {
		return err
	}
	want := kmv1.ActiveKeys{MKEKLabel: status.NewKeys.MKEKLabel, HMACLabel: status.NewKeys.HMACLabel}
	for i := range kms {
		km := &kms[i]
		if km.Status.HSMKeys == nil || *km.Status.HSMKeys != want || km.Status.ObservedGeneration != km.Generation {
			status.Message = waitingFor(km, "to switch to the new labels")
			return nil
		}
		if ok, err := r.keyManagerRolledOut(ctx, km); err != nil || !ok {
			status.Message = waitingFor(km, "to roll out")
			return err
		}
	}
	status.Phase = kmv1.PhaseRewrapping
	status.Message = fmt.Sprintf("%d KeyManagers run with the new labels; rewrapping project keys", len(kms))
	return nil
}

// waitingFor is the message of a rotation waiting for km to do what: with km's reason when it is Degraded (its
// pods fail to start, say), so that `kubectl describe keyrotation` tells what holds the rotation. The rotation
// does not fail for it: the rollout goes on once the cause is fixed, and RollingOut is the safe state to wait in.
func waitingFor(km *kmv1.KeyManager, what string) string {
	msg := fmt.Sprintf("waiting for KeyManager %s %s", km.Name, what)
	if d := findCondition(km.Status.Conditions, kmv1.ConditionDegraded); d.Status == metav1.ConditionTrue && d.Message != "" {
		msg += ": " + d.Message
	}
	return msg
}

// keyManagerRolledOut reports whether km's workload (its Deployment, or its StatefulSet with an HSM) runs, on
// every replica, the template km's status names. The KeyManager's status names the hash of the template it
// applied; the workload's own status says whether that template rolled out. Both come from separate caches, so
// each is checked against the other rather than trusted alone. A KeyManager without a workload has no pod left
// on old keys.
func (r *KeyRotationReconciler) keyManagerRolledOut(ctx context.Context, km *kmv1.KeyManager) (bool, error) {
	ro, err := readRollout(ctx, r, km, nil)
	if err != nil || !ro.found {
		return err == nil, err
	}
	return ro.templateHash == km.Status.ConfigHash && ro.done, nil
}

// rewrap runs `manage hsm rewrap-pkek` against the database of every KeyManager using the backend, one Job
// each; verify then runs it with --verify, which fails while any project key is left on other labels (a dry-run
// rotation runs --dry-run instead: it checks that every project key could be rewrapped).
func (r *KeyRotationReconciler) rewrap(ctx context.Context, kr *kmv1.KeyRotation, b *kmv1.HSMBackend, status *kmv1.KeyRotationStatus, verify bool) error {
	kms, err := r.usersOf(ctx, b)
	if err != nil {
		return err
	}
	return r.rewrapPhase(ctx, kr, status, kms, verify, "hsm rewrap-pkek", func(km *kmv1.KeyManager, component string, args []string) (jobBuilder, error) {
		return r.newKeysJob(ctx, kr, b, status, component, args, dbEnv(km))
	}, func() string {
		return fmt.Sprintf("rotated to %s/%s; the old keys %s/%s stay in the HSM",
			status.NewKeys.MKEKLabel, status.NewKeys.HMACLabel, status.OldKeys.MKEKLabel, status.OldKeys.HMACLabel)
	})
}

// rewrapPhase runs the Rewrapping or Verifying phase: command ("<group> <command>" of `keymanager manage`) as one
// Job per database of kms, built by build, and once they all succeeded records their counts and moves on — to
// Verifying after the rewrap, to Succeeded after the verification (with done's message) or a dry run.
func (r *KeyRotationReconciler) rewrapPhase(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus, kms []kmv1.KeyManager,
	verify bool, command string, build func(km *kmv1.KeyManager, component string, args []string) (jobBuilder, error), done func() string) error {
	group, cmd, _ := strings.Cut(command, " ")
	component, args := rewrapArgs(kr, verify, group, cmd)
	jobs, err := r.perDatabase(ctx, kr, kms, status, func(km *kmv1.KeyManager) (jobBuilder, error) {
		return build(km, component, args)
	})
	if err != nil || jobs == nil {
		return err
	}
	if err := r.recordCounts(ctx, kr, status, jobs, verify); err != nil {
		return err
	}
	switch {
	case !verify:
		status.Phase = kmv1.PhaseVerifying
		status.Message = fmt.Sprintf("rewrapped the project keys of %d databases; verifying", len(jobs))
	case kr.Spec.DryRun:
		status.Phase, status.CompletionTime = kmv1.PhaseSucceeded, ptr.To(metav1.Now())
		status.Message = dryRunMessage(status.Counts, len(jobs))
	default:
		status.Phase, status.CompletionTime = kmv1.PhaseSucceeded, ptr.To(metav1.Now())
		status.Message = done()
	}
	return nil
}

// rewrapArgs are the arguments of a rewrap Job (`manage <group> <command>`) and its component: rewrap, or verify
// with --verify (--dry-run in a dry run, which only counts and checks). Every one leaves its counts in the
// termination log.
func rewrapArgs(kr *kmv1.KeyRotation, verify bool, group, command string) (component string, args []string) {
	args = []string{"manage", group, command, "--summary-file", terminationLog}
	switch {
	case verify && kr.Spec.DryRun:
		return "verify", append(args, "--dry-run")
	case verify:
		return "verify", append(args, "--verify")
	}
	return "rewrap", args
}

// perDatabase runs one Job per distinct database of kms (two KeyManagers on one database share one) and returns
// them once every one succeeded; nil while any runs (status.Message names them). A failed Job fails the
// rotation with its reason and the counts it left.
func (r *KeyRotationReconciler) perDatabase(ctx context.Context, kr *kmv1.KeyRotation, kms []kmv1.KeyManager, status *kmv1.KeyRotationStatus,
	build func(*kmv1.KeyManager) (jobBuilder, error)) ([]*batchv1.Job, error) {
	seen := map[string]bool{}
	var jobs []*batchv1.Job
	var running []string
	for i := range kms {
		url := dbURL(&kms[i])
		if seen[url] {
			continue
		}
		seen[url] = true
		j, err := build(&kms[i])
		if err != nil {
			return nil, err
		}
		job, err := runJob(ctx, r.Client, r.Scheme, kr, j)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
		switch err := jobOutcome(job); {
		case errors.Is(err, errRunning):
			running = append(running, job.Name)
		case err != nil:
			var p *problem
			if errors.As(err, &p) {
				if s, ok, serr := jobSummary(ctx, r.APIReader, job); serr == nil && ok {
					p.message += fmt.Sprintf(" (it reported %d of %d project keys rewrapped, %d failed, %d remaining)", s.Rewrapped, s.Total, s.Failed, s.Remaining)
				}
			}
			return nil, err
		}
	}
	if len(running) > 0 {
		status.Message = fmt.Sprintf("waiting for Jobs %s", strings.Join(running, ", "))
		return nil, nil
	}
	return jobs, nil
}

// recordCounts puts the Jobs' summed counts into status: the rewrap's counts, then the remaining rows the
// verification found; a dry run's are what would be rewrapped. Jobs without a readable summary leave the
// counts as they were.
func (r *KeyRotationReconciler) recordCounts(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus, jobs []*batchv1.Job, verify bool) error {
	if r.APIReader == nil {
		return nil
	}
	sum, err := sumSummaries(ctx, r.APIReader, jobs)
	switch {
	case err != nil || sum == nil:
		return err
	case !verify || kr.Spec.DryRun:
		status.Counts = sum
	case status.Counts != nil:
		status.Counts.Remaining = sum.Remaining
	}
	return nil
}

func dryRunMessage(counts *kmv1.RewrapCounts, databases int) string {
	if counts == nil {
		return fmt.Sprintf("dry run of %d databases done; the Jobs' logs list what would be rewrapped", databases)
	}
	return fmt.Sprintf("dry run of %d databases done: %d project keys would be rewrapped, %d could not be",
		databases, counts.Rewrapped, counts.Failed)
}

// SetupWithManager watches KeyRotations, their Jobs, and the backends and KeyManagers they wait for. Pods are
// not watched: a Job's end is what triggers reading its pods' termination messages.
func (r *KeyRotationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byBackend := func(ctx context.Context, ns, backend string) []reconcile.Request {
		return listRequests(ctx, r, &kmv1.KeyRotationList{}, ns, indexHSMBackend, backend)
	}
	byKeyManager := func(ctx context.Context, ns, km string) []reconcile.Request {
		return listRequests(ctx, r, &kmv1.KeyRotationList{}, ns, indexKeyManager, km)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&kmv1.KeyRotation{}).
		Owns(&batchv1.Job{}).
		Watches(&kmv1.HSMBackend{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byBackend(ctx, o.GetNamespace(), o.GetName())
		})).
		// A KeyManager's status tells when it rolled out; a finished rotation releases the backend or the KEK.
		Watches(&kmv1.KeyManager{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			for _, name := range keyManagerBackend(o) {
				reqs = append(reqs, byBackend(ctx, o.GetNamespace(), name)...)
			}
			return append(reqs, byKeyManager(ctx, o.GetNamespace(), o.GetName())...)
		})).
		Watches(&kmv1.KeyRotation{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			for _, name := range keyRotationBackend(o) {
				reqs = append(reqs, byBackend(ctx, o.GetNamespace(), name)...)
			}
			for _, name := range keyRotationKeyManagers(o) {
				reqs = append(reqs, byKeyManager(ctx, o.GetNamespace(), name)...)
			}
			return reqs
		})).
		Complete(r)
}

// nextLabel increments a label's trailing number, barbican_mkek_10 → barbican_mkek_11; a label without
// one gets _1 appended.
func nextLabel(label string) string {
	i := len(label)
	for i > 0 && label[i-1] >= '0' && label[i-1] <= '9' {
		i--
	}
	if i == len(label) {
		return label + "_1"
	}
	n, err := strconv.ParseUint(label[i:], 10, 63)
	if err != nil { // more digits than fit: append rather than overflow
		return label + "_1"
	}
	return label[:i] + strconv.FormatUint(n+1, 10)
}
