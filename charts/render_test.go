package charts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/keymanager-io/keymanager/cmd/operator"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

const (
	chartDir = "keymanager"
	// release and namespace give the names config/ uses: the release "keymanager" names its objects
	// keymanager-operator, as config/rbac and config/manager do.
	release   = "keymanager"
	namespace = "keymanager-system"
	// serviceMonitorAPI tells helm template that the Prometheus Operator's CRDs exist.
	serviceMonitorAPI = "monitoring.coreos.com/v1/ServiceMonitor"
)

// helm runs the pinned helm with args and returns its stdout; a failure carries stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testbed.Helm(t)
	cmd := exec.CommandContext(t.Context(), bin, args...)
	// helm keeps no state for lint and template, but would create its config and cache directories.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render is `helm template` of the chart in namespace with extra arguments (-f, --set, --api-versions),
// decoded into objects.
func render(t *testing.T, releaseName, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", releaseName, chartDir, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("decoding helm template's output: %v\n%s", err, out)
	}
	return objs
}

// decode splits a multi-document YAML stream into objects, leaving out empty documents.
func decode(stream string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// find returns the one object of kind and name, failing the test when there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q rendered; got %v", kind, name, kindsAndNames(objs))
	return nil
}

func kindsAndNames(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// typed converts a rendered object into its Go type, so that comparisons see defaults and types, not YAML.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s %s does not fit its type: %v", u.GetKind(), u.GetName(), err)
	}
	return &v
}

// readKustomize reads the documents of a file in config/ as objects.
func readKustomize(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(string(b))
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return objs
}

// appVersion reads Chart.yaml's appVersion, the default image tag.
func appVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatalf("reading Chart.yaml: %v", err)
	}
	if chart.AppVersion == "" {
		t.Fatal("Chart.yaml has no appVersion")
	}
	return chart.AppVersion
}

func operatorContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "operator" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named operator", d.Name)
	return corev1.Container{}
}

// diff fails the test when got and want differ, showing both as YAML.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s: the chart renders\n%s\nwant\n%s", what, g, w)
	}
}

func TestLintStrict(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults": nil,
		"custom":   {"-f", "testdata/custom-values.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestDefaultsMatchConfig renders the default values and compares them with what `kubectl apply -k
// config/default` creates: the same ClusterRole rules (generated by controller-gen), the same Deployment
// security contexts, arguments, environment, ports, probes and resources.
func TestDefaultsMatchConfig(t *testing.T) {
	objs := render(t, release, namespace)
	name := "keymanager-operator"

	wantRole := typed[rbacv1.ClusterRole](t, find(t, readKustomize(t, "config/rbac/role.yaml"), "ClusterRole", name))
	gotRole := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", name))
	if len(wantRole.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	diff(t, "ClusterRole rules", gotRole.Rules, wantRole.Rules)

	binding := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", name))
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: name, Namespace: namespace}
	if binding.RoleRef.Name != name || len(binding.Subjects) != 1 || binding.Subjects[0] != wantSubject {
		t.Errorf("ClusterRoleBinding binds %+v to %+v, want ClusterRole %s to %+v", binding.RoleRef, binding.Subjects, name, wantSubject)
	}
	find(t, objs, "ServiceAccount", name)
	leader := typed[rbacv1.Role](t, find(t, objs, "Role", name+"-leader-election"))
	if leader.Namespace != namespace || !grants(leader.Rules, "coordination.k8s.io", "leases", "create", "update", "get") {
		t.Errorf("leader-election Role in %q grants %+v, want leases in %s", leader.Namespace, leader.Rules, namespace)
	}
	find(t, objs, "RoleBinding", name+"-leader-election")

	want := typed[appsv1.Deployment](t, find(t, readKustomize(t, "config/manager/manager.yaml"), "Deployment", name))
	got := typed[appsv1.Deployment](t, find(t, objs, "Deployment", name))
	if got.Namespace != namespace {
		t.Errorf("Deployment in namespace %q, want %q", got.Namespace, namespace)
	}
	diff(t, "replicas", got.Spec.Replicas, want.Spec.Replicas)
	diff(t, "pod securityContext", got.Spec.Template.Spec.SecurityContext, want.Spec.Template.Spec.SecurityContext)
	diff(t, "serviceAccountName", got.Spec.Template.Spec.ServiceAccountName, want.Spec.Template.Spec.ServiceAccountName)
	gc, wc := operatorContainer(t, got), operatorContainer(t, want)
	diff(t, "container securityContext", gc.SecurityContext, wc.SecurityContext)
	diff(t, "args", gc.Args, wc.Args)
	diff(t, "env", gc.Env, wc.Env)
	diff(t, "ports", gc.Ports, wc.Ports)
	diff(t, "livenessProbe", gc.LivenessProbe, wc.LivenessProbe)
	diff(t, "readinessProbe", gc.ReadinessProbe, wc.ReadinessProbe)
	diff(t, "resources", gc.Resources, wc.Resources)
	for k, v := range want.Spec.Template.Labels {
		if got.Spec.Template.Labels[k] != v || got.Spec.Selector.MatchLabels[k] != v {
			t.Errorf("pod label or selector %s=%q missing (config/ selects on it)", k, v)
		}
	}
	if wantImage := "keymanager:" + appVersion(t); gc.Image != wantImage || gc.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s (%s), want %s (IfNotPresent): the tag defaults to the chart's appVersion", gc.Image, gc.ImagePullPolicy, wantImage)
	}

	svc := typed[corev1.Service](t, find(t, objs, "Service", name+"-metrics"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("metrics Service ports %+v, want 8080 → metrics", svc.Spec.Ports)
	}
	for k, v := range svc.Spec.Selector {
		if got.Spec.Template.Labels[k] != v {
			t.Errorf("metrics Service selects %s=%q, which the operator pods do not carry", k, v)
		}
	}

	wantKinds := []string{
		"ClusterRole/" + name, "ClusterRoleBinding/" + name, "Deployment/" + name, "Role/" + name + "-leader-election",
		"RoleBinding/" + name + "-leader-election", "Service/" + name + "-metrics", "ServiceAccount/" + name,
	}
	diff(t, "rendered objects (no ServiceMonitor without its API)", kindsAndNames(objs), wantKinds)
}

// grants reports whether rules allow every verb on resource in group.
func grants(rules []rbacv1.PolicyRule, group, resource string, verbs ...string) bool {
	for _, verb := range verbs {
		found := false
		for _, r := range rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestCustomValues renders every value away from its default and checks that each lands where it should.
func TestCustomValues(t *testing.T) {
	const ns = "kms"
	objs := render(t, "platform", ns, "-f", "testdata/custom-values.yaml", "--api-versions", serviceMonitorAPI)
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "kms-operator"))
	c := operatorContainer(t, d)
	pod := d.Spec.Template.Spec

	wantArgs := []string{
		"operator", "--leader-elect", "--metrics-bind-address=:9080", "--health-probe-bind-address=:9081",
		"--leader-election-namespace=kms-leases", "--namespace=tenant-a",
		"--job-image=registry.example.com/platform/keymanager-jobs:1.2.3", "--log-level=debug", "--log-format=text",
		"--kubeconfig=",
	}
	diff(t, "args", c.Args, wantArgs)
	// The real command parses every rendered flag (TestAPIServerAcceptsRendered runs it with the defaults).
	root := &cobra.Command{Use: "keymanager"}
	operator.AddCommandTo(root)
	if cmd, rest, err := root.Find(c.Args); err != nil || cmd == root {
		t.Errorf("keymanager has no command %v: %v", c.Args[:1], err)
	} else if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("keymanager operator refuses the rendered arguments %v: %v", rest, err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"image", c.Image, "registry.example.com/platform/keymanager:1.2.3"},
		{"pullPolicy", c.ImagePullPolicy, corev1.PullAlways},
		{"replicas", *d.Spec.Replicas, int32(3)},
		{"imagePullSecrets", pod.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "registry-credentials"}}},
		{"serviceAccountName", pod.ServiceAccountName, "kms-operator-sa"},
		{"priorityClassName", pod.PriorityClassName, "system-cluster-critical"},
		{"nodeSelector", pod.NodeSelector, map[string]string{"kubernetes.io/os": "linux"}},
		{"tolerations", len(pod.Tolerations), 1},
		{"affinity", pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil, true},
		{"fsGroup", *pod.SecurityContext.FSGroup, int64(10001)},
		{"cpu limit", c.Resources.Limits.Cpu().String(), "1"},
		{"memory limit", c.Resources.Limits.Memory().String(), "512Mi"},
		{"pod annotation", d.Spec.Template.Annotations["example.com/scrape"], "false"},
		{"pod label", d.Spec.Template.Labels["example.com/team"], "platform"},
		{"last env", c.Env[len(c.Env)-1], corev1.EnvVar{Name: "GOMEMLIMIT", Value: "200MiB"}},
		{"ports", c.Ports, []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9080}, {Name: "probes", ContainerPort: 9081}}},
	}
	for _, ck := range checks {
		diff(t, ck.what, ck.got, ck.want)
	}

	sa := find(t, objs, "ServiceAccount", "kms-operator-sa")
	if sa.GetAnnotations()["example.com/owner"] != "platform" {
		t.Errorf("ServiceAccount annotations %v", sa.GetAnnotations())
	}
	binding := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "kms-operator"))
	diff(t, "ClusterRoleBinding subjects", binding.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kms-operator-sa", Namespace: ns}})
	for _, kind := range []string{"Role", "RoleBinding"} {
		if o := find(t, objs, kind, "kms-operator-leader-election"); o.GetNamespace() != "kms-leases" {
			t.Errorf("leader-election %s in %q, want the Lease's namespace kms-leases", kind, o.GetNamespace())
		}
	}
	svc := typed[corev1.Service](t, find(t, objs, "Service", "kms-operator-metrics"))
	if svc.Spec.Ports[0].Port != 8443 || svc.Annotations["example.com/metrics"] != "true" {
		t.Errorf("metrics Service %+v %v", svc.Spec.Ports, svc.Annotations)
	}
	sm := find(t, objs, "ServiceMonitor", "kms-operator")
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	diff(t, "ServiceMonitor endpoints", endpoints, []any{map[string]any{
		"port": "metrics", "path": "/metrics", "scheme": "http", "interval": "15s", "scrapeTimeout": "10s",
	}})
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v, want release=prometheus among them", sm.GetLabels())
	}

	// Without the Prometheus Operator's API the ServiceMonitor is left out, and the notes say so.
	for _, o := range render(t, "platform", ns, "-f", "testdata/custom-values.yaml") {
		if o.GetKind() == "ServiceMonitor" {
			t.Error("ServiceMonitor rendered although monitoring.coreos.com/v1 is not served")
		}
	}
	out, err := helm(t, "install", "--dry-run=client", "platform", chartDir, "--namespace", ns, "-f", "testdata/custom-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, notes, _ := strings.Cut(out, "NOTES:")
	for _, want := range []string{
		"watching namespace tenant-a", "deployment/kms-operator", "-n kms-leases get lease",
		"no ServiceMonitor was created", "helm show crds", "service/kms-operator-metrics 8443",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}

// TestOptionalObjectsOff turns off leader election, metrics and the chart's RBAC and ServiceAccount.
func TestOptionalObjectsOff(t *testing.T) {
	objs := render(t, release, namespace, "--set", "replicaCount=1", "--set", "leaderElection.enabled=false",
		"--set", "metrics.enabled=false", "--set", "rbac.create=false", "--set", "serviceAccount.create=false",
		"--set", "serviceAccount.name=existing", "--api-versions", serviceMonitorAPI,
		"--set", "metrics.serviceMonitor.enabled=true")
	diff(t, "rendered objects", kindsAndNames(objs), []string{"Deployment/keymanager-operator"})
	d := typed[appsv1.Deployment](t, objs[0])
	c := operatorContainer(t, d)
	diff(t, "args", c.Args, []string{"operator", "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=:8081"})
	diff(t, "ports", c.Ports, []corev1.ContainerPort{{Name: "probes", ContainerPort: 8081}})
	diff(t, "serviceAccountName", d.Spec.Template.Spec.ServiceAccountName, "existing")
}

// TestNamespaceScope renders rbac.scope=namespace: the generated rules granted by a Role in the watched
// namespace, and no cluster-wide grant at all.
func TestNamespaceScope(t *testing.T) {
	objs := render(t, release, namespace, "--set", "watchNamespace=tenant-b", "--set", "rbac.scope=namespace")
	name := "keymanager-operator"
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding" {
			t.Errorf("%s %s rendered with rbac.scope=namespace", o.GetKind(), o.GetName())
		}
	}
	wantRole := typed[rbacv1.ClusterRole](t, find(t, readKustomize(t, "config/rbac/role.yaml"), "ClusterRole", name))
	role := typed[rbacv1.Role](t, find(t, objs, "Role", name))
	if role.Namespace != "tenant-b" {
		t.Errorf("the operator's Role is in %q, want the watched namespace tenant-b", role.Namespace)
	}
	diff(t, "Role rules", role.Rules, wantRole.Rules)
	binding := typed[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", name))
	diff(t, "RoleBinding", []any{binding.Namespace, binding.RoleRef, binding.Subjects}, []any{
		"tenant-b", rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		[]rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: namespace}},
	})
	if leader := find(t, objs, "Role", name+"-leader-election"); leader.GetNamespace() != namespace {
		t.Errorf("leader-election Role in %q, want the release namespace", leader.GetNamespace())
	}
}

// TestRejectsBadValues checks that values.schema.json and the templates refuse values that would deploy
// something broken, with a message naming the value.
func TestRejectsBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		set  []string
		want string
	}{
		"negative replicas":         {[]string{"replicaCount=-1"}, "replicaCount"},
		"unknown pull policy":       {[]string{"image.pullPolicy=Sometimes"}, "pullPolicy"},
		"misspelt value":            {[]string{"replicas=3"}, "replicas"},
		"unknown log level":         {[]string{"logLevel=verbose"}, "logLevel"},
		"invalid namespace":         {[]string{"watchNamespace=Tenant_A"}, "watchNamespace"},
		"port out of range":         {[]string{"metrics.port=70000"}, "port"},
		"replicas without election": {[]string{"leaderElection.enabled=false"}, "replicaCount 1"},
		"no ServiceAccount name":    {[]string{"serviceAccount.create=false"}, "serviceAccount.name"},
		"unknown RBAC scope":        {[]string{"rbac.scope=tenant"}, "scope"},
		"namespace scope, no watch": {[]string{"rbac.scope=namespace"}, "watchNamespace"},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"template", release, chartDir, "--namespace", namespace}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := helm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template with %v gave %v, want an error naming %q", tc.set, err, tc.want)
			}
		})
	}
}

// TestChartCopiesGenerated checks that crds/ and files/role.yaml are the files controller-gen writes into
// config/, which `make manifests` copies (`make generated-check` catches the same drift from make).
func TestChartCopiesGenerated(t *testing.T) {
	bases, err := filepath.Glob("../config/crd/bases/*.yaml")
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string]string{"../config/rbac/role.yaml": filepath.Join(chartDir, "files", "role.yaml")}
	var names []string
	for _, b := range bases {
		pairs[b] = filepath.Join(chartDir, "crds", filepath.Base(b))
		names = append(names, filepath.Base(b))
	}
	var copyNames []string
	for _, c := range copies {
		copyNames = append(copyNames, filepath.Base(c))
	}
	diff(t, "CRD files in the chart (run make manifests)", copyNames, names)
	for src, dst := range pairs {
		a, errA := os.ReadFile(src)
		b, errB := os.ReadFile(dst)
		if err := errors.Join(errA, errB); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run make manifests", dst, src)
		}
	}
}
