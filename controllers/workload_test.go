package controllers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestStatefulSetRollout reads StatefulSet status the way `kubectl rollout status` does, and calls a rollout
// stuck past the deadline stalled (StatefulSets have no progressDeadlineSeconds).
func TestStatefulSetRollout(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	sts := func(mod func(*appsv1.StatefulSetStatus)) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "kms", Generation: 2}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3)}}
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
			UpdatedReplicas: 3, CurrentRevision: "kms-b", UpdateRevision: "kms-b"}
		if mod != nil {
			mod(&s.Status)
		}
		return s
	}
	since := func(ago time.Duration) *metav1.Time { return ptr.To(metav1.NewTime(now.Add(-ago))) }
	for _, tc := range []struct {
		name                string
		sts                 *appsv1.StatefulSet
		since               *metav1.Time
		done, available     bool
		progress, stalledOn string
	}{
		{name: "rolled out", sts: sts(nil), done: true, available: true},
		{name: "new spec not seen", sts: sts(func(s *appsv1.StatefulSetStatus) { s.ObservedGeneration = 1 }),
			available: true, progress: "has not seen"},
		{name: "one pod being replaced", sts: sts(func(s *appsv1.StatefulSetStatus) {
			s.UpdatedReplicas, s.UpdateRevision, s.ReadyReplicas, s.AvailableReplicas = 1, "kms-c", 2, 2
		}), since: since(time.Minute), available: true, progress: "1 of 3 pods replaced"},
		{name: "two pods down", sts: sts(func(s *appsv1.StatefulSetStatus) {
			s.UpdatedReplicas, s.UpdateRevision, s.ReadyReplicas, s.AvailableReplicas = 1, "kms-c", 1, 1
		}), progress: "1 of 3 pods replaced"},
		{name: "stuck past the deadline", sts: sts(func(s *appsv1.StatefulSetStatus) {
			s.UpdatedReplicas, s.UpdateRevision, s.ReadyReplicas, s.AvailableReplicas = 1, "kms-c", 2, 2
		}), since: since(statefulSetDeadline + time.Second), available: true, progress: "1 of 3 pods replaced", stalledOn: "has not progressed"},
		{name: "revisions differ with every pod updated", sts: sts(func(s *appsv1.StatefulSetStatus) { s.CurrentRevision = "kms-a" }),
			available: true, progress: "3 of 3 pods replaced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := statefulSetRollout(tc.sts, tc.since, now)
			if r.done != tc.done || r.available != tc.available || !strings.Contains(r.progress, tc.progress) {
				t.Errorf("done %v available %v progress %q, want %v %v %q", r.done, r.available, r.progress, tc.done, tc.available, tc.progress)
			}
			if (tc.stalledOn == "") != (r.stalled == "") || !strings.Contains(r.stalled, tc.stalledOn) {
				t.Errorf("stalled %q, want %q", r.stalled, tc.stalledOn)
			}
		})
	}
}
