package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// NewScheme returns a scheme with the core Kubernetes kinds and the keymanager.io kinds.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding Kubernetes kinds to the scheme: %w", err)
	}
	if err := kmv1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding keymanager.io kinds to the scheme: %w", err)
	}
	return s, nil
}

// Options configure the reconcilers.
type Options struct {
	// JobImage runs the HSM Jobs (ensure-keys, rotation, rewrap); empty means the image of a KeyManager
	// that uses the backend.
	JobImage string
	// PodCheckInterval is how often the server pods of a KeyManager whose rollout is not done are read again,
	// to say why they fail; zero means 30 s.
	PodCheckInterval time.Duration
}

// Setup registers the field indexes and the reconcilers of every keymanager.io kind with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if err := addIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("adding field indexes: %w", err)
	}
	rec := mgr.GetEventRecorder(managedBy)
	if err := (&KeyManagerReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: rec,
		PodCheckInterval: opts.PodCheckInterval}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the KeyManager controller: %w", err)
	}
	if err := (&HSMBackendReconciler{Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: rec, JobImage: opts.JobImage}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the HSMBackend controller: %w", err)
	}
	if err := (&KeyRotationReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: rec, JobImage: opts.JobImage}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the KeyRotation controller: %w", err)
	}
	return nil
}
