package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// refusal is how `keymanager serve` ends when it refuses to start (main.go prints the error, which may span
// lines), as the kubelet keeps the log's tail for a container with terminationMessagePolicy FallbackToLogsOnError.
const refusal = `{"time":"2026-12-03T18:00:00Z","level":"INFO","msg":"opening the database"}
ERROR: the configured key "mkek_11": key not found. New project KEKs are wrapped and signed with these keys: generate them with
  keymanager manage hsm ensure-keys --p11-library-path /usr/lib/softhsm/libsofthsm2.so
or configure the labels of the keys on the token. Refusing to start
`

func crashLooping(name string, restarts int32, exit int32, message string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:                 name,
		RestartCount:         restarts,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=server pod=kmh-1_ns(uid)"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Reason: "Error", Message: message}},
	}
}

func running(name string, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func testPod(name string, inits []corev1.ContainerStatus, containers ...corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.PodStatus{InitContainerStatuses: inits, ContainerStatuses: containers},
	}
}

func TestPodFailureMessage(t *testing.T) {
	deleting := testPod("kmh-0", nil, crashLooping("server", 3, 1, "ERROR: old pod"))
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	restarted := running("server", false)
	restarted.RestartCount = 6
	restarted.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "ERROR: no database"}

	for name, tc := range map[string]struct {
		pods []corev1.Pod
		want string
	}{
		"no failure when every container runs": {
			pods: []corev1.Pod{testPod("kmh-0", nil, running("server", true)), testPod("kmh-1", nil, running("server", false))},
		},
		"a crash loop quotes the ERROR line of the log, not its last line": {
			pods: []corev1.Pod{testPod("kmh-0", nil, running("server", true)), testPod("kmh-1", nil, crashLooping("server", 5, 1, refusal))},
			want: `pod kmh-1: container server CrashLoopBackOff (5 restarts, last exit 1): ERROR: the configured key "mkek_11": key not found. ` +
				`New project KEKs are wrapped and signed with these keys: generate them with`,
		},
		"without an ERROR line the last line is quoted": {
			pods: []corev1.Pod{testPod("kmh-1", nil, crashLooping("server", 1, 2, "starting\npanic: boom\n\n"))},
			want: "pod kmh-1: container server CrashLoopBackOff (1 restart, last exit 2): panic: boom",
		},
		"several failing pods name the first by name and count the others": {
			pods: []corev1.Pod{
				testPod("kmh-2", nil, crashLooping("server", 2, 1, "ERROR: two")),
				testPod("kmh-1", nil, crashLooping("server", 5, 1, "ERROR: one")),
				testPod("kmh-0", nil, running("server", true)),
				testPod("kmh-3", nil, crashLooping("server", 1, 1, "ERROR: three")),
			},
			want: "pod kmh-1 (and 2 more): container server CrashLoopBackOff (5 restarts, last exit 1): ERROR: one",
		},
		"an init container that exited with an error is named before the server waiting for it": {
			pods: []corev1.Pod{testPod("kmh-0",
				[]corev1.ContainerStatus{{Name: "hsm-client", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", Message: "downloading\nERROR: the bundle's sha256 is 0badc0de, not abababab\n",
				}}}},
				corev1.ContainerStatus{Name: "server", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			)},
			want: "pod kmh-0: init container hsm-client failed (exit 1): ERROR: the bundle's sha256 is 0badc0de, not abababab",
		},
		"a crash-looping init container": {
			pods: []corev1.Pod{testPod("kmh-0", []corev1.ContainerStatus{crashLooping("hsm-client", 4, 1, "ERROR: 401 Unauthorized")})},
			want: "pod kmh-0: init container hsm-client CrashLoopBackOff (4 restarts, last exit 1): ERROR: 401 Unauthorized",
		},
		"an image that cannot be pulled quotes the kubelet's message": {
			pods: []corev1.Pod{testPod("kmh-0", nil, corev1.ContainerStatus{Name: "server", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "ImagePullBackOff", Message: `Back-off pulling image "keymanager:9.9"`,
			}}})},
			want: `pod kmh-0: container server ImagePullBackOff: Back-off pulling image "keymanager:9.9"`,
		},
		"a container that cannot be created": {
			pods: []corev1.Pod{testPod("kmh-0", nil, corev1.ContainerStatus{Name: "server", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CreateContainerConfigError", Message: `secret "db" not found`,
			}}})},
			want: `pod kmh-0: container server CreateContainerConfigError: secret "db" not found`,
		},
		"a container running again between two crashes still fails": {
			pods: []corev1.Pod{testPod("kmh-0", nil, restarted)},
			want: "pod kmh-0: container server restarting (6 restarts, last exit 1): ERROR: no database",
		},
		"an OOM kill says so": {
			pods: []corev1.Pod{testPod("kmh-0", nil, func() corev1.ContainerStatus {
				s := crashLooping("server", 2, 137, "")
				s.LastTerminationState.Terminated.Reason = "OOMKilled"
				return s
			}())},
			want: "pod kmh-0: container server CrashLoopBackOff (2 restarts, last exit 137, OOMKilled): back-off 5m0s restarting failed container=server pod=kmh-1_ns(uid)",
		},
		"a pod being deleted is left out": {
			pods: []corev1.Pod{deleting, testPod("kmh-1", nil, crashLooping("server", 1, 1, "ERROR: new pod"))},
			want: "pod kmh-1: container server CrashLoopBackOff (1 restart, last exit 1): ERROR: new pod",
		},
		"a pending container is not a failure": {
			pods: []corev1.Pod{testPod("kmh-0", nil, corev1.ContainerStatus{Name: "server", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if got := podFailureMessage(tc.pods); got != tc.want {
				t.Errorf("message\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLogLine(t *testing.T) {
	long := "ERROR: " + strings.Repeat("é", 400)
	for name, tc := range map[string]struct{ in, want string }{
		"empty":                           {"", ""},
		"blank lines only":                {"\n \n\t\n", ""},
		"control characters are dropped":  {"ERROR: a\x1b[31mred\x1b[0m\rline\x00 with\ttab", "ERROR: a[31mred[0mline with tab"},
		"bidi overrides are dropped":      {"ERROR: evil\u202egnp.exe", "ERROR: evilgnp.exe"},
		"invalid UTF-8 is dropped":        {"ERROR: bad \xff byte", "ERROR: bad  byte"},
		"the last ERROR line wins":        {"ERROR: first\nERROR: second\ntail", "ERROR: second"},
		"surrounding space is trimmed":    {"  last line  \n", "last line"},
		"long lines are cut to the limit": {long + "\n", "ERROR: " + strings.Repeat("é", maxLogLine-8) + "…"},
	} {
		t.Run(name, func(t *testing.T) {
			got := logLine(tc.in)
			if got != tc.want {
				t.Errorf("logLine(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if n := len([]rune(got)); n > maxLogLine {
				t.Errorf("%d characters, more than %d", n, maxLogLine)
			}
		})
	}
}

func BenchmarkPodFailureMessage(b *testing.B) {
	pods := []corev1.Pod{
		testPod("kmh-0", nil, running("server", true)),
		testPod("kmh-1", nil, crashLooping("server", 5, 1, strings.Repeat(`{"level":"INFO","msg":"starting"}`+"\n", 60)+refusal)),
		testPod("kmh-2", []corev1.ContainerStatus{crashLooping("hsm-client", 4, 1, "ERROR: 401 Unauthorized")}),
	}
	for b.Loop() {
		if podFailureMessage(pods) == "" {
			b.Fatal("no failure found")
		}
	}
}
