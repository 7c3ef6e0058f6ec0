package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/controllers/budget"
)

// KeyManagerReconciler runs a KeyManager: configuration, migration Job, Deployment, Service, PDB and
// ServiceAccount, and the KeyManager's share of its HSMBackend's connection budget.
type KeyManagerReconciler struct {
	client.Client
	// APIReader reads what the operator does not cache: the server pods, while a rollout is not done, to say
	// why they fail (serverPodFailures). Nil leaves pods unread.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  recorder.EventRecorder
	// PodCheckInterval is how often the server pods are read again while a rollout is not done (zero:
	// defaultPodCheckInterval).
	PodCheckInterval time.Duration
}

// defaultPodCheckInterval is how often the server pods are read again while a rollout is not done: a
// crash-looping pod changes nothing the operator watches (the workload's status stays as it is), so only a
// requeue notices it. One uncached list per rolling KeyManager and interval.
const defaultPodCheckInterval = 30 * time.Second

// problem is a condition the user must fix (a missing reference, a failed Job): it is reported in status,
// not returned as an error, because retrying does not help until something changes, and that change
// triggers a reconcile through the watches.
type problem struct{ reason, message string }

func (p *problem) Error() string { return p.message }

func missingf(format string, args ...any) error {
	return &problem{reason: kmv1.ReasonReferenceNotFound, message: fmt.Sprintf(format, args...)}
}

// Reconcile converges one KeyManager and writes its status.
func (r *KeyManagerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	km := &kmv1.KeyManager{}
	if err := r.Get(ctx, req.NamespacedName, km); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !km.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned objects go with their owner references
	}
	status := km.Status.DeepCopy()
	conds := conditionSet{conds: &status.Conditions, generation: km.Generation}

	err := r.converge(ctx, km, status, conds)
	var p *problem
	switch {
	case errors.As(err, &p):
		conds.set(kmv1.ConditionDegraded, metav1.ConditionTrue, p.reason, p.message)
		err = nil
	case err != nil:
		// An API error: report it, retry with backoff. Conditions that were not computed keep their value.
		conds.set(kmv1.ConditionDegraded, metav1.ConditionTrue, kmv1.ReasonReconciling, "reconcile failed: "+err.Error())
	}
	for _, t := range []string{kmv1.ConditionAvailable, kmv1.ConditionProgressing, kmv1.ConditionDatabaseMigrated, kmv1.ConditionWorkersCapped} {
		if !hasCondition(status.Conditions, t) {
			conds.set(t, metav1.ConditionUnknown, kmv1.ReasonReconciling, "not computed yet")
		}
	}
	summarizeKeyManager(conds)
	status.ObservedGeneration = km.Generation

	var res ctrl.Result
	progressing := findCondition(status.Conditions, kmv1.ConditionProgressing)
	rolling := progressing.Status == metav1.ConditionTrue && progressing.Reason == kmv1.ReasonRollingOut
	if usesStatefulSet(km) && rolling {
		// A StatefulSet has no progress deadline of its own, and a stuck rollout may change nothing that
		// would reconcile again: look when this one would pass ours.
		res.RequeueAfter = max(time.Until(progressing.LastTransitionTime.Add(statefulSetDeadline)), 0) + time.Second
	}
	if r.APIReader != nil && (rolling || findCondition(status.Conditions, kmv1.ConditionDegraded).Reason == kmv1.ReasonPodsFailing) {
		// Look at the pods again soon: one may start failing, or stop, without the workload's status changing.
		if every := cmp.Or(r.PodCheckInterval, defaultPodCheckInterval); res.RequeueAfter == 0 || res.RequeueAfter > every {
			res.RequeueAfter = every
		}
	}
	if !equality.Semantic.DeepEqual(&km.Status, status) {
		before := km.Status.Conditions
		km.Status = *status
		wres, werr := writeStatus(ctx, r.Client, km, err, func() { emitTransitions(r.Recorder, km, before, status.Conditions) })
		if wres.IsZero() && werr == nil {
			wres = res
		}
		return wres, werr
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return res, nil
}

func hasCondition(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ {
			return true
		}
	}
	return false
}

// summarizeKeyManager derives Ready: True only when migrated, available, not rolling and not degraded; else
// the reason of the first condition in that order that is not as it should be.
func summarizeKeyManager(conds conditionSet) {
	if c := findCondition(*conds.conds, kmv1.ConditionDegraded); c.Status == metav1.ConditionTrue {
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
		return
	}
	for _, t := range []string{kmv1.ConditionDatabaseMigrated, kmv1.ConditionAvailable} {
		if c := findCondition(*conds.conds, t); c.Status != metav1.ConditionTrue {
			conds.set(kmv1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
			return
		}
	}
	if c := findCondition(*conds.conds, kmv1.ConditionProgressing); c.Status != metav1.ConditionFalse {
		conds.set(kmv1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message)
		return
	}
	conds.set(kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable, findCondition(*conds.conds, kmv1.ConditionAvailable).Message)
}

// converge does the work and fills status; a *problem means the user must act.
func (r *KeyManagerReconciler) converge(ctx context.Context, km *kmv1.KeyManager, status *kmv1.KeyManagerStatus, conds conditionSet) error {
	in, err := r.gather(ctx, km)
	if err != nil {
		return err
	}
	if err := r.budget(ctx, &in, status, conds); err != nil {
		return err
	}
	if err := r.ensure(ctx, km, buildServiceAccount(km), func(o, want client.Object) {
		o.(*corev1.ServiceAccount).AutomountServiceAccountToken = want.(*corev1.ServiceAccount).AutomountServiceAccountToken //nolint:forcetypeassert // same kind
	}); err != nil {
		return err
	}
	cfg := renderConfig(in)
	hash := configHash(cfg, in)
	if err := r.ensure(ctx, km, buildConfigMap(in, cfg), func(o, want client.Object) {
		o.(*corev1.ConfigMap).Data = want.(*corev1.ConfigMap).Data //nolint:forcetypeassert // same kind
	}); err != nil {
		return err
	}

	// A failed migration is reported after the Deployment's state: the old pods keep serving meanwhile.
	migrated, migrationErr := r.migrate(ctx, km, status, conds)
	var p *problem
	if migrationErr != nil && !errors.As(migrationErr, &p) {
		return migrationErr
	}
	// The Deployment moves to a new image or database only after the migration for them succeeded;
	// until then the running pods keep their template.
	// The first pods wait for the backend's master keys: without them the server cannot start, and the
	// keys are generated once, by the HSMBackend's Job. Later rollouts (a rotation's included) are not held.
	waitKeys := false
	if in.hsm != nil && migrated {
		if keys := findCondition(in.hsm.Status.Conditions, kmv1.ConditionKeysReady); keys.Status != metav1.ConditionTrue {
			existing, _ := workloadKinds(km)
			switch err := r.Get(ctx, client.ObjectKeyFromObject(existing), existing); {
			case apierrors.IsNotFound(err):
				waitKeys = true
				conds.set(kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonKeysJobRunning,
					fmt.Sprintf("waiting for the master keys of HSMBackend %s (KeysReady is %s: %s)", in.hsm.Name, keys.Status, keys.Message))
			case err != nil:
				return fmt.Errorf("reading %s: %w", kindOf(existing), err)
			}
		}
	}
	if migrated && !waitKeys {
		var w client.Object = buildDeployment(in, hash)
		if usesStatefulSet(km) {
			w = buildStatefulSet(in, hash)
		}
		if err := r.applyWorkload(ctx, km, w); err != nil {
			return err
		}
		status.ConfigHash, status.HSMKeys, status.KEKSecretVersion = hash, nil, ""
		if sc := simpleCryptoStore(km); sc != nil {
			status.KEKSecretVersion = in.versions["Secret/"+sc.KEKSecretRef.Name]
		}
		if in.hsm != nil {
			status.HSMKeys = &kmv1.ActiveKeys{MKEKLabel: in.settings.mkekLabel, HMACLabel: in.settings.hmacLabel}
		}
	}
	if err := r.ensure(ctx, km, buildService(km), mutateService); err != nil {
		return err
	}
	if err := r.reconcilePDB(ctx, km); err != nil {
		return err
	}
	status.Endpoint = fmt.Sprintf("http://%s.%s.svc:%d", km.Name, km.Namespace, km.Spec.Service.Port)

	var since *metav1.Time
	if c := findCondition(status.Conditions, kmv1.ConditionProgressing); c.Status == metav1.ConditionTrue {
		since = &c.LastTransitionTime
	}
	ro, err := readRollout(ctx, r, km, since)
	if err != nil {
		return err
	}
	if !ro.found {
		conds.set(kmv1.ConditionAvailable, metav1.ConditionFalse, kmv1.ReasonUnavailable, "the "+ro.kind+" does not exist yet")
		if migrated && !waitKeys {
			conds.set(kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonRollingOut, "creating the "+ro.kind)
		}
		conds.set(kmv1.ConditionDegraded, metav1.ConditionFalse, kmv1.ReasonAsExpected, "")
		return migrationErr
	}
	status.Replicas, status.ReadyReplicas = ro.replicas, ro.ready
	if !ro.done && r.APIReader != nil {
		if ro.failing, err = serverPodFailures(ctx, r.APIReader, km.Namespace, ro.selector); err != nil {
			return err
		}
	}
	if err := setRolloutConditions(ro, conds, !migrated); err != nil {
		return err
	}
	if ro.available {
		if err := deleteOtherWorkload(ctx, r.Client, km); err != nil {
			return err
		}
	}
	return migrationErr
}

// gather reads every referenced object and checks the keys the pods will read, so that a missing Secret
// is reported on the KeyManager instead of as a pod stuck in CreateContainerConfigError.
func (r *KeyManagerReconciler) gather(ctx context.Context, km *kmv1.KeyManager) (kmInputs, error) {
	in := kmInputs{km: km, versions: map[string]string{}}
	secret := func(name string, keys ...string) error {
		s := &corev1.Secret{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: km.Namespace, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return missingf("Secret %s not found", name)
			}
			return fmt.Errorf("reading Secret %s: %w", name, err)
		}
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				return missingf("Secret %s has no key %q", name, k)
			}
		}
		in.versions["Secret/"+name] = s.ResourceVersion
		return nil
	}
	if err := secret(km.Spec.Database.CredentialsSecretRef.Name, "username", "password"); err != nil {
		return in, err
	}
	if sc := simpleCryptoStore(km); sc != nil {
		if err := secret(sc.KEKSecretRef.Name, sc.KEKSecretRef.Key); err != nil {
			return in, err
		}
	}
	if ks := keystonePassword(km); ks != nil {
		if err := secret(ks.Name, ks.Key); err != nil {
			return in, err
		}
	}
	if p := km.Spec.PolicyConfigMapRef; p != nil {
		cm := &corev1.ConfigMap{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: km.Namespace, Name: p.Name}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				return in, missingf("ConfigMap %s not found", p.Name)
			}
			return in, fmt.Errorf("reading ConfigMap %s: %w", p.Name, err)
		}
		if _, ok := cm.Data[p.Key]; !ok {
			return in, missingf("ConfigMap %s has no key %q", p.Name, p.Key)
		}
		in.versions["ConfigMap/"+p.Name] = cm.ResourceVersion
	}
	if p := pkcs11Store(km); p != nil {
		b := &kmv1.HSMBackend{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: km.Namespace, Name: p.HSMBackendRef.Name}, b); err != nil {
			if apierrors.IsNotFound(err) {
				return in, missingf("HSMBackend %s not found", p.HSMBackendRef.Name)
			}
			return in, fmt.Errorf("reading HSMBackend %s: %w", p.HSMBackendRef.Name, err)
		}
		if err := secret(b.Spec.LoginPINSecretRef.Name, b.Spec.LoginPINSecretRef.Key); err != nil {
			return in, err
		}
		for _, r := range hsmClientSecrets(b) {
			if err := secret(r.name, r.keys...); err != nil {
				return in, err
			}
		}
		in.hsm, in.settings = b, effectiveSettings(b)
	}
	return in, nil
}

// allocate computes the connection budget of backend b over every KeyManager of its namespace that uses it.
func allocate(ctx context.Context, c client.Reader, b *kmv1.HSMBackend) (budget.Result, error) {
	var kms kmv1.KeyManagerList
	if err := c.List(ctx, &kms, client.InNamespace(b.Namespace), client.MatchingFields{indexHSMBackend: b.Name}); err != nil {
		return budget.Result{}, fmt.Errorf("listing the KeyManagers of HSMBackend %s: %w", b.Name, err)
	}
	reqs := make([]budget.Request, 0, len(kms.Items))
	for _, km := range kms.Items {
		if !km.DeletionTimestamp.IsZero() {
			continue
		}
		reqs = append(reqs, budget.Request{Name: km.Name, Replicas: ptr.Deref(km.Spec.Replicas, 2), Workers: ptr.Deref(km.Spec.Workers, 8)})
	}
	s := effectiveSettings(b)
	if s.maxConnections == 0 {
		// No known limit: grant what was asked.
		return budget.Allocate(1<<30, 0, reqs), nil
	}
	return budget.Allocate(s.maxConnections, s.reserved, reqs), nil
}

// budget sets in.workers from the backend's budget and reports WorkersCapped.
func (r *KeyManagerReconciler) budget(ctx context.Context, in *kmInputs, status *kmv1.KeyManagerStatus, conds conditionSet) error {
	km := in.km
	requested := ptr.Deref(km.Spec.Workers, 8)
	in.workers = requested
	if in.hsm == nil {
		status.Workers = nil
		conds.set(kmv1.ConditionWorkersCapped, metav1.ConditionFalse, kmv1.ReasonNoHSM, "no pkcs11 secret store")
		return nil
	}
	res, err := allocate(ctx, r, in.hsm)
	if err != nil {
		return err
	}
	g, ok := res.Grant(km.Name)
	if !ok {
		// The cache has not seen this KeyManager's own store yet; its next event reconciles again.
		g = budget.Grant{Name: km.Name, Requested: requested, Granted: requested}
	}
	in.workers = g.Granted
	status.Workers = &kmv1.WorkersStatus{Requested: g.Requested, Granted: g.Granted, HSMBackend: in.hsm.Name}
	switch {
	case g.Exhausted():
		conds.set(kmv1.ConditionWorkersCapped, metav1.ConditionTrue, kmv1.ReasonBudgetExhausted, "no HSM session left for these pods")
		return &problem{reason: kmv1.ReasonBudgetExhausted, message: fmt.Sprintf(
			"HSMBackend %s has %d connections, %d reserved for Jobs, and its other KeyManagers use the rest: not one session per pod is left; lower replicas or raise maxConnections",
			in.hsm.Name, res.Max, res.Reserved)}
	case g.Capped():
		conds.set(kmv1.ConditionWorkersCapped, metav1.ConditionTrue, kmv1.ReasonWorkersCapped, fmt.Sprintf(
			"%d of %d requested workers per pod: HSMBackend %s allows %d connections, %d reserved for Jobs, %d requested in all",
			g.Granted, g.Requested, in.hsm.Name, res.Max, res.Reserved, res.Requested))
	default:
		conds.set(kmv1.ConditionWorkersCapped, metav1.ConditionFalse, kmv1.ReasonWorkersGranted,
			fmt.Sprintf("%d workers per pod as requested", g.Granted))
	}
	return nil
}

// ensure creates or updates an owned object; mutate copies the fields the operator owns from want to the
// live object, so that fields set by others (Service cluster IPs, annotations of other tools) stay.
func (r *KeyManagerReconciler) ensure(ctx context.Context, km *kmv1.KeyManager, want client.Object, mutate func(live, want client.Object)) error {
	live, ok := want.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("copying %T", want)
	}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, live, func() error {
		labels := live.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range want.GetLabels() {
			labels[k] = v
		}
		live.SetLabels(labels)
		mutate(live, want)
		return controllerutil.SetControllerReference(km, live, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("writing %T %s: %w", want, want.GetName(), err)
	}
	return nil
}

func mutateService(o, w client.Object) {
	live, want := o.(*corev1.Service), w.(*corev1.Service) //nolint:forcetypeassert // same kind
	live.Spec.Type, live.Spec.Selector = want.Spec.Type, want.Spec.Selector
	// Keep the node ports the API server allocated: only name, port and target are ours.
	ports := want.Spec.Ports
	for i := range ports {
		for _, lp := range live.Spec.Ports {
			if lp.Name == ports[i].Name && lp.Port == ports[i].Port {
				ports[i].NodePort = lp.NodePort
			}
		}
	}
	live.Spec.Ports = ports
	if len(want.Annotations) > 0 {
		if live.Annotations == nil {
			live.Annotations = map[string]string{}
		}
		for k, v := range want.Annotations {
			live.Annotations[k] = v
		}
	}
}

func (r *KeyManagerReconciler) reconcilePDB(ctx context.Context, km *kmv1.KeyManager) error {
	if wantPDB(km) {
		return r.ensure(ctx, km, buildPDB(km), func(o, w client.Object) {
			o.(*policyv1.PodDisruptionBudget).Spec = w.(*policyv1.PodDisruptionBudget).Spec //nolint:forcetypeassert // same kind
		})
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: km.Name, Namespace: km.Namespace}}
	if err := r.Delete(ctx, pdb); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting PodDisruptionBudget %s: %w", km.Name, err)
	}
	return nil
}

// applyWorkload writes the Deployment or StatefulSet with server-side apply under the operator's field manager: only the
// fields the operator sets are its own, so an HPA or a person may own others (kubectl rollout restart's
// annotation, for one) without the operator reverting them.
func (r *KeyManagerReconciler) applyWorkload(ctx context.Context, km *kmv1.KeyManager, w client.Object) error {
	if err := controllerutil.SetControllerReference(km, w, r.Scheme); err != nil {
		return err
	}
	kind := kindOf(w)
	w.GetObjectKind().SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind(kind))
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(w)
	if err != nil {
		return fmt.Errorf("converting %s: %w", kind, err)
	}
	delete(obj, "status")
	u := &unstructured.Unstructured{Object: pruneNulls(obj)}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(managedBy), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", kind, w.GetName(), err)
	}
	return nil
}

// pruneNulls drops null values (creationTimestamp: null and the like) from a converted object: in an apply
// configuration they would claim the fields as ours and empty.
func pruneNulls(m map[string]any) map[string]any {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			m[k] = pruneNulls(t)
		case []any:
			for i, e := range t {
				if em, ok := e.(map[string]any); ok {
					t[i] = pruneNulls(em)
				}
			}
		}
	}
	return m
}

// migrate runs the migration Job of the current revision and reports whether the database is migrated
// for it.
func (r *KeyManagerReconciler) migrate(ctx context.Context, km *kmv1.KeyManager, status *kmv1.KeyManagerStatus, conds conditionSet) (bool, error) {
	rev := migrationRevision(km)
	if m := status.Migration; m != nil && m.Revision == rev {
		conds.set(kmv1.ConditionDatabaseMigrated, metav1.ConditionTrue, kmv1.ReasonMigrated,
			"database migrated by "+m.Image)
		return true, nil
	}
	want := buildMigrationJob(km, rev)
	job := &batchv1.Job{}
	switch err := r.Get(ctx, client.ObjectKeyFromObject(want), job); {
	case apierrors.IsNotFound(err):
		if err := controllerutil.SetControllerReference(km, want, r.Scheme); err != nil {
			return false, err
		}
		if err := r.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("creating migration Job %s: %w", want.Name, err)
		}
		job = want
	case err != nil:
		return false, fmt.Errorf("reading migration Job %s: %w", want.Name, err)
	}
	switch done, failed, msg := jobState(job); {
	case done:
		status.Migration = &kmv1.MigrationStatus{Image: km.Spec.Image, Revision: rev}
		conds.set(kmv1.ConditionDatabaseMigrated, metav1.ConditionTrue, kmv1.ReasonMigrated, "database migrated by "+km.Spec.Image)
		return true, r.deleteOldMigrations(ctx, km, job.Name)
	case failed:
		conds.set(kmv1.ConditionDatabaseMigrated, metav1.ConditionFalse, kmv1.ReasonMigrationFailed,
			fmt.Sprintf("Job %s failed: %s", job.Name, msg))
		return false, &problem{reason: kmv1.ReasonMigrationFailed, message: fmt.Sprintf(
			"migration Job %s failed: %s; its pod's log says why (kubectl logs job/%s)", job.Name, msg, job.Name)}
	default:
		conds.set(kmv1.ConditionDatabaseMigrated, metav1.ConditionFalse, kmv1.ReasonMigrationRunning,
			fmt.Sprintf("Job %s migrates the database for %s", job.Name, km.Spec.Image))
		conds.set(kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonMigrationRunning, "waiting for the database migration")
		return false, nil
	}
}

// jobState reads a Job's terminal conditions.
func jobState(job *batchv1.Job) (done, failed bool, message string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false, ""
		case batchv1.JobFailed:
			return false, true, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return false, false, ""
}

func (r *KeyManagerReconciler) deleteOldMigrations(ctx context.Context, km *kmv1.KeyManager, keep string) error {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(km.Namespace), client.MatchingLabels(objectLabels(km.Name, migrateName))); err != nil {
		return fmt.Errorf("listing migration Jobs: %w", err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Name == keep || !metav1.IsControlledBy(j, km) {
			continue
		}
		if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old migration Job %s: %w", j.Name, err)
		}
	}
	return nil
}

// SetupWithManager watches KeyManagers, what they own, and what they reference through the field indexes.
func (r *KeyManagerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&kmv1.KeyManager{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&batchv1.Job{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.forSecret)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listRequests(ctx, r, &kmv1.KeyManagerList{}, o.GetNamespace(), indexConfigMaps, o.GetName())
		})).
		// A backend's settings and active labels are part of the configuration.
		Watches(&kmv1.HSMBackend{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return listRequests(ctx, r, &kmv1.KeyManagerList{}, o.GetNamespace(), indexHSMBackend, o.GetName())
		})).
		// One KeyManager's replicas or workers change the budget of every other user of the same backend.
		Watches(&kmv1.KeyManager{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			for _, b := range keyManagerBackend(o) {
				reqs = append(reqs, listRequests(ctx, r, &kmv1.KeyManagerList{}, o.GetNamespace(), indexHSMBackend, b)...)
			}
			return reqs
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// forSecret maps a Secret to the KeyManagers that reference it directly or through their HSMBackend.
func (r *KeyManagerReconciler) forSecret(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := listRequests(ctx, r, &kmv1.KeyManagerList{}, o.GetNamespace(), indexSecrets, o.GetName())
	for _, b := range listRequests(ctx, r, &kmv1.HSMBackendList{}, o.GetNamespace(), indexSecrets, o.GetName()) {
		reqs = append(reqs, listRequests(ctx, r, &kmv1.KeyManagerList{}, o.GetNamespace(), indexHSMBackend, b.Name)...)
	}
	return reqs
}
