// Package operator is the `keymanager operator` command: the controller manager that runs KeyManagers,
// HSMBackends and KeyRotations.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keymanager-io/keymanager/controllers"
	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
)

// Config is the operator's command-line configuration.
type Config struct {
	Kubeconfig              string
	MetricsAddr             string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	Namespace               string
	LogLevel                string
	LogFormat               string
	JobImage                string
}

func defaults() Config {
	return Config{
		MetricsAddr: ":8080",
		ProbeAddr:   ":8081",
		LeaderElect: true,
		LogLevel:    "info",
		LogFormat:   "json",
	}
}

// AddCommandTo adds `operator` to parent.
func AddCommandTo(parent *cobra.Command) {
	parent.AddCommand(newCommand(run))
}

// newCommand builds the command around run, so that tests can check flag and environment handling without
// starting a manager.
func newCommand(run func(cmd *cobra.Command, cfg Config) error) *cobra.Command {
	cfg := defaults()
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Run the Kubernetes operator for KeyManager, HSMBackend and KeyRotation",
		Long: `Run the controller manager of the keymanager.io API.

KeyManager deploys a Barbican-compatible key manager: a ConfigMap of non-secret settings, a Deployment whose pods
roll when that configuration or a referenced Secret changes, a Service, a PodDisruptionBudget, a ServiceAccount and
the database migration Job. HSMBackend describes an HSM; the operator shares its connection limit among the
KeyManagers that use it (their workers are capped and passed to each pod as --hsm-max-sessions) and generates its
master keys. KeyRotation rotates an HSMBackend's master keys and rewraps the project keys.

Several replicas of the operator may run: with --leader-elect (the default) one of them reconciles. The manager
serves Prometheus metrics on --metrics-bind-address (plain HTTP: restrict it with a NetworkPolicy) and the
probes /healthz and /readyz on --health-probe-bind-address.

Every flag can also be set by an environment variable: --namespace is KEYMANAGER_NAMESPACE, and so on.`,
		Example: `  keymanager operator                                # in cluster, all namespaces
  keymanager operator --kubeconfig ~/.kube/config --leader-elect=false --namespace kms`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return config.ApplyEnv(cmd.Flags(), os.LookupEnv)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd, cfg) },
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "kubeconfig file (default: in-cluster configuration, then $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-bind-address", cfg.MetricsAddr, "address of the Prometheus /metrics endpoint; 0 disables it")
	fs.StringVar(&cfg.ProbeAddr, "health-probe-bind-address", cfg.ProbeAddr, "address of the /healthz and /readyz probes; 0 disables them")
	fs.BoolVar(&cfg.LeaderElect, "leader-elect", cfg.LeaderElect, "elect one active replica through a Lease, so that several operator replicas can run")
	fs.StringVar(&cfg.LeaderElectionNamespace, "leader-election-namespace", cfg.LeaderElectionNamespace, "namespace of the leader-election Lease (default: the operator's own namespace)")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "watch only this namespace (default: all namespaces)")
	fs.StringVar(&cfg.JobImage, "job-image", cfg.JobImage, "image of the HSM Jobs (ensure-keys, key rotation, rewrap); default: the image of a KeyManager that uses the HSMBackend")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "json or text")
	return cmd
}

// leaderElectionID names the Lease; it is shared by every replica of the operator.
const leaderElectionID = "keymanager-operator.keymanager.io"

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("finding the Kubernetes API server (in cluster, $KUBECONFIG or ~/.kube/config): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading --kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

func run(cmd *cobra.Command, cfg Config) error {
	slogger, err := server.NewLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	log := logr.FromSlogHandler(slogger.Handler())
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	restCfg, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := newManager(restCfg, cfg)
	if err != nil {
		return err
	}
	// SIGTERM (the kubelet stopping the pod) cancels the manager, which then releases the Lease at once.
	// main always passes a context, so the signals must be added to it rather than replace it.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("Starting operator", "version", server.Version, "namespace", cfg.Namespace, "leaderElection", cfg.LeaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the controller manager: %w", err)
	}
	return nil
}

func newManager(restCfg *rest.Config, cfg Config) (ctrl.Manager, error) {
	scheme, err := controllers.NewScheme()
	if err != nil {
		return nil, err
	}
	opts := ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: cfg.MetricsAddr},
		HealthProbeBindAddress:  cfg.ProbeAddr,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		// Stepping down on a lost lease lets a new leader start at once instead of after the lease expires.
		LeaderElectionReleaseOnCancel: true,
	}
	if cfg.Namespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{cfg.Namespace: {}}}
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := controllers.Setup(context.Background(), mgr, controllers.Options{JobImage: cfg.JobImage}); err != nil {
		return nil, err
	}
	if cfg.ProbeAddr != "0" {
		if err := errors.Join(
			mgr.AddHealthzCheck("ping", healthz.Ping),
			// Ready once the caches are synced: a replica that cannot read the API server is not ready.
			mgr.AddReadyzCheck("caches", func(r *http.Request) error {
				if !mgr.GetCache().WaitForCacheSync(r.Context()) {
					return errors.New("caches not synced")
				}
				return nil
			}),
		); err != nil {
			return nil, fmt.Errorf("adding health checks: %w", err)
		}
	}
	return mgr, nil
}
