package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RotationPhase is where a KeyRotation is.
// +kubebuilder:validation:Enum=Pending;GeneratingKeys;RollingOut;Rewrapping;Verifying;Succeeded;Failed
type RotationPhase string

const (
	// PhasePending waits for the target to exist and for other rotations of the same backend to finish.
	PhasePending RotationPhase = "Pending"
	// PhaseGeneratingKeys runs the Job that checks or generates the new MKEK and HMAC key.
	PhaseGeneratingKeys RotationPhase = "GeneratingKeys"
	// PhaseRollingOut has switched the backend's active labels and waits for every KeyManager using it.
	PhaseRollingOut RotationPhase = "RollingOut"
	// PhaseRewrapping runs the rewrap-pkek Job that rewraps project keys with the new keys.
	PhaseRewrapping RotationPhase = "Rewrapping"
	// PhaseVerifying checks that no project key is still wrapped with the old labels.
	PhaseVerifying RotationPhase = "Verifying"
	// PhaseSucceeded is final: every project key uses the new labels. The old keys are kept in the HSM.
	PhaseSucceeded RotationPhase = "Succeeded"
	// PhaseFailed is final; status.message and the Failed condition say why.
	PhaseFailed RotationPhase = "Failed"
)

// KeyRotationSpec says what to rotate. It is immutable: create a new KeyRotation for another rotation.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new KeyRotation instead"
type KeyRotationSpec struct {
	// hsmBackendRef names the HSMBackend whose MKEK and HMAC key are rotated.
	// +required
	HSMBackendRef LocalRef `json:"hsmBackendRef"`

	// newMKEKLabel is the label of the new MKEK. Default: the active label with its trailing number
	// incremented (barbican_mkek_10 becomes barbican_mkek_11, a label without a number gets _1).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	NewMKEKLabel string `json:"newMKEKLabel,omitempty"`

	// newHMACLabel is the label of the new HMAC key, defaulted like newMKEKLabel.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	NewHMACLabel string `json:"newHMACLabel,omitempty"`

	// dryRun reports how many project keys would be rewrapped and changes nothing: no keys are generated
	// and the active labels stay.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// LocalRef names an object in the same namespace.
type LocalRef struct {
	// name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// KeyRotationStatus is the rotation's progress.
type KeyRotationStatus struct {
	// observedGeneration is the generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is where the rotation is.
	// +optional
	Phase RotationPhase `json:"phase,omitempty"`

	// message explains the phase, in particular why a rotation failed.
	// +optional
	Message string `json:"message,omitempty"`

	// conditions: Ready (True once Succeeded).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// oldKeys are the labels active before the rotation; the keys stay in the HSM.
	// +optional
	OldKeys *ActiveKeys `json:"oldKeys,omitempty"`

	// newKeys are the labels the rotation moves to.
	// +optional
	NewKeys *ActiveKeys `json:"newKeys,omitempty"`

	// startTime is when the rotation left Pending.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when it reached Succeeded or Failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// KeyRotation is one rotation of an HSMBackend's MKEK and HMAC key: generate new keys, switch the servers
// to them, rewrap every project key and verify. Old keys are never deleted.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kr;krs,categories=keymanager-all
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.hsmBackendRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="New MKEK",type=string,JSONPath=`.status.newKeys.mkekLabel`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KeyRotation struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec says what to rotate; immutable.
	// +required
	Spec KeyRotationSpec `json:"spec"`

	// status is the rotation's progress.
	// +optional
	Status KeyRotationStatus `json:"status,omitzero"`
}

// KeyRotationList is a list of KeyRotations.
// +kubebuilder:object:root=true
type KeyRotationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []KeyRotation `json:"items"`
}
