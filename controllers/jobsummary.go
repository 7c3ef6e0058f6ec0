package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/rewrapsummary"
)

// jobSummary reads the rewrap counts a finished Job's container left as its termination message. It reads the
// Job's pods (matched by the Job's own selector) through an uncached reader: the operator lists pods only at
// the end of a rewrap Job and never watches or caches them. Of the pods whose container terminated with a
// message, the latest wins (a retried Job has several). A Job with no such pod, or whose message is not a
// summary, has no counts: ok is false and the rotation goes on without them.
func jobSummary(ctx context.Context, c client.Reader, job *batchv1.Job) (s rewrapsummary.Summary, ok bool, err error) {
	if job.Spec.Selector == nil || len(job.Spec.Template.Spec.Containers) == 0 {
		return s, false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		// A selector the API server accepted but this client cannot read: no counts, the rotation goes on.
		return s, false, nil
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return s, false, fmt.Errorf("listing the pods of Job %s: %w", job.Name, err)
	}
	container := job.Spec.Template.Spec.Containers[0].Name
	var latest *corev1.ContainerStateTerminated
	for i := range pods.Items {
		for _, cs := range pods.Items[i].Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != container || t == nil || t.Message == "" {
				continue
			}
			if latest == nil || latest.FinishedAt.Before(&t.FinishedAt) {
				latest = t
			}
		}
	}
	if latest == nil {
		return s, false, nil
	}
	s, err = rewrapsummary.Parse(latest.Message)
	return s, err == nil, nil
}

// sumSummaries adds the counts of jobs; nil when any of them left none, so that status never shows a sum
// that silently misses a database.
func sumSummaries(ctx context.Context, c client.Reader, jobs []*batchv1.Job) (*kmv1.RewrapCounts, error) {
	var sum kmv1.RewrapCounts
	for _, job := range jobs {
		s, ok, err := jobSummary(ctx, c, job)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		sum.Total += s.Total
		sum.Rewrapped += s.Rewrapped
		sum.Failed += s.Failed
		sum.Remaining += s.Remaining
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	return &sum, nil
}
