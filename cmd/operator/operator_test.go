package operator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestFlagsAndEnvironment checks the precedence default < KEYMANAGER_* < flag without starting a manager.
func TestFlagsAndEnvironment(t *testing.T) {
	t.Setenv("KEYMANAGER_NAMESPACE", "from-env")
	t.Setenv("KEYMANAGER_LEADER_ELECT", "false")
	t.Setenv("KEYMANAGER_METRICS_BIND_ADDRESS", ":9999")
	var got Config
	cmd := newCommand(func(_ *cobra.Command, cfg Config) error { got = cfg; return nil })
	cmd.SetArgs([]string{"--metrics-bind-address", "127.0.0.1:7000"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.Namespace, want.LeaderElect, want.MetricsAddr = "from-env", false, "127.0.0.1:7000"
	if got != want {
		t.Errorf("config = %+v, want %+v", got, want)
	}

	t.Setenv("KEYMANAGER_LEADER_ELECT", "maybe")
	cmd = newCommand(func(*cobra.Command, Config) error { return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "KEYMANAGER_LEADER_ELECT") {
		t.Errorf("a bad boolean in the environment gave %v, want an error naming the variable", err)
	}
}

// TestOperatorRuns starts `keymanager operator` against envtest's API server with leader election and
// checks that it becomes ready, serves metrics (including the leader-election gauge) and stops on cancel.
func TestOperatorRuns(t *testing.T) {
	cfg := testbed.StartKube(t, "../../config/crd/bases")
	kubeconfig := testbed.Kubeconfig(t, cfg, "")
	metrics, probes := testbed.LoopbackAddr(t), testbed.LoopbackAddr(t)

	root := &cobra.Command{Use: "keymanager", SilenceUsage: true}
	AddCommandTo(root)
	root.SetArgs([]string{"operator", "--kubeconfig", kubeconfig, "--leader-election-namespace", "default",
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probes, "--log-level", "warn"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	get := func(url string) (int, string) { return testbed.HTTPGet(t.Context(), url) }
	// Poll until the operator reports what the test waits for; the deadline only bounds a broken run.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("operator exited while waiting for %s: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("operator never reached: %s", what)
			}
		}
	}
	waitFor("/readyz 200", func() bool { code, _ := get("http://" + probes + "/readyz"); return code == http.StatusOK })
	if code, _ := get("http://" + probes + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d", code)
	}
	waitFor("leader", func() bool {
		_, body := get("http://" + metrics + "/metrics")
		return strings.Contains(body, `leader_election_master_status{name="`+leaderElectionID+`"} 1`)
	})

	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("operator stopped with %v", err)
	}
}
