package charts

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keymanager-io/keymanager/cmd/operator"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

// fieldOwner is the field manager of the test's server-side applies, as helm 4 installs by server-side apply.
const fieldOwner = "helm"

// apply creates or updates objs by server-side apply, which validates every field strictly: an unknown or
// misplaced field in a template fails here as it would fail `helm install`.
func apply(t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(o), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			t.Errorf("the API server refused %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

func createNamespaces(t *testing.T, c client.Client, names ...string) {
	t.Helper()
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(t.Context(), ns); err != nil {
			t.Fatalf("creating namespace %s: %v", name, err)
		}
	}
}

// envRunOperator makes the test binary run `keymanager` with its arguments instead of the tests (TestMain): the
// tests start the operator as a process of its own, which they stop with SIGTERM as the kubelet does.
const envRunOperator = "KEYMANAGER_CHART_TEST_RUN_OPERATOR"

func TestMain(m *testing.M) {
	if os.Getenv(envRunOperator) == "1" {
		root := &cobra.Command{Use: "keymanager", SilenceUsage: true}
		operator.AddCommandTo(root)
		root.SetArgs(os.Args[1:])
		if err := root.ExecuteContext(context.Background()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestAPIServerAcceptsRendered installs the chart's crds/ into envtest's real kube-apiserver, applies what
// the chart renders with default, custom and namespace-scoped values, then runs `keymanager operator` with
// the rendered Deployment's arguments as the rendered ServiceAccount, once with the default ClusterRole and
// once with rbac.scope=namespace: with nothing but the chart's RBAC it must sync its caches (readiness), win
// the leader election, have its controllers write the status of the samples in config/samples, and on SIGTERM
// stop and release the Lease.
func TestAPIServerAcceptsRendered(t *testing.T) {
	// The chart's own copies of the CRDs: envtest fails when they do not install and become established.
	cfg := testbed.StartKube(t, filepath.Join(chartDir, "crds"))
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	createNamespaces(t, c, namespace, "kms", "kms-leases", "tenant-a", "scoped-system", "tenant-b")

	defaults := render(t, release, namespace)
	apply(t, c, defaults)
	var custom []*unstructured.Unstructured
	for _, o := range render(t, "platform", "kms", "-f", "testdata/custom-values.yaml", "--api-versions", serviceMonitorAPI) {
		// envtest serves no Prometheus Operator CRDs; TestCustomValues checks the ServiceMonitor's content.
		if o.GetKind() != "ServiceMonitor" {
			custom = append(custom, o)
		}
	}
	apply(t, c, custom)
	scoped := render(t, "scoped", "scoped-system", "--set", "watchNamespace=tenant-b", "--set", "rbac.scope=namespace")
	apply(t, c, scoped)
	if t.Failed() {
		return
	}

	t.Run("cluster scope", func(t *testing.T) {
		runOperator(t, cfg, operatorRun{
			deployment: typed[appsv1.Deployment](t, find(t, defaults, "Deployment", "keymanager-operator")),
			samplesIn:  "default",
			allowed:    []authorizationv1.ResourceAttributes{{Group: "keymanager.io", Resource: "keymanagers", Verb: "watch"}},
			denied: []authorizationv1.ResourceAttributes{
				{Group: "keymanager.io", Resource: "keymanagers", Verb: "update"},
				{Resource: "secrets", Verb: "create", Namespace: "default"},
			},
		})
	})
	t.Run("namespace scope", func(t *testing.T) {
		runOperator(t, cfg, operatorRun{
			deployment: typed[appsv1.Deployment](t, find(t, scoped, "Deployment", "scoped-keymanager-operator")),
			samplesIn:  "tenant-b",
			allowed: []authorizationv1.ResourceAttributes{
				{Group: "keymanager.io", Resource: "keymanagers", Verb: "watch", Namespace: "tenant-b"},
				{Group: "coordination.k8s.io", Resource: "leases", Verb: "create", Namespace: "scoped-system"},
			},
			denied: []authorizationv1.ResourceAttributes{
				{Group: "keymanager.io", Resource: "keymanagers", Verb: "watch"},
				{Group: "keymanager.io", Resource: "keymanagers", Verb: "watch", Namespace: "default"},
				{Resource: "secrets", Verb: "get", Namespace: "default"},
			},
		})
	})
}

// operatorRun is one run of the operator as a rendered Deployment would run it.
type operatorRun struct {
	deployment *appsv1.Deployment
	// samplesIn is the namespace the samples are created in, one the operator watches.
	samplesIn string
	// allowed and denied are what the API server must answer the operator's ServiceAccount: the run proves
	// the chart's RBAC only where the API server enforces it.
	allowed, denied []authorizationv1.ResourceAttributes
}

// checkAuthorizer asks the API server what the user of kubeconfig may do.
func checkAuthorizer(t *testing.T, kubeconfig string, allowed, denied []authorizationv1.ResourceAttributes) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(attrs authorizationv1.ResourceAttributes, want bool) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
		if err := c.Create(t.Context(), review); err != nil {
			t.Fatalf("asking the API server what the operator may do: %v", err)
		}
		if review.Status.Allowed != want {
			t.Errorf("the operator's ServiceAccount may %s %s.%s in namespace %q: %v, want %v",
				attrs.Verb, attrs.Resource, attrs.Group, attrs.Namespace, review.Status.Allowed, want)
		}
	}
	for _, a := range allowed {
		ask(a, true)
	}
	for _, a := range denied {
		ask(a, false)
	}
}

// leaseName is the operator's leader-election Lease (cmd/operator).
const leaseName = "keymanager-operator.keymanager.io"

// runOperator starts this test binary as `keymanager` with the rendered Deployment's arguments (the bind
// addresses moved to free loopback ports) as its ServiceAccount, waits until it is ready, leads and has
// reconciled the samples, then stops it with SIGTERM.
func runOperator(t *testing.T, cfg *rest.Config, run operatorRun) {
	t.Helper()
	d := run.deployment
	args := operatorContainer(t, d).Args
	if len(args) == 0 || args[0] != "operator" {
		t.Fatalf("the Deployment runs %v, want the operator command", args)
	}
	kubeconfig := testbed.Kubeconfig(t, cfg, "system:serviceaccount:"+d.Namespace+":"+d.Spec.Template.Spec.ServiceAccountName)
	checkAuthorizer(t, kubeconfig, run.allowed, run.denied)
	metrics, probes := testbed.LoopbackAddr(t), testbed.LoopbackAddr(t)

	// Later flags win: the rendered ones stay as they are, except where this process must listen.
	cmd := exec.Command(os.Args[0], append(slices.Clone(args), "--kubeconfig", kubeconfig, //nolint:gosec,noctx // the test binary itself; stopped by SIGTERM below
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probes, "--log-level", "error")...)
	// The kubelet sets KEYMANAGER_LEADER_ELECTION_NAMESPACE from the pod's namespace (fieldRef).
	cmd.Env = append(os.Environ(), envRunOperator+"=1", "KEYMANAGER_LEADER_ELECTION_NAMESPACE="+d.Namespace)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the operator: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("operator's stderr:\n%s", stderr.String())
		}
	}()

	get := func(url string) (int, string) { return testbed.HTTPGet(t.Context(), url) }
	// Poll until the operator reports what the test waits for; the deadline only bounds a broken run (a
	// permission the chart lacks keeps the caches from syncing, so the samples never get a status).
	waitFor := func(what string, ok func() bool) bool {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-exited:
				stopped = true
				t.Errorf("operator exited while waiting for %s: %v", what, err)
				return false
			default:
			}
			if time.Now().After(deadline) {
				t.Errorf("operator never reached: %s", what)
				return false
			}
		}
		return true
	}
	if !waitFor("/readyz 200", func() bool { code, _ := get("http://" + probes + "/readyz"); return code == http.StatusOK }) ||
		!waitFor("leader", func() bool {
			_, body := get("http://" + metrics + "/metrics")
			return strings.Contains(body, `leader_election_master_status{name="`+leaseName+`"} 1`)
		}) {
		return
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaseKey := client.ObjectKey{Namespace: d.Namespace, Name: leaseName}
	var lease coordinationv1.Lease
	if err := c.Get(t.Context(), leaseKey, &lease); err != nil {
		t.Fatalf("the leader's Lease in %s: %v", d.Namespace, err)
	}

	// The controllers start only on the leader, and a controller reconciles only once the caches of
	// everything it watches have synced: a status written on the samples shows that the chart's RBAC
	// lets every controller list and watch its kinds and write status. Their Secrets do not exist, so the
	// conditions say what is missing; that they are there at all is the point.
	samples := append(readKustomize(t, "config/samples/keymanager_simplecrypto.yaml"),
		readKustomize(t, "config/samples/hsmbackend_softhsm.yaml")...)
	for _, o := range samples {
		o.SetNamespace(run.samplesIn)
	}
	apply(t, c, samples)
	for _, o := range samples {
		if !waitFor(o.GetKind()+" "+o.GetName()+" has a Ready condition", func() bool { return hasReady(t, c, o) }) {
			return
		}
	}

	// SIGTERM, as the kubelet stops a pod: the operator stops cleanly and hands the Lease back at once, so a
	// standby replica takes over without waiting for it to expire.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("operator stopped on SIGTERM with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("operator still runs a minute after SIGTERM")
	}
	if err := c.Get(t.Context(), leaseKey, &lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("the Lease is still held by %q after the operator stopped", *h)
	}
}

// hasReady reports whether the object o names has a Ready condition in its status.
func hasReady(t *testing.T, c client.Client, o *unstructured.Unstructured) bool {
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(o.GroupVersionKind())
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(o), got); err != nil {
		return false
	}
	conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	for _, cond := range conditions {
		if m, ok := cond.(map[string]any); ok && m["type"] == "Ready" {
			return true
		}
	}
	return false
}
