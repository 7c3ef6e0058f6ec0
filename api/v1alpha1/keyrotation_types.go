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
	// PhaseGeneratingKeys runs the Job that checks or generates the new MKEK and HMAC key, or writes a new
	// simpleCrypto KEK into the KEK Secret.
	PhaseGeneratingKeys RotationPhase = "GeneratingKeys"
	// PhaseRollingOut has switched the backend's active labels (or the KEK) and waits for every KeyManager
	// using it.
	PhaseRollingOut RotationPhase = "RollingOut"
	// PhaseRewrapping runs the Job that rewraps project keys with the new keys (rewrap-pkek, or
	// simple-crypto rewrap).
	PhaseRewrapping RotationPhase = "Rewrapping"
	// PhaseVerifying checks that no project key is still wrapped with the old keys.
	PhaseVerifying RotationPhase = "Verifying"
	// PhaseSucceeded is final: every project key uses the new keys. The old keys are kept (in the HSM, or
	// after the new KEK in the KEK Secret).
	PhaseSucceeded RotationPhase = "Succeeded"
	// PhaseFailed is final; status.message and the Failed condition say why.
	PhaseFailed RotationPhase = "Failed"
)

// KeyRotationSpec says what to rotate: an HSMBackend's MKEK and HMAC key, or the KEK of a KeyManager's
// simpleCrypto store. It is immutable: create a new KeyRotation for another rotation.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new KeyRotation instead"
// +kubebuilder:validation:XValidation:rule="has(self.hsmBackendRef) != has(self.keyManagerRef)",message="exactly one of hsmBackendRef or keyManagerRef must be set"
// +kubebuilder:validation:XValidation:rule="has(self.keyManagerRef) == has(self.secretStore)",message="secretStore names the simpleCrypto store of keyManagerRef: set both or neither"
// +kubebuilder:validation:XValidation:rule="!has(self.keyManagerRef) || (!has(self.newMKEKLabel) && !has(self.newHMACLabel))",message="newMKEKLabel and newHMACLabel apply to an hsmBackendRef rotation only"
type KeyRotationSpec struct {
	// hsmBackendRef names the HSMBackend whose MKEK and HMAC key are rotated.
	// +optional
	HSMBackendRef *LocalRef `json:"hsmBackendRef,omitempty"`

	// keyManagerRef names the KeyManager whose simpleCrypto KEK is rotated (with secretStore). The operator
	// writes a new KEK into its KEK Secret before the old ones, which stay for decryption; every KeyManager
	// using that Secret key rolls, and each of their databases is rewrapped.
	// +optional
	KeyManagerRef *LocalRef `json:"keyManagerRef,omitempty"`

	// secretStore is the name of keyManagerRef's simpleCrypto secret store.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_]{0,30}[a-z0-9])?$`
	// +optional
	SecretStore string `json:"secretStore,omitempty"`

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

	// dryRun reports how many project keys would be rewrapped and changes nothing: no keys are generated,
	// the active labels stay and no KEK is written.
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

	// kek is the simpleCrypto KEK Secret a keyManagerRef rotation writes its new KEK into.
	// +optional
	KEK *KEKRotationStatus `json:"kek,omitempty"`

	// counts are the project keys the rotation's Jobs reported, summed over the databases: from the rewrap
	// Jobs, with remaining from the verify Jobs once they ended; in a dry run, what would be rewrapped. Absent
	// when a Job left no readable summary.
	// +optional
	Counts *RewrapCounts `json:"counts,omitempty"`
}

// KEKRotationStatus names the KEK Secret of a simpleCrypto rotation. It never holds key material or a
// digest of it.
type KEKRotationStatus struct {
	// secretName is the Secret holding the KEKs.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// key is the Secret's key holding them, one per line, the first active.
	// +optional
	Key string `json:"key,omitempty"`

	// keys is how many KEKs the Secret holds once the new one is written: the new one first, then every
	// old one, kept for decryption.
	// +optional
	Keys int32 `json:"keys,omitempty"`

	// keyManagers are the KeyManagers that use this Secret key: each rolls, and each database is rewrapped.
	// +listType=set
	// +optional
	KeyManagers []string `json:"keyManagers,omitempty"`
}

// RewrapCounts counts project keys (kek_data rows).
type RewrapCounts struct {
	// total is how many project keys were not under the new keys when the rewrap started.
	// +optional
	Total int64 `json:"total"`

	// rewrapped is how many were moved under the new keys (in a dry run: checked, and would be moved).
	// +optional
	Rewrapped int64 `json:"rewrapped"`

	// failed is how many could not be rewrapped.
	// +optional
	Failed int64 `json:"failed"`

	// remaining is how many were still under old keys when the last Job ended: 0 once Succeeded (in a dry
	// run: how many a rotation would rewrap).
	// +optional
	Remaining int64 `json:"remaining"`
}

// KeyRotation is one rotation of an HSMBackend's MKEK and HMAC key, or of a KeyManager's simpleCrypto KEK:
// generate new keys, switch the servers to them, rewrap every project key and verify. Old keys are never
// deleted.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kr;krs,categories=keymanager-all
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.hsmBackendRef.name`
// +kubebuilder:printcolumn:name="KeyManager",type=string,JSONPath=`.spec.keyManagerRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="New MKEK",type=string,JSONPath=`.status.newKeys.mkekLabel`
// +kubebuilder:printcolumn:name="Rewrapped",type=integer,JSONPath=`.status.counts.rewrapped`
// +kubebuilder:printcolumn:name="Remaining",type=integer,priority=1,JSONPath=`.status.counts.remaining`
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
