package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// statefulSetDeadline is how long a StatefulSet rollout may go without finishing before the KeyManager is
// Degraded: StatefulSets have no progressDeadlineSeconds, so the operator keeps the Deployment's default.
const statefulSetDeadline = 10 * time.Minute

// rollout is what the operator reads of a KeyManager's pods, from its Deployment or its StatefulSet (see
// usesStatefulSet): the same questions `kubectl rollout status` asks of either.
type rollout struct {
	kind  string
	found bool
	// want, replicas and ready count pods: asked for, existing, ready.
	want, replicas, ready int32
	// templateHash is the config hash of the pod template the workload runs.
	templateHash string
	// available: enough pods serve (the Deployment's Available condition, or all but the one a StatefulSet
	// may replace at a time).
	available bool
	// done: every pod runs the current template and is available.
	done bool
	// progress says why not done; stalled, when set, why the rollout is stuck.
	progress, stalled string
	// selector selects the workload's pods.
	selector *metav1.LabelSelector
	// failing, when set, says which pod fails and why (podFailureMessage); read only while not done.
	failing string
}

// workloadKinds are the two kinds a KeyManager's pods run under; the first is the one it uses now.
func workloadKinds(km *kmv1.KeyManager) (use, other client.Object) {
	meta := metav1.ObjectMeta{Namespace: km.Namespace, Name: km.Name}
	if usesStatefulSet(km) {
		return &appsv1.StatefulSet{ObjectMeta: meta}, &appsv1.Deployment{ObjectMeta: meta}
	}
	return &appsv1.Deployment{ObjectMeta: meta}, &appsv1.StatefulSet{ObjectMeta: meta}
}

// readRollout reads the workload km uses. progressingSince is when the KeyManager's Progressing condition
// became True, to time out a StatefulSet rollout.
func readRollout(ctx context.Context, c client.Reader, km *kmv1.KeyManager, progressingSince *metav1.Time) (rollout, error) {
	obj, _ := workloadKinds(km)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return rollout{kind: kindOf(obj)}, nil
		}
		return rollout{}, fmt.Errorf("reading %s %s: %w", kindOf(obj), km.Name, err)
	}
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return deploymentRollout(w), nil
	case *appsv1.StatefulSet:
		return statefulSetRollout(w, progressingSince, time.Now()), nil
	}
	return rollout{}, nil
}

func kindOf(obj client.Object) string {
	if _, ok := obj.(*appsv1.StatefulSet); ok {
		return "StatefulSet"
	}
	return "Deployment"
}

func deploymentRollout(dep *appsv1.Deployment) rollout {
	st := dep.Status
	r := rollout{kind: "Deployment", found: true, want: ptr.Deref(dep.Spec.Replicas, 1), replicas: st.Replicas, ready: st.ReadyReplicas,
		templateHash: dep.Spec.Template.Annotations[annotationConfigHash], selector: dep.Spec.Selector}
	for _, c := range st.Conditions {
		switch {
		case c.Type == appsv1.DeploymentAvailable:
			r.available = c.Status == corev1.ConditionTrue
		case c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded":
			r.stalled = c.Message
		}
	}
	switch {
	case st.ObservedGeneration < dep.Generation:
		r.progress = "the Deployment controller has not seen the new template yet"
	case st.UpdatedReplicas < r.want:
		r.progress = fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, r.want)
	case st.Replicas > st.UpdatedReplicas:
		r.progress = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		r.progress = fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		r.done = st.AvailableReplicas == r.want
		if !r.done {
			r.progress = fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, r.want)
		}
	}
	return r
}

func statefulSetRollout(sts *appsv1.StatefulSet, progressingSince *metav1.Time, now time.Time) rollout {
	st := sts.Status
	r := rollout{kind: "StatefulSet", found: true, want: ptr.Deref(sts.Spec.Replicas, 1), replicas: st.Replicas, ready: st.ReadyReplicas,
		templateHash: sts.Spec.Template.Annotations[annotationConfigHash], selector: sts.Spec.Selector}
	// One pod at a time is replaced: the others must serve.
	r.available = st.AvailableReplicas >= max(r.want-1, min(r.want, 1))
	switch {
	case st.ObservedGeneration < sts.Generation:
		r.progress = "the StatefulSet controller has not seen the new template yet"
	case st.UpdatedReplicas < r.want || st.UpdateRevision != st.CurrentRevision:
		r.progress = fmt.Sprintf("%d of %d pods replaced, one at a time", st.UpdatedReplicas, r.want)
	case st.Replicas > r.want:
		r.progress = fmt.Sprintf("%d pods pending termination", st.Replicas-r.want)
	case st.AvailableReplicas < r.want:
		r.progress = fmt.Sprintf("%d of %d pods available", st.AvailableReplicas, r.want)
	default:
		r.done = true
	}
	if !r.done && progressingSince != nil && now.Sub(progressingSince.Time) > statefulSetDeadline {
		r.stalled = fmt.Sprintf("StatefulSet %s has not progressed for %s: %s", sts.Name, statefulSetDeadline, r.progress)
	}
	return r
}

// setRolloutConditions sets Available, Progressing and Degraded from the workload's rollout. Failing pods make
// the KeyManager Degraded at once, with the reason in the pods' status; a rollout that is merely slow becomes
// Degraded only past its progress deadline.
func setRolloutConditions(r rollout, conds conditionSet, migrationPending bool) error {
	msg := fmt.Sprintf("%d/%d replicas ready", r.ready, r.want)
	if r.available {
		conds.set(kmv1.ConditionAvailable, metav1.ConditionTrue, kmv1.ReasonAvailable, msg)
	} else {
		conds.set(kmv1.ConditionAvailable, metav1.ConditionFalse, kmv1.ReasonUnavailable, msg)
	}
	var failing error
	if r.failing != "" {
		failing = &problem{reason: kmv1.ReasonPodsFailing, message: r.failing}
	}
	if r.stalled != "" {
		conds.set(kmv1.ConditionProgressing, metav1.ConditionFalse, kmv1.ReasonProgressDeadline, r.stalled)
		if failing != nil {
			return failing
		}
		return &problem{reason: kmv1.ReasonProgressDeadline, message: "rollout stalled: " + r.stalled}
	}
	switch {
	case migrationPending:
		// set by migrate
	case !r.done:
		conds.set(kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonRollingOut, r.progress)
	default:
		conds.set(kmv1.ConditionProgressing, metav1.ConditionFalse, kmv1.ReasonRolledOut, "every replica runs the current template")
	}
	if failing != nil {
		return failing
	}
	conds.set(kmv1.ConditionDegraded, metav1.ConditionFalse, kmv1.ReasonAsExpected, "")
	return nil
}

// deleteOtherWorkload removes the workload of the kind km no longer uses (its stores changed between an HSM
// and none), once the new one is available, so that the move never leaves the Service without pods. Only
// an object km controls is deleted.
func deleteOtherWorkload(ctx context.Context, c client.Client, km *kmv1.KeyManager) error {
	_, other := workloadKinds(km)
	if err := c.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(other, km) {
		return nil
	}
	if err := c.Delete(ctx, other, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the former %s %s: %w", kindOf(other), km.Name, err)
	}
	return nil
}
