package charts

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
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

// TestAPIServerAcceptsRendered installs the chart's crds/ into envtest's real kube-apiserver, applies what
// the chart renders with default and with custom values, then runs `keymanager operator` with the rendered
// Deployment's arguments as the rendered ServiceAccount: it must sync its caches (readiness) and win the
// leader election with nothing but the chart's ClusterRole and Role, and its controllers must write the status of
// the samples in config/samples.
func TestAPIServerAcceptsRendered(t *testing.T) {
	// The chart's own copies of the CRDs: envtest fails when they do not install and become established.
	cfg := testbed.StartKube(t, filepath.Join(chartDir, "crds"))
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	createNamespaces(t, c, namespace, "kms", "kms-leases", "tenant-a")

	apply(t, c, render(t, release, namespace))
	var custom []*unstructured.Unstructured
	for _, o := range render(t, "platform", "kms", "-f", "testdata/custom-values.yaml", "--api-versions", serviceMonitorAPI) {
		// envtest serves no Prometheus Operator CRDs; TestCustomValues checks the ServiceMonitor's content.
		if o.GetKind() != "ServiceMonitor" {
			custom = append(custom, o)
		}
	}
	apply(t, c, custom)
	if t.Failed() {
		return
	}

	d := typed[appsv1.Deployment](t, find(t, render(t, release, namespace), "Deployment", "keymanager-operator"))
	runOperator(t, cfg, "system:serviceaccount:"+namespace+":"+d.Spec.Template.Spec.ServiceAccountName,
		operatorContainer(t, d).Args)
}

// checkAuthorizer asks the API server, as user, for one thing the chart's RBAC allows and one it does not:
// the operator run below proves the RBAC only if the API server enforces it.
func checkAuthorizer(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Group: "keymanager.io", Resource: "keymanagers", Verb: "watch"}, true},
		{authorizationv1.ResourceAttributes{Group: "keymanager.io", Resource: "keymanagers", Verb: "update"}, false},
		{authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "create", Namespace: namespace}, false},
	} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &tc.attrs}}
		if err := c.Create(t.Context(), review); err != nil {
			t.Fatalf("asking the API server what the operator may do: %v", err)
		}
		if review.Status.Allowed != tc.want {
			t.Errorf("the operator's ServiceAccount may %s %s.%s: %v, want %v", tc.attrs.Verb, tc.attrs.Resource, tc.attrs.Group, review.Status.Allowed, tc.want)
		}
	}
}

// runOperator runs `keymanager operator` in this process with args as rendered (the bind addresses moved to
// free loopback ports), as user, until it is ready and leads.
func runOperator(t *testing.T, cfg *rest.Config, user string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "operator" {
		t.Fatalf("the Deployment runs %v, want the operator command", args)
	}
	kubeconfig := testbed.Kubeconfig(t, cfg, user)
	checkAuthorizer(t, kubeconfig)
	// The kubelet sets this from the pod's namespace (fieldRef); the Lease goes there.
	t.Setenv("KEYMANAGER_LEADER_ELECTION_NAMESPACE", namespace)
	metrics, probes := testbed.LoopbackAddr(t), testbed.LoopbackAddr(t)

	root := &cobra.Command{Use: "keymanager", SilenceUsage: true}
	operator.AddCommandTo(root)
	// Later flags win: the rendered ones stay as they are, except where this process must listen.
	root.SetArgs(append(slices.Clone(args), "--kubeconfig", kubeconfig, "--metrics-bind-address", metrics,
		"--health-probe-bind-address", probes, "--log-level", "error"))
	runCtx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("operator stopped with %v", err)
		}
	}()

	get := func(url string) (int, string) { return testbed.HTTPGet(t.Context(), url) }
	// Poll until the operator reports what the test waits for; the deadline only bounds a broken run (a
	// permission the chart lacks keeps the caches from syncing, so /readyz never answers 200).
	waitFor := func(what string, ok func() bool) bool {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-done:
				done <- err
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
	if !waitFor("/readyz 200 (caches synced with the chart's RBAC)", func() bool {
		code, _ := get("http://" + probes + "/readyz")
		return code == http.StatusOK
	}) {
		return
	}
	if !waitFor("leader (the Lease, with the chart's RBAC)", func() bool {
		_, body := get("http://" + metrics + "/metrics")
		return strings.Contains(body, `leader_election_master_status{name="keymanager-operator.keymanager.io"} 1`)
	}) {
		return
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lease coordinationv1.Lease
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: "keymanager-operator.keymanager.io"}, &lease); err != nil {
		t.Errorf("the leader's Lease in %s: %v", namespace, err)
	}

	// The controllers start only on the leader, and a controller reconciles only once the caches of
	// everything it watches have synced: a status written on the samples shows that the chart's RBAC
	// lets every controller list and watch its kinds and write status. Their Secrets do not exist, so the
	// conditions say what is missing; that they are there at all is the point.
	samples := append(readKustomize(t, "config/samples/keymanager_simplecrypto.yaml"),
		readKustomize(t, "config/samples/hsmbackend_softhsm.yaml")...)
	for _, o := range samples {
		o.SetNamespace("default")
	}
	apply(t, c, samples)
	for _, o := range samples {
		what := o.GetKind() + " " + o.GetName() + " has a Ready condition (its controller runs with the chart's RBAC)"
		waitFor(what, func() bool {
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
		})
	}
}
