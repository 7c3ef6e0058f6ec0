// Package controllers holds the operator's reconcilers for KeyManager, HSMBackend and KeyRotation and the
// builders of the objects they own.
package controllers

// The operator's permissions, generated into config/rbac/role.yaml by `make manifests`. Least privilege:
// Secrets are only read (hashed to roll pods, never copied), the CRs' spec is never written.
//
// +kubebuilder:rbac:groups=keymanager.io,resources=keymanagers;hsmbackends;keyrotations,verbs=get;list;watch
// +kubebuilder:rbac:groups=keymanager.io,resources=keymanagers/status;hsmbackends/status;keyrotations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
