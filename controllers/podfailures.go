package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// failingWaits are the waiting reasons of a container that will not start without a change: the kubelet keeps
// retrying, but the workload's status never says why, and a StatefulSet has no progress deadline at all.
var failingWaits = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// maxLogLine bounds the log line quoted from a termination message.
const maxLogLine = 300

// serverPodFailures reads the pods the workload selects and says why the first failing one (by name) does not
// start, "" when none is failing. It is called only while a rollout is not done, through an uncached reader:
// the operator's RBAC lets it list pods but not watch them, and an informer would cache every pod of every
// namespace the operator watches for a question asked only while a rollout is stuck; a list bounded by the
// namespace and the workload's selector answers it.
func serverPodFailures(ctx context.Context, c client.Reader, namespace string, selector *metav1.LabelSelector) (string, error) {
	if selector == nil {
		return "", nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return "", fmt.Errorf("reading the workload's selector: %w", err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return "", fmt.Errorf("listing the server pods: %w", err)
	}
	return podFailureMessage(pods.Items), nil
}

// podFailureMessage names the first failing pod by name and its first failing container (init containers
// first, as they run first), and how many other pods fail:
//
//	pod kmh-1 (and 1 more): container server CrashLoopBackOff (5 restarts, last exit 1): ERROR: … Refusing to start
//
// "" when no pod fails. Pods being deleted are left out: they are on their way out whatever their state.
func podFailureMessage(pods []corev1.Pod) string {
	var first *corev1.Pod
	var failure string
	failing := 0
	for i := range pods {
		p := &pods[i]
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		f := podFailure(p)
		if f == "" {
			continue
		}
		failing++
		if first == nil || p.Name < first.Name {
			first, failure = p, f
		}
	}
	if first == nil {
		return ""
	}
	if failing > 1 {
		return fmt.Sprintf("pod %s (and %d more): %s", first.Name, failing-1, failure)
	}
	return fmt.Sprintf("pod %s: %s", first.Name, failure)
}

// podFailure describes the first failing container of pod, "" when none fails.
func podFailure(pod *corev1.Pod) string {
	for _, s := range pod.Status.InitContainerStatuses {
		if f := containerFailure(s); f != "" {
			return "init container " + s.Name + " " + f
		}
	}
	for _, s := range pod.Status.ContainerStatuses {
		if f := containerFailure(s); f != "" {
			return "container " + s.Name + " " + f
		}
	}
	return ""
}

// containerFailure says how a container fails, "" when it does not: it waits for a reason that needs a change
// (failingWaits), it exited with an error, or it runs again after exiting with one and is not ready yet. The
// last case keeps a crash-looping container failing through the moments it runs between two crashes, so that
// Degraded does not flap (and emit an Event) at every restart; it ends when the container becomes ready.
func containerFailure(s corev1.ContainerStatus) string {
	last := s.LastTerminationState.Terminated
	var what, detail string
	switch st := s.State; {
	case st.Waiting != nil && failingWaits[st.Waiting.Reason]:
		what, detail = st.Waiting.Reason, st.Waiting.Message
	case st.Terminated != nil && st.Terminated.ExitCode != 0:
		what, last = "failed", st.Terminated
	case st.Running != nil && !s.Ready && last != nil && last.ExitCode != 0:
		what = "restarting"
	default:
		return ""
	}
	var notes []string
	if s.RestartCount == 1 {
		notes = append(notes, "1 restart")
	} else if s.RestartCount > 1 {
		notes = append(notes, fmt.Sprintf("%d restarts", s.RestartCount))
	}
	if last != nil {
		exit := fmt.Sprintf("last exit %d", last.ExitCode)
		if last == s.State.Terminated {
			exit = fmt.Sprintf("exit %d", last.ExitCode)
		}
		// "Error" is the reason of every non-zero exit; others (OOMKilled, ContainerCannotRun) say more.
		if last.Reason != "" && last.Reason != "Error" && last.Reason != "Completed" {
			exit += ", " + last.Reason
		}
		notes = append(notes, exit)
		// A termination message (the end of the log, see TerminationMessageFallbackToLogsOnError) says more
		// than a waiting message ("back-off 5m0s restarting failed container").
		if line := logLine(last.Message); line != "" {
			detail = line
		}
	}
	out := what
	if len(notes) > 0 {
		out += " (" + strings.Join(notes, ", ") + ")"
	}
	if line := logLine(detail); line != "" {
		out += ": " + line
	}
	return out
}

// logLine picks one line of a termination message or kubelet message for a condition: the last line that begins
// with "ERROR:" (how `keymanager` prints the error it exits with, main.go; the error may go on over more lines,
// whose last is a less telling "… Refusing to start"), else the last non-empty line. The line loses its control
// characters and is cut to maxLogLine characters. The server never logs secrets, by policy; still only this one
// trimmed line of the log leaves the pod, into a status and an Event that more people can read than the log.
func logLine(msg string) string {
	lines := strings.Split(msg, "\n")
	pick := ""
	for _, l := range slices.Backward(lines) {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if pick == "" {
			pick = l
		}
		if strings.HasPrefix(l, "ERROR:") {
			pick = l
			break
		}
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			// Cf holds the bidirectional overrides that would make the line read otherwise than it is.
			return -1
		}
		return r
	}, pick)
	clean = strings.TrimSpace(clean)
	if utf8.RuneCountInString(clean) <= maxLogLine {
		return clean
	}
	r := []rune(clean)
	return strings.TrimSpace(string(r[:maxLogLine-1])) + "…"
}
