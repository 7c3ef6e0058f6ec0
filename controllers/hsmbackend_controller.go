package controllers

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// HSMBackendReconciler keeps an HSMBackend's master keys present (the ensure-keys Job for the active
// labels) and reports its connection budget.
type HSMBackendReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder recorder.EventRecorder
	// JobImage runs the backend's Jobs; empty means the image of the first KeyManager (by name) using it.
	JobImage string
}

// Reconcile converges one HSMBackend and writes its status.
func (r *HSMBackendReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &kmv1.HSMBackend{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	status := b.Status.DeepCopy()
	conds := conditionSet{conds: &status.Conditions, generation: b.Generation}
	if status.ActiveKeys == nil {
		// The initial labels; from here on only a KeyRotation changes them.
		s := effectiveSettings(b)
		status.ActiveKeys = &kmv1.ActiveKeys{MKEKLabel: s.mkekLabel, HMACLabel: s.hmacLabel}
	}

	err := r.converge(ctx, b, status, conds)
	var p *problem
	switch {
	case errors.As(err, &p):
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, p.reason, p.message)
		err = nil
	case err != nil:
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonReconciling, "reconcile failed: "+err.Error())
	default:
		if c := findCondition(status.Conditions, kmv1.ConditionKeysReady); c.Status != metav1.ConditionTrue {
			conds.set(kmv1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
		} else {
			conds.set(kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent, c.Message)
		}
	}
	for _, t := range []string{kmv1.ConditionKeysReady, kmv1.ConditionConnectionsAllocated} {
		if !hasCondition(status.Conditions, t) {
			conds.set(t, metav1.ConditionUnknown, kmv1.ReasonReconciling, "not computed yet")
		}
	}
	status.ObservedGeneration = b.Generation
	if !equality.Semantic.DeepEqual(&b.Status, status) {
		before := b.Status.Conditions
		b.Status = *status
		return writeStatus(ctx, r.Client, b, err, func() { emitTransitions(r.Recorder, b, before, status.Conditions) })
	}
	return ctrl.Result{}, err
}

func (r *HSMBackendReconciler) converge(ctx context.Context, b *kmv1.HSMBackend, status *kmv1.HSMBackendStatus, conds conditionSet) error {
	if err := r.reportBudget(ctx, b, status, conds); err != nil {
		return err
	}
	pin := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Spec.LoginPINSecretRef.Name}, pin); err != nil {
		if apierrors.IsNotFound(err) {
			conds.set(kmv1.ConditionKeysReady, metav1.ConditionUnknown, kmv1.ReasonReferenceNotFound, "waiting for the PIN Secret")
			return missingf("Secret %s not found", b.Spec.LoginPINSecretRef.Name)
		}
		return fmt.Errorf("reading Secret %s: %w", b.Spec.LoginPINSecretRef.Name, err)
	}
	if _, ok := pin.Data[b.Spec.LoginPINSecretRef.Key]; !ok {
		conds.set(kmv1.ConditionKeysReady, metav1.ConditionUnknown, kmv1.ReasonReferenceNotFound, "waiting for the PIN Secret")
		return missingf("Secret %s has no key %q", pin.Name, b.Spec.LoginPINSecretRef.Key)
	}
	if err := r.applyClientConfig(ctx, b); err != nil {
		return err
	}
	return r.ensureKeys(ctx, b, status, conds)
}

// applyClientConfig writes the ConfigMap of the backend's rendered vendor configuration, which the servers
// and the HSM Jobs mount.
func (r *HSMBackendReconciler) applyClientConfig(ctx context.Context, b *kmv1.HSMBackend) error {
	want := buildHSMConfigMap(b, effectiveSettings(b))
	if want == nil {
		return nil
	}
	live := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: want.Namespace, Name: want.Name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, live, func() error {
		live.Labels, live.Data = want.Labels, want.Data
		return controllerutil.SetControllerReference(b, live, r.Scheme)
	}); err != nil {
		return fmt.Errorf("applying ConfigMap %s: %w", want.Name, err)
	}
	return nil
}

// jobImage picks the image of the backend's Jobs: the operator's --job-image, else that of the first
// KeyManager using the backend, so that the Job runs the same keymanager as the servers.
func jobImage(ctx context.Context, c client.Reader, b *kmv1.HSMBackend, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	var kms kmv1.KeyManagerList
	if err := c.List(ctx, &kms, client.InNamespace(b.Namespace), client.MatchingFields{indexHSMBackend: b.Name}); err != nil {
		return "", fmt.Errorf("listing the KeyManagers of HSMBackend %s: %w", b.Name, err)
	}
	image, first := "", ""
	for _, km := range kms.Items {
		if first == "" || km.Name < first {
			first, image = km.Name, km.Spec.Image
		}
	}
	return image, nil
}

// ensureKeys runs `keymanager manage hsm ensure-keys` for the active labels, once per distinct input.
func (r *HSMBackendReconciler) ensureKeys(ctx context.Context, b *kmv1.HSMBackend, status *kmv1.HSMBackendStatus, conds conditionSet) error {
	image, err := jobImage(ctx, r, b, r.JobImage)
	if err != nil {
		return err
	}
	if image == "" {
		conds.set(kmv1.ConditionKeysReady, metav1.ConditionUnknown, kmv1.ReasonKeysJobRunning,
			"no KeyManager uses this backend yet and the operator has no --job-image to generate its keys with")
		return nil
	}
	s := effectiveSettings(b)
	s = withLabels(s, status.ActiveKeys.MKEKLabel, status.ActiveKeys.HMACLabel)
	j := hsmJob{backend: b, settings: s, image: image, component: "ensure-keys", args: []string{"manage", "hsm", "ensure-keys"}}
	// The hash renders the PKCS#11 settings and the vendor configuration: compute it once.
	hash := j.hash()
	if status.KeysJobHash == hash {
		conds.set(kmv1.ConditionKeysReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent,
			fmt.Sprintf("MKEK %s and HMAC key %s present", s.mkekLabel, s.hmacLabel))
		return nil
	}
	job, err := runJob(ctx, r.Client, r.Scheme, b, j)
	if err != nil {
		return err
	}
	switch done, failed, msg := jobState(job); {
	case done:
		status.KeysJobHash = hash
		conds.set(kmv1.ConditionKeysReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent,
			fmt.Sprintf("MKEK %s and HMAC key %s present", s.mkekLabel, s.hmacLabel))
	case failed:
		conds.set(kmv1.ConditionKeysReady, metav1.ConditionFalse, kmv1.ReasonKeysJobFailed, fmt.Sprintf("Job %s failed: %s", job.Name, msg))
	default:
		conds.set(kmv1.ConditionKeysReady, metav1.ConditionFalse, kmv1.ReasonKeysJobRunning,
			fmt.Sprintf("Job %s checks or generates MKEK %s and HMAC key %s", job.Name, s.mkekLabel, s.hmacLabel))
	}
	return nil
}

// runJob returns the Job for j, creating it owned by owner when it does not exist.
func runJob(ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, j jobBuilder) (*batchv1.Job, error) {
	want := j.build(owner.GetNamespace(), owner.GetName())
	job := &batchv1.Job{}
	err := c.Get(ctx, client.ObjectKeyFromObject(want), job)
	if err == nil {
		return job, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading Job %s: %w", want.Name, err)
	}
	if err := controllerutil.SetControllerReference(owner, want, scheme); err != nil {
		return nil, err
	}
	if err := c.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating Job %s: %w", want.Name, err)
	}
	return want, nil
}

// reportBudget writes the connection budget and ConnectionsAllocated; the KeyManager controller computes
// the same allocation from the same inputs for its own pods.
func (r *HSMBackendReconciler) reportBudget(ctx context.Context, b *kmv1.HSMBackend, status *kmv1.HSMBackendStatus, conds conditionSet) error {
	res, err := allocate(ctx, r, b)
	if err != nil {
		return err
	}
	s := effectiveSettings(b)
	cb := &kmv1.ConnectionBudgetStatus{Max: s.maxConnections, Reserved: s.reserved,
		Requested: clamp32(res.Requested), Granted: clamp32(res.Granted)}
	var capped []string
	for _, g := range res.Grants {
		cb.Users = append(cb.Users, kmv1.ConnectionUser{KeyManager: g.Name, Pods: g.Pods, RequestedWorkers: g.Requested, GrantedWorkers: g.Granted})
		if g.Capped() {
			capped = append(capped, fmt.Sprintf("%s %d of %d", g.Name, g.Granted, g.Requested))
		}
	}
	status.Connections = cb
	switch {
	case s.maxConnections == 0:
		conds.set(kmv1.ConditionConnectionsAllocated, metav1.ConditionTrue, kmv1.ReasonWorkersGranted,
			"no connection limit known for this vendor: set maxConnections to have the operator enforce one")
	case len(capped) > 0:
		conds.set(kmv1.ConditionConnectionsAllocated, metav1.ConditionFalse, kmv1.ReasonWorkersCapped, fmt.Sprintf(
			"%d connections requested, %d available after %d reserved for Jobs: workers capped for %v",
			res.Requested, s.maxConnections-s.reserved, s.reserved, capped))
	default:
		conds.set(kmv1.ConditionConnectionsAllocated, metav1.ConditionTrue, kmv1.ReasonWorkersGranted,
			fmt.Sprintf("%d of %d connections requested, %d reserved for Jobs", res.Requested, s.maxConnections, s.reserved))
	}
	return nil
}

func clamp32(v int64) int32 {
	return int32(min(v, 1<<31-1)) //nolint:gosec // clamped to the int32 range first
}

// SetupWithManager watches HSMBackends, their Jobs, their Secrets and the KeyManagers that use them.
func (r *HSMBackendReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&kmv1.HSMBackend{}).
		Owns(&batchv1.Job{}).
		Owns(&corev1.ConfigMap{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listRequests(ctx, r, &kmv1.HSMBackendList{}, o.GetNamespace(), indexSecrets, o.GetName())
		})).
		Watches(&kmv1.KeyManager{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			for _, name := range keyManagerBackend(o) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}})
			}
			return reqs
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
