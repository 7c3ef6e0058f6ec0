package controllers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// serverPod creates pod name of workload w as its controller would (the template's labels and spec, owned by
// w) and writes the status the kubelet would report: the given init container and container statuses.
func (e *env) serverPod(w *appsv1.StatefulSet, name string, inits []corev1.ContainerStatus, containers ...corev1.ContainerStatus) *corev1.Pod {
	e.t.Helper()
	if err := e.get(w); err != nil {
		e.t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.Namespace, Labels: w.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(w, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
		Spec: *w.Spec.Template.Spec.DeepCopy(),
	}
	e.create(pod)
	e.podStatus(pod, inits, containers...)
	return pod
}

// podStatus writes pod's status through the status subresource, as the kubelet does.
func (e *env) podStatus(pod *corev1.Pod, inits []corev1.ContainerStatus, containers ...corev1.ContainerStatus) {
	e.t.Helper()
	if err := e.get(pod); err != nil {
		e.t.Fatal(err)
	}
	image := func(list []corev1.Container, name string) string {
		for _, c := range list {
			if c.Name == name {
				return c.Image
			}
		}
		e.t.Fatalf("pod %s has no container %s", pod.Name, name)
		return ""
	}
	for i := range inits {
		inits[i].Image, inits[i].ImageID = image(pod.Spec.InitContainers, inits[i].Name), "sha256:0"
	}
	for i := range containers {
		containers[i].Image, containers[i].ImageID = image(pod.Spec.Containers, containers[i].Name), "sha256:0"
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: inits, ContainerStatuses: containers}
	if err := e.c.Status().Update(e.t.Context(), pod); err != nil {
		e.t.Fatalf("writing the status of pod %s: %v", pod.Name, err)
	}
}

// TestServerPodFailures plays the case seen on a real cluster: during a key rotation the restarted server of
// a pkcs11 KeyManager refuses to start and crash-loops. The KeyManager is Degraded at once with the pod's own
// words, the rotation says what it waits for without failing, and both recover once the pod does.
func TestServerPodFailures(t *testing.T) {
	// The pods are read again every second rather than every 30: the test waits for the operator to notice
	// a pod status it wrote, and nothing the operator watches changes meanwhile.
	e := startOperatorWith(t, Options{PodCheckInterval: time.Second})
	ns := e.namespace()
	e.secret(ns, "db", map[string]string{"username": "u", "password": "p"})
	e.secret(ns, "hsm-pin", map[string]string{"pin": "1234"})
	b := newHSMBackend(ns, "proteccio", func(s *kmv1.HSMBackendSpec) {
		s.Client = &kmv1.HSMClient{Image: &kmv1.HSMClientImage{Image: "proteccio-client:3.17", Path: "/opt/tw_proteccio"}}
	})
	e.create(b)
	km := newKeyManager(ns, "kmh", func(s *kmv1.KeyManagerSpec) {
		s.Replicas, s.Workers, s.SecretStores = ptr.To[int32](2), ptr.To[int32](4), hsmStore("proteccio")
	})
	sts := e.readyHSMKeyManager(b, km)

	kr := &kmv1.KeyRotation{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rotate"},
		Spec: kmv1.KeyRotationSpec{HSMBackendRef: &kmv1.LocalRef{Name: "proteccio"}}}
	e.create(kr)
	e.finishJob(e.rotationJob(kr, "generate-keys"), true, "")
	e.phase(kr, kmv1.PhaseRollingOut)
	e.kmCondition(km, kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonRollingOut)
	e.eventually("the rotation waits for the rollout", func() bool {
		return e.get(kr) == nil && kr.Status.Message == "waiting for KeyManager kmh to roll out"
	})

	// The StatefulSet replaced kmh-1 first; its server refuses to start against the new keys and crash-loops,
	// while kmh-0 still serves.
	e.serverPod(sts, "kmh-0", []corev1.ContainerStatus{completed("hsm-client")}, running("server", true))
	logTail := `{"level":"INFO","msg":"opening the HSM","mkek":"barbican_mkek_1"}` + "\n" +
		"ERROR: the HSM does not unwrap 2 of 2 sampled p11_crypto project KEKs (kek_data ids 7, 9): CKR_KEY_HANDLE_INVALID. " +
		"Check the token selection. Refusing to start\n"
	crash := e.serverPod(sts, "kmh-1", []corev1.ContainerStatus{completed("hsm-client")}, crashLooping("server", 5, 1, logTail))
	want := "pod kmh-1: container server CrashLoopBackOff (5 restarts, last exit 1): ERROR: the HSM does not unwrap 2 of 2 " +
		"sampled p11_crypto project KEKs (kek_data ids 7, 9): CKR_KEY_HANDLE_INVALID. Check the token selection. Refusing to start"

	deg := e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionTrue, kmv1.ReasonPodsFailing)
	if deg.Message != want {
		t.Errorf("Degraded message\n got %q\nwant %q", deg.Message, want)
	}
	if ready := e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonPodsFailing); ready.Message != want {
		t.Errorf("Ready message %q, want the Degraded one", ready.Message)
	}
	// Failing pods are not a finished rollout: the rollout still progresses (or not) by its own rules.
	e.kmCondition(km, kmv1.ConditionProgressing, metav1.ConditionTrue, kmv1.ReasonRollingOut)
	e.waitEvent(km, "Warning PodsFailing: Degraded is True (was False): "+want)
	e.eventually("the rotation says why it waits", func() bool {
		return e.get(kr) == nil && kr.Status.Message == "waiting for KeyManager kmh to roll out: "+want
	})
	if kr.Status.Phase != kmv1.PhaseRollingOut {
		t.Fatalf("failing pods moved the rotation to %s; it must wait in RollingOut", kr.Status.Phase)
	}
	if c := findCondition(kr.Status.Conditions, kmv1.ConditionReady); c.Reason != kmv1.ReasonRotationInProgress || !strings.HasSuffix(c.Message, want) {
		t.Errorf("rotation Ready %s %q", c.Reason, c.Message)
	}

	// Once the cause is fixed the pod runs and becomes ready: the KeyManager is no longer Degraded, and the
	// rotation waits for the rest of the rollout in plain words.
	e.podStatus(crash, []corev1.ContainerStatus{completed("hsm-client")}, running("server", true))
	e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionFalse, kmv1.ReasonAsExpected)
	e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionFalse, kmv1.ReasonRollingOut)
	e.waitEvent(km, "Normal AsExpected: Degraded is False (was True)")
	e.eventually("the rotation waits without a cause", func() bool {
		return e.get(kr) == nil && kr.Status.Message == "waiting for KeyManager kmh to roll out"
	})

	// A failing init container (the client copy) is reported the same way, and a deleted pod no longer is.
	if err := e.c.Delete(e.t.Context(), crash); err != nil {
		t.Fatal(err)
	}
	bad := e.serverPod(sts, "kmh-2", []corev1.ContainerStatus{{Name: "hsm-client", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 1, Reason: "Error", Message: "cp: cannot stat '/opt/tw_proteccio/.': No such file or directory\n",
	}}}}, corev1.ContainerStatus{Name: "server", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}})
	deg = e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionTrue, kmv1.ReasonPodsFailing)
	if want := "pod kmh-2: init container hsm-client failed (exit 1): cp: cannot stat '/opt/tw_proteccio/.': No such file or directory"; deg.Message != want {
		t.Errorf("Degraded message\n got %q\nwant %q", deg.Message, want)
	}
	if err := e.c.Delete(e.t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	e.kmCondition(km, kmv1.ConditionDegraded, metav1.ConditionFalse, kmv1.ReasonAsExpected)

	// The rollout finishes and the rotation goes on.
	e.rollOut(sts)
	e.kmCondition(km, kmv1.ConditionReady, metav1.ConditionTrue, kmv1.ReasonAvailable)
	e.phase(kr, kmv1.PhaseRewrapping)
}

func completed(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: true, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}
}
