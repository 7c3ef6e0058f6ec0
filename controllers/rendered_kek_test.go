package controllers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/rewrapsummary"
	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestRenderedKEKRotationRuns runs what the controllers render for a simpleCrypto KEK rotation: a server
// rendered with the old KEK stores secrets in MariaDB, the rotation writes the new KEK into the Secret, and
// the rendered rewrap and verify Jobs — their args, environment, KEK mount and termination log laid out as a
// pod would have them — move every project KEK under the new one and leave counts that become the rotation's.
// A server given the new KEK alone then reads every secret.
func TestRenderedKEKRotationRuns(t *testing.T) {
	dbURL := testbed.NewMySQLDatabase(t)
	bin := buildKeymanager(t)
	e := startOperator(t)
	ns := e.namespace()
	db := e.database(ns, dbURL)
	secret := e.secret(ns, "kek", map[string]string{"kek": testKEK})
	km := newKeyManager(ns, "kms", func(s *kmv1.KeyManagerSpec) { s.Database, s.Replicas = db, ptr.To[int32](1) })
	e.create(km)

	// exec runs a rendered Job's container (args, when given, replace its own) and returns its output and the
	// summary it left in its termination log.
	exec := func(job *batchv1.Job, args ...string) (string, string, error) {
		t.Helper()
		c := job.Spec.Template.Spec.Containers[0]
		if args != nil {
			c.Args = args
		}
		run := e.render(ns, job.Spec.Template.Spec, c)
		out, err := run.command(t.Context(), bin).CombinedOutput()
		summary, rerr := os.ReadFile(filepath.Join(run.root, c.TerminationMessagePath))
		if rerr != nil {
			t.Fatalf("the termination log: %v", rerr)
		}
		return string(out), string(summary), err
	}
	// mustRun runs job, plays its pod's end with the summary it left, and marks it succeeded.
	mustRun := func(job *batchv1.Job, want rewrapsummary.Summary) {
		t.Helper()
		out, summary, err := exec(job)
		if err != nil {
			t.Fatalf("the %s Job's container failed: %v\n%s", job.Labels[labelComponent], err, out)
		}
		if got, err := rewrapsummary.Parse(summary); err != nil || got != want {
			t.Errorf("the %s Job left %q: %+v (%v), want %+v", job.Labels[labelComponent], summary, got, err, want)
		}
		e.jobPod(job, 0, summary)
		e.finishJob(job, true, "")
	}
	migrate := e.migrationJob(km)
	if out, _, err := exec(migrate); err != nil {
		t.Fatalf("the migration Job's container failed: %v\n%s", err, out)
	}
	e.finishJob(migrate, true, "")

	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
	e.eventually("Deployment", func() bool { return e.get(dep) == nil })
	projects := []string{"alpha", "beta", "gamma"}
	paths := map[string]string{}
	t.Run("a server with the old KEK stores secrets", func(t *testing.T) {
		addr, logs := runServer(t, e.render(ns, dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0]), bin)
		for _, p := range projects {
			paths[p] = storeSecretIn(t, addr, p, logs)
		}
	})
	if t.Failed() {
		return
	}
	e.rollOut(dep)

	kr := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rotate"},
		Spec: kmv1.KeyRotationSpec{KeyManagerRef: &kmv1.LocalRef{Name: "kms"}, SecretStore: "simple"}}
	e.create(kr)
	e.phase(kr, kmv1.PhaseRollingOut)
	keys := e.keks(secret)
	e.rollOutKEK(km, dep, secret)
	e.phase(kr, kmv1.PhaseRewrapping)
	rewrap := e.rotationJob(kr, "rewrap")
	// Before the rewrap every project KEK is under the old KEK, and --verify says so.
	verifyArgs := []string{"manage", "simple-crypto", "rewrap", "--summary-file", terminationLog, "--verify"}
	if out, summary, err := exec(rewrap, verifyArgs...); err == nil || !strings.Contains(summary, `"remaining":3`) {
		t.Fatalf("--verify before the rewrap: %v, summary %q\n%s", err, summary, out)
	}
	mustRun(rewrap, rewrapsummary.Summary{Total: 3, Rewrapped: 3})
	e.phase(kr, kmv1.PhaseVerifying)
	if c := kr.Status.Counts; c == nil || *c != (kmv1.RewrapCounts{Total: 3, Rewrapped: 3}) {
		t.Errorf("counts after the rewrap: %+v", c)
	}
	mustRun(e.rotationJob(kr, "verify"), rewrapsummary.Summary{})
	e.phase(kr, kmv1.PhaseSucceeded)
	if c := kr.Status.Counts; c == nil || *c != (kmv1.RewrapCounts{Total: 3, Rewrapped: 3}) {
		t.Errorf("counts after the verification: %+v", c)
	}

	// The rolled server, given only the new KEK, reads every secret: the project KEKs are under it.
	if err := e.get(dep); err != nil {
		t.Fatal(err)
	}
	run := e.render(ns, dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0])
	kek := filepath.Join(run.root, kekFile)
	if err := os.Chmod(kek, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kek, []byte(keys[0].Encode()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kek, 0o400); err != nil {
		t.Fatal(err)
	}
	addr, logs := runServer(t, run, bin)
	for _, p := range projects {
		if got := getPayloadIn(t, addr, p, paths[p], logs); got != "hello" {
			t.Errorf("project %s's secret under the new KEK alone: %q", p, got)
		}
	}
}
