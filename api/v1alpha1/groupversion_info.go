// Package v1alpha1 holds the keymanager.io/v1alpha1 API: HSMBackend (one HSM or HA group and how to reach it),
// KeyManager (one Barbican-compatible key manager service) and KeyRotation (one rotation of an HSMBackend's
// master keys).
//
// +kubebuilder:object:generate=true
// +groupName=keymanager.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of these types.
var GroupVersion = schema.GroupVersion{Group: "keymanager.io", Version: "v1alpha1"}

// The API package depends on apimachinery only (not controller-runtime), so that clients can import it cheaply.
var (
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&HSMBackend{}, &HSMBackendList{},
		&KeyManager{}, &KeyManagerList{},
		&KeyRotation{}, &KeyRotationList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
