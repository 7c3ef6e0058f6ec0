package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

// env is a running control plane with the operator's controllers. There is no kubelet and no
// kube-controller-manager: tests play their part by writing Job and Deployment status.
type env struct {
	t   *testing.T
	c   client.Client
	cfg *rest.Config
	// opts configure the controllers of every manager restart starts.
	opts Options
	// stop stops the running manager; restart starts a fresh one, as an operator restart would.
	stop func()
}

// startOperator starts envtest's kube-apiserver with the generated CRDs and a manager running every
// controller, stopped when the test ends.
func startOperator(t *testing.T) *env {
	t.Helper()
	return startOperatorWith(t, Options{})
}

// startOperatorWith is startOperator with the controllers configured by opts.
func startOperatorWith(t *testing.T, opts Options) *env {
	t.Helper()
	// Controller logs would outlive the test's own output; the tests assert on status and Events instead.
	ctrl.SetLogger(logr.Discard())
	cfg := testbed.StartKube(t, "../config/crd/bases")
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, cfg: cfg, opts: opts}
	e.restart()
	t.Cleanup(func() { e.stop() })
	return e
}

// restart stops the manager if one runs and starts a new one with empty caches and queues.
func (e *env) restart() {
	e.t.Helper()
	if e.stop != nil {
		e.stop()
	}
	scheme, err := NewScheme()
	if err != nil {
		e.t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(e.cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test runs its own manager in this process; their controllers share names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		e.t.Fatalf("creating manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := Setup(ctx, mgr, e.opts); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("manager: %v", err)
			}
		})
	}
}

// namespace creates a fresh namespace for one test.
func (e *env) namespace() string {
	e.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "km-"}}
	e.create(ns)
	return ns.Name
}

func (e *env) create(o client.Object) {
	e.t.Helper()
	if err := e.c.Create(e.t.Context(), o); err != nil {
		e.t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
	}
}

func (e *env) get(o client.Object) error {
	return e.c.Get(e.t.Context(), client.ObjectKeyFromObject(o), o)
}

// eventually polls until ok returns true. It waits for the controllers, which react to watch events; the
// deadline only bounds a broken run and no assertion depends on how long it took.
func (e *env) eventually(what string, ok func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			e.t.Fatalf("never happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) secret(ns, name string, data map[string]string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
	e.create(s)
	return s
}

// condition waits until obj's condition typ has status and reason and returns it.
func (e *env) condition(obj client.Object, conds func() []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	e.t.Helper()
	var got *metav1.Condition
	e.eventually(fmt.Sprintf("%s %s: %s=%s (%s)", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), typ, status, reason), func() bool {
		if err := e.get(obj); err != nil {
			return false
		}
		got = meta.FindStatusCondition(conds(), typ)
		return got != nil && got.Status == status && got.Reason == reason
	})
	if got.ObservedGeneration != obj.GetGeneration() {
		e.t.Errorf("%s observedGeneration %d, want %d", typ, got.ObservedGeneration, obj.GetGeneration())
	}
	return *got
}

func (e *env) kmCondition(km *kmv1.KeyManager, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	e.t.Helper()
	return e.condition(km, func() []metav1.Condition { return km.Status.Conditions }, typ, status, reason)
}

// finishJob marks a Job as the Job controller would after its pod ended.
func (e *env) finishJob(job *batchv1.Job, succeeded bool, message string) {
	e.t.Helper()
	if err := e.get(job); err != nil {
		e.t.Fatal(err)
	}
	now := metav1.Now()
	job.Status.StartTime = &now
	if succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonCompletionsReached},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonCompletionsReached},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: message},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: message},
		}
	}
	if err := e.c.Status().Update(e.t.Context(), job); err != nil {
		e.t.Fatalf("writing Job %s status: %v", job.Name, err)
	}
}

// events lists the reasons and notes of the Events about obj.
func (e *env) events(obj client.Object) []string {
	e.t.Helper()
	var list eventsv1.EventList
	if err := e.c.List(e.t.Context(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.Regarding.UID == obj.GetUID() {
			out = append(out, ev.Type+" "+ev.Reason+": "+ev.Note)
		}
	}
	return out
}

func (e *env) waitEvent(obj client.Object, substr string) {
	e.t.Helper()
	e.eventually("an Event containing "+substr, func() bool {
		for _, ev := range e.events(obj) {
			if strings.Contains(ev, substr) {
				return true
			}
		}
		return false
	})
}

// keysReady plays the ensure-keys Job of backend to success, as a KeyManager's first pods wait for it.
func (e *env) keysReady(b *kmv1.HSMBackend) {
	e.t.Helper()
	var jobs batchv1.JobList
	e.eventually("the ensure-keys Job of "+b.Name, func() bool {
		return e.c.List(e.t.Context(), &jobs, client.InNamespace(b.Namespace),
			client.MatchingLabels{labelInstance: b.Name, labelComponent: "ensure-keys"}) == nil && len(jobs.Items) > 0
	})
	for i := range jobs.Items {
		if done, failed, _ := jobState(&jobs.Items[i]); !done && !failed {
			e.finishJob(&jobs.Items[i], true, "")
		}
	}
	e.condition(b, func() []metav1.Condition { return b.Status.Conditions }, kmv1.ConditionKeysReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent)
}

// modify reads obj, applies change and writes it back, again from a fresh read when a controller wrote the
// object in between (a status update changes its resourceVersion).
func (e *env) modify(obj client.Object, change func()) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.get(obj); err != nil {
			return err
		}
		change()
		return e.c.Update(e.t.Context(), obj)
	})
	if err != nil {
		e.t.Fatalf("updating %T %s: %v", obj, obj.GetName(), err)
	}
}
