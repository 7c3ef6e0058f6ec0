package controllers

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestRenderedHSMPodsRun runs what the controllers render for a pkcs11 KeyManager on a fresh SoftHSM2 token:
// the backend's ensure-keys Job creates the master keys, the server starts with the granted session cap and
// stores and returns a secret, and after a rotation the rendered generate-keys, rewrap and verify Jobs move the
// project key to the new labels. The token's store stands in for what the SoftHSM development setup mounts:
// SOFTHSM2_CONF is the one variable the test adds to what the pod would have.
func TestRenderedHSMPodsRun(t *testing.T) {
	dbURL := testbed.NewMySQLDatabase(t)
	tok := testbed.NewSoftHSM2Token(t)
	softhsmConf := "SOFTHSM2_CONF=" + os.Getenv("SOFTHSM2_CONF")
	bin := buildKeymanager(t)
	e := startOperator(t)
	ns := e.namespace()

	db := e.database(ns, dbURL)
	e.secret(ns, "hsm-pin", map[string]string{"pin": tok.PIN})
	b := newHSMBackend(ns, "softhsm", func(s *kmv1.HSMBackendSpec) {
		s.Vendor, s.Token = kmv1.VendorSoftHSM, kmv1.TokenSelector{Labels: []string{tok.Label}}
		s.LibraryPath = tok.Module
		// 5 connections, 2 reserved for Jobs: one replica asking for 8 workers (plus its surge pod) is capped.
		s.MaxConnections = ptr.To[int32](5)
	})
	e.create(b)
	km := newKeyManager(ns, "kms", func(s *kmv1.KeyManagerSpec) {
		s.Database = db
		s.Replicas, s.Workers, s.SecretStores = ptr.To[int32](1), ptr.To[int32](8), hsmStore("softhsm")
	})
	e.create(km)

	// exec runs a rendered Job's container; args, when given, replace the container's (to check its work
	// with the same settings).
	exec := func(job *batchv1.Job, args ...string) (string, error) {
		t.Helper()
		c := job.Spec.Template.Spec.Containers[0]
		if args != nil {
			c.Args = args
		}
		out, err := e.render(ns, job.Spec.Template.Spec, c).command(t.Context(), bin, softhsmConf).CombinedOutput()
		return string(out), err
	}
	mustRun := func(job *batchv1.Job) {
		t.Helper()
		if out, err := exec(job); err != nil {
			t.Fatalf("the %s Job's container failed: %v\n%s", job.Labels[labelComponent], err, out)
		}
		e.finishJob(job, true, "")
	}

	mustRun(e.migrationJob(km))

	ensure := e.backendJob(b, "ensure-keys")
	if out, err := exec(ensure, "manage", "hsm", "check-mkek"); err == nil {
		t.Fatalf("check-mkek passed on a fresh token before ensure-keys ran:\n%s", out)
	}
	mustRun(ensure)
	for _, check := range []string{"check-mkek", "check-hmac"} {
		if out, err := exec(ensure, "manage", "hsm", check); err != nil {
			t.Fatalf("%s after the rendered ensure-keys Job: %v\n%s", check, err, out)
		}
	}
	e.condition(b, func() []metav1.Condition { return b.Status.Conditions }, kmv1.ConditionKeysReady, metav1.ConditionTrue, kmv1.ReasonKeysPresent)

	dep := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
	e.eventually("StatefulSet", func() bool { return e.get(dep) == nil })
	e.eventually("the granted workers in status", func() bool {
		return e.get(km) == nil && km.Status.Workers != nil && km.Status.Workers.Granted > 0
	})
	granted := km.Status.Workers.Granted
	if granted >= 8 {
		t.Fatalf("granted %d workers, want a cap below the 8 requested", granted)
	}
	var path string
	t.Run("the server stores a secret through the capped pool", func(t *testing.T) {
		run := e.render(ns, dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0])
		if !slices.Contains(run.env, "KEYMANAGER_HSM_MAX_SESSIONS="+strconv.Itoa(int(granted))) {
			t.Errorf("the server's environment does not carry the granted cap %d: %v", granted, run.env)
		}
		addr, logs := runServer(t, run, bin, softhsmConf)
		path = storeSecret(t, addr, logs)
		if got := getPayload(t, addr, path, logs); got != "hello" {
			t.Errorf("payload %q, want hello", got)
		}
	})
	if t.Failed() {
		return
	}

	kr := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rotate"},
		Spec: kmv1.KeyRotationSpec{HSMBackendRef: kmv1.LocalRef{Name: "softhsm"}}}
	e.create(kr)
	mustRun(e.rotationJob(kr, "generate-keys"))
	e.phase(kr, kmv1.PhaseRollingOut)
	e.eventually("the Deployment renders the new labels", func() bool {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: configMapName(km)}}
		return e.get(cm) == nil && cm.Data["KEYMANAGER_P11_MKEK_LABEL"] == "barbican_mkek_1"
	})
	e.rollOut(dep)
	e.phase(kr, kmv1.PhaseRewrapping)
	rewrap := e.rotationJob(kr, "rewrap")
	// Before the rewrap the project key is still on the old labels, and --verify says so.
	if out, err := exec(rewrap, "manage", "hsm", "rewrap-pkek", "--verify"); err == nil {
		t.Fatalf("rewrap-pkek --verify passed before the rewrap:\n%s", out)
	}
	mustRun(rewrap)
	e.phase(kr, kmv1.PhaseVerifying)
	mustRun(e.rotationJob(kr, "verify"))
	e.phase(kr, kmv1.PhaseSucceeded)

	// The rolled server, on the new labels, still returns the secret stored under the old ones.
	if err := e.get(dep); err != nil {
		t.Fatal(err)
	}
	run := e.render(ns, dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0])
	addr, logs := runServer(t, run, bin, softhsmConf)
	if got := getPayload(t, addr, path, logs); got != "hello" {
		t.Errorf("after the rotation the payload is %q, want hello", got)
	}
}

// backendJob waits for the single Job of HSMBackend b with the given component.
func (e *env) backendJob(b *kmv1.HSMBackend, component string) *batchv1.Job {
	e.t.Helper()
	var jobs batchv1.JobList
	e.eventually(b.Name+" "+component+" Job", func() bool {
		return e.c.List(e.t.Context(), &jobs, client.InNamespace(b.Namespace),
			client.MatchingLabels{labelInstance: b.Name, labelComponent: component}) == nil && len(jobs.Items) == 1
	})
	return &jobs.Items[0]
}

func storeSecret(t *testing.T, addr string, logs func() string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v1/secrets",
		strings.NewReader(`{"payload":"hello","payload_content_type":"text/plain"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", "demo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("storing a secret answered %d: %s\n%s", resp.StatusCode, body, logs())
	}
	// The server builds hrefs from its configured host; only the path is kept, for the next server's address.
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.Path, "/v1/secrets/") {
		t.Fatalf("Location %q (%v) in %s", resp.Header.Get("Location"), err, body)
	}
	return loc.Path
}

func getPayload(t *testing.T, addr, path string, logs func() string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+path+"/payload", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	req.Header.Set("X-Project-Id", "demo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reading the payload answered %d: %s\n%s", resp.StatusCode, body, logs())
	}
	return string(body)
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveSoftHSM2()
	os.Exit(code)
}
