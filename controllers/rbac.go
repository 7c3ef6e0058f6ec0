// Package controllers holds the operator's reconcilers for KeyManager, HSMBackend and KeyRotation and the
// builders of the objects they own.
package controllers

// The operator's permissions, generated into config/rbac/role.yaml by `make manifests`. Least privilege:
// Secrets are read (their versions roll pods; their content is never copied), and updated for one purpose
// only: a simpleCrypto KeyRotation writes its new KEK into the KEK Secret it rotates, before the old KEKs —
// no create, patch or delete, and no other Secret is written. Pods are only listed, uncached and never
// watched, by namespace and label selector: to read the counts a rewrap Job left in its termination message,
// and, while a KeyManager's rollout is not done, to say why its server pods fail. The CRs' spec is never
// written.
//
// +kubebuilder:rbac:groups=keymanager.io,resources=keymanagers;hsmbackends;keyrotations,verbs=get;list;watch
// +kubebuilder:rbac:groups=keymanager.io,resources=keymanagers/status;hsmbackends/status;keyrotations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;update
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
