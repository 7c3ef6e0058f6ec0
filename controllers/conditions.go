package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// conditionSet collects the conditions a reconcile computed, each stamped with the generation it was
// computed from; meta.SetStatusCondition keeps LastTransitionTime when the status does not change.
type conditionSet struct {
	conds      *[]metav1.Condition
	generation int64
}

func (s conditionSet) set(typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(s.conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: s.generation,
	})
}

// transition is a condition whose status changed in a reconcile.
type transition struct {
	cond metav1.Condition
	was  metav1.ConditionStatus
}

// abnormalTrue are the conditions whose normal state is False: their first appearance as False is not
// news and gets no Event.
var abnormalTrue = map[string]bool{
	"Degraded": true, "WorkersCapped": true, "Progressing": true,
}

// transitions lists the conditions of after whose status or reason differs from before (a condition new in after
// counts as changed from Unknown), in after's order, so that an Event is emitted once per state change.
func transitions(before, after []metav1.Condition) []transition {
	var out []transition
	for _, c := range after {
		old := meta.FindStatusCondition(before, c.Type)
		switch {
		case old == nil && abnormalTrue[c.Type] && c.Status == metav1.ConditionFalse:
		case old == nil:
			out = append(out, transition{cond: c, was: metav1.ConditionUnknown})
		case old.Status != c.Status || old.Reason != c.Reason:
			out = append(out, transition{cond: c, was: old.Status})
		}
	}
	return out
}

// findCondition is the condition of type typ in conds, or an Unknown one while it has not been computed.
func findCondition(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: kmv1.ReasonReconciling}
}

// badNews are the condition states that get a Warning Event rather than a Normal one.
func badNews(c metav1.Condition) bool {
	switch c.Type {
	case "Degraded", "WorkersCapped":
		return c.Status == metav1.ConditionTrue
	case "Ready", "KeysReady", "DatabaseMigrated":
		return c.Status == metav1.ConditionFalse && strings.HasSuffix(c.Reason, "Failed")
	}
	return false
}

// emitTransitions records an Event per condition whose status changed: the condition's reason as the Event's
// reason, its type as the action, and its message.
func emitTransitions(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	if rec == nil {
		return
	}
	for _, t := range transitions(before, after) {
		typ := corev1.EventTypeNormal
		if badNews(t.cond) {
			typ = corev1.EventTypeWarning
		}
		rec.Eventf(obj, nil, typ, t.cond.Reason, t.cond.Type, "%s is %s (was %s): %s", t.cond.Type, t.cond.Status, t.was, t.cond.Message)
	}
}

// writeStatus writes obj's status (already set on obj) after a reconcile that ended with err, and calls
// then() once it is written. A conflict means another writer or a stale cache got there first: it is
// retried shortly rather than logged as an error.
func writeStatus(ctx context.Context, c client.Client, obj client.Object, err error, then func()) (ctrl.Result, error) {
	if uerr := c.Status().Update(ctx, obj); apierrors.IsConflict(uerr) && err == nil {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	} else if uerr != nil {
		return ctrl.Result{}, errors.Join(err, fmt.Errorf("writing %T status: %w", obj, uerr))
	}
	then()
	return ctrl.Result{}, err
}
