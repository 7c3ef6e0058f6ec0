package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HSMVendor names an HSM family. Each has a profile of defaults (library path, HMAC key type and keygen
// mechanism, encryption mechanism, connection limit) that the spec can override.
// +kubebuilder:validation:Enum=proteccio;luna;nshield;softhsm;generic
type HSMVendor string

const (
	// VendorProteccio is Atos/Eviden Proteccio netHSM (libnethsm.so, proteccio.rc).
	VendorProteccio HSMVendor = "proteccio"
	// VendorLuna is Thales Luna Network HSM (libCryptoki2, Chrystoki.conf).
	VendorLuna HSMVendor = "luna"
	// VendorNShield is Entrust nShield Connect (libcknfast.so, cknfastrc, Security World data).
	VendorNShield HSMVendor = "nshield"
	// VendorSoftHSM is SoftHSM2, for development and tests only.
	VendorSoftHSM HSMVendor = "softhsm"
	// VendorGeneric is any other PKCS#11 module: nothing is defaulted, libraryPath is required.
	VendorGeneric HSMVendor = "generic"
)

// HSMBackendSpec describes one HSM (or HA group of HSMs) and how the key manager reaches it.
// +kubebuilder:validation:XValidation:rule="self.vendor != 'generic' || has(self.libraryPath)",message="libraryPath is required for vendor generic"
// +kubebuilder:validation:XValidation:rule="self.vendor != 'generic' || has(self.maxConnections)",message="maxConnections is required for vendor generic: no profile knows the HSM's connection limit"
// +kubebuilder:validation:XValidation:rule="!has(self.softHSM) || self.vendor == 'softhsm'",message="softHSM is for vendor softhsm only"
type HSMBackendSpec struct {
	// vendor selects the HSM family and with it the defaults of the library path, the mechanisms and
	// maxConnections: proteccio, luna, nshield, softhsm (development only) or generic.
	// +required
	Vendor HSMVendor `json:"vendor"`

	// libraryPath is the PKCS#11 module inside the server container. Defaults to the vendor's usual path
	// (for example /opt/tw_proteccio/lib/libnethsm.so for proteccio); required for generic.
	// +kubebuilder:validation:Pattern=`^/`
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	LibraryPath string `json:"libraryPath,omitempty"`

	// maxConnections is how many PKCS#11 sessions the HSM (or HA group) accepts from this client
	// identity at once. The operator caps the workers of every KeyManager using this backend so that
	// their pods, a rolling update and the reserved Job sessions together never exceed it. Defaults to the
	// vendor profile's limit (proteccio: 32); required for generic.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxConnections *int32 `json:"maxConnections,omitempty"`

	// reservedSessions is how many of maxConnections are kept for the operator's Jobs (ensure-keys,
	// rewrap) so that they can run beside a full deployment.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ReservedSessions *int32 `json:"reservedSessions,omitempty"`

	// token selects the token (partition, HA group) to log in to: exactly one of serialNumber, labels or
	// slotID.
	// +required
	Token TokenSelector `json:"token"`

	// loginPINSecretRef names the key of a Secret in this namespace that holds the crypto-user PIN. The
	// PIN reaches the pods as the KEYMANAGER_P11_PIN environment variable from this Secret; it is never
	// copied into a ConfigMap, a status or an event.
	// +required
	LoginPINSecretRef corev1.SecretKeySelector `json:"loginPINSecretRef"`

	// masterKeys are the names, sizes and mechanisms of the master keys. The labels are the initial ones
	// and cannot be changed here: a KeyRotation generates new keys and reports the active labels in
	// status.activeKeys.
	// +kubebuilder:default={mkekLabel: barbican_mkek_0, mkekLength: 32, hmacLabel: barbican_hmac_0}
	// +optional
	MasterKeys MasterKeys `json:"masterKeys,omitzero"`

	// servers are the HSMs of an HA group (or the one HSM), used to render the vendor client
	// configuration (Luna Chrystoki.conf, Proteccio proteccio.rc, nShield cknfastrc).
	// +listType=map
	// +listMapKey=address
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Servers []HSMServer `json:"servers,omitempty"`

	// clientCertificateSecretRef names a kubernetes.io/tls Secret with this client's certificate and key,
	// for vendors whose client authenticates with TLS (luna, proteccio).
	// +optional
	ClientCertificateSecretRef *corev1.LocalObjectReference `json:"clientCertificateSecretRef,omitempty"`

	// client says where the vendor's PKCS#11 client software comes from. Not needed for softhsm when
	// the server image contains SoftHSM2.
	// +optional
	Client *HSMClient `json:"client,omitempty"`

	// securityWorldSecretRef names a Secret with the nShield Security World data (the kmdata/local
	// files), mounted into the pods. nshield only.
	// +optional
	SecurityWorldSecretRef *corev1.LocalObjectReference `json:"securityWorldSecretRef,omitempty"`

	// softHSM says where SoftHSM2 keeps its tokens, so that every server pod and Job of the backend sees the
	// same token. softhsm only; without it the pods use the token store built into the image.
	// +optional
	SoftHSM *SoftHSMStore `json:"softHSM,omitempty"`
}

// SoftHSMStore is SoftHSM2's token store on a volume the backend's pods share.
type SoftHSMStore struct {
	// tokenClaimName names a PersistentVolumeClaim in this namespace that holds SoftHSM2's token directory
	// (directories.tokendir). It is mounted read-write into every server pod and Job of the backend, so it
	// must be ReadWriteMany, or ReadWriteOnce with every pod on one node, and its files writable by the
	// pods' user (uid and gid 65532).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	TokenClaimName string `json:"tokenClaimName"`
}

// TokenSelector picks a token. Precedence in the server is serialNumber, labels, slotID; the schema allows
// exactly one so that a spec never means something other than it reads.
// +kubebuilder:validation:XValidation:rule="(has(self.serialNumber) ? 1 : 0) + (has(self.labels) ? 1 : 0) + (has(self.slotID) ? 1 : 0) == 1",message="exactly one of serialNumber, labels or slotID must be set"
type TokenSelector struct {
	// serialNumber is the token's serial number (CK_TOKEN_INFO serialNumber).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16
	// +optional
	SerialNumber string `json:"serialNumber,omitempty"`

	// labels are token labels; the first token with one of them is used (a Luna HA group label, a
	// Proteccio partition name, an nShield card set name).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	// +listType=atomic
	// +optional
	Labels []string `json:"labels,omitempty"`

	// slotID is the PKCS#11 slot number.
	// +kubebuilder:validation:Minimum=0
	// +optional
	SlotID *int64 `json:"slotID,omitempty"`
}

// MasterKeys are the master key settings. Mechanism fields left empty take the vendor profile's value.
// +kubebuilder:validation:XValidation:rule="self.mkekLabel != self.hmacLabel",message="mkekLabel and hmacLabel must differ"
type MasterKeys struct {
	// mkekLabel is the CKA_LABEL of the initial master key-encryption key (MKEK). Immutable: rotate it with a
	// KeyRotation, which reports the new active label in status.activeKeys.
	// +kubebuilder:default=barbican_mkek_0
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="mkekLabel is immutable: create a KeyRotation to move to a new MKEK"
	// +optional
	MKEKLabel string `json:"mkekLabel,omitempty"`

	// mkekLength is the MKEK size in bytes (AES-128, -192 or -256).
	// +kubebuilder:default=32
	// +kubebuilder:validation:Enum=16;24;32
	// +optional
	MKEKLength int32 `json:"mkekLength,omitempty"`

	// hmacLabel is the CKA_LABEL of the initial HMAC key that signs wrapped project keys. Immutable: rotate
	// it with a KeyRotation.
	// +kubebuilder:default=barbican_hmac_0
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="hmacLabel is immutable: create a KeyRotation to move to a new HMAC key"
	// +optional
	HMACLabel string `json:"hmacLabel,omitempty"`

	// hmacKeyType is the PKCS#11 key type of the HMAC key, e.g. CKK_GENERIC_SECRET (proteccio, luna),
	// CKK_SHA256_HMAC (nshield); CKK_AES for Luna keys that TripleO generated.
	// +kubebuilder:validation:Pattern=`^CKK_[A-Z0-9_]+$`
	// +optional
	HMACKeyType string `json:"hmacKeyType,omitempty"`

	// hmacKeygenMechanism generates the HMAC key, e.g. CKM_GENERIC_SECRET_KEY_GEN.
	// +kubebuilder:validation:Pattern=`^CKM_[A-Z0-9_]+$`
	// +optional
	HMACKeygenMechanism string `json:"hmacKeygenMechanism,omitempty"`

	// hmacMechanism signs with the HMAC key, e.g. CKM_SHA256_HMAC.
	// +kubebuilder:validation:Pattern=`^CKM_[A-Z0-9_]+$`
	// +optional
	HMACMechanism string `json:"hmacMechanism,omitempty"`

	// encryptionMechanism encrypts secrets with project keys: CKM_AES_CBC or CKM_AES_GCM.
	// +kubebuilder:validation:Enum=CKM_AES_CBC;CKM_AES_GCM
	// +optional
	EncryptionMechanism string `json:"encryptionMechanism,omitempty"`

	// keyWrapMechanism wraps project keys with the MKEK, e.g. CKM_AES_CBC_PAD or CKM_AES_KEY_WRAP_KWP.
	// +kubebuilder:validation:Pattern=`^CKM_[A-Z0-9_]+$`
	// +optional
	KeyWrapMechanism string `json:"keyWrapMechanism,omitempty"`

	// aesGCMGenerateIV generates GCM IVs on the host when true; false lets the HSM generate them (the luna
	// profile's default; FIPS-mode tokens require it).
	// +optional
	AESGCMGenerateIV *bool `json:"aesGCMGenerateIV,omitempty"`
}

// HSMServer is one HSM of the group.
type HSMServer struct {
	// address is the HSM's host name or IP address.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Address string `json:"address"`

	// port is the HSM's service port; the vendor's default when unset.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`

	// certificateSecretRef names a Secret whose ca.crt is the HSM's server certificate (for luna, the first
	// server's ca.crt is the one CA file of the client and holds every appliance's certificate).
	// +optional
	CertificateSecretRef *corev1.LocalObjectReference `json:"certificateSecretRef,omitempty"`

	// partition is the Luna partition serial number or name on this HSM, used to build the HA group.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Partition string `json:"partition,omitempty"`
}

// HSMClient is the vendor client software: exactly one of image or bundle.
// +kubebuilder:validation:XValidation:rule="has(self.image) != has(self.bundle)",message="exactly one of image or bundle must be set"
type HSMClient struct {
	// image is a container image that contains the vendor client under path; an init container copies it
	// into a volume shared with the server container.
	// +optional
	Image *HSMClientImage `json:"image,omitempty"`

	// bundle is the vendor's client archive, downloaded over HTTPS, verified against sha256 and unpacked by
	// `keymanager manage hsm-client install` in an init container.
	// +optional
	Bundle *HSMClientBundle `json:"bundle,omitempty"`
}

// HSMClientImage is an image holding the vendor client.
type HSMClientImage struct {
	// image is the image reference, preferably by digest.
	// +kubebuilder:validation:MinLength=1
	// +required
	Image string `json:"image"`

	// path is the directory inside the image to copy.
	// +kubebuilder:default=/opt/hsm-client
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`
}

// HSMClientBundle is a downloadable client archive.
type HSMClientBundle struct {
	// url is the HTTPS address of the archive.
	// +kubebuilder:validation:Pattern=`^https://`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// sha256 is the archive's SHA-256 digest in lower-case hex; the install fails on any other content.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	// +required
	SHA256 string `json:"sha256"`

	// format is the archive format: tar.gz, zip, or iso for an ISO 9660 image as vendors ship their clients
	// (Rock Ridge names, modes and symbolic links; Joliet or plain ISO 9660 names without Rock Ridge).
	// +kubebuilder:validation:Enum=tar.gz;zip;iso
	// +required
	Format string `json:"format"`

	// credentialsSecretRef names a Secret with username and password keys for HTTP basic auth.
	// +optional
	CredentialsSecretRef *corev1.LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// caSecretRef names the key of a Secret holding the PEM certificate of the CA that signed the download
	// server's certificate, for a server with a private CA. Default: the image's system CAs.
	// +optional
	CASecretRef *corev1.SecretKeySelector `json:"caSecretRef,omitempty"`
}

// HSMBackendStatus is what the operator observed and decided for the backend.
type HSMBackendStatus struct {
	// observedGeneration is the generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, KeysReady, ConnectionsAllocated.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// activeKeys are the labels the servers use now: spec.masterKeys until a KeyRotation switches them.
	// +optional
	ActiveKeys *ActiveKeys `json:"activeKeys,omitempty"`

	// connections is the connection budget and who uses it.
	// +optional
	Connections *ConnectionBudgetStatus `json:"connections,omitempty"`

	// keysJob is the hash of the ensure-keys Job input that last succeeded; a change re-runs the Job.
	// +optional
	KeysJobHash string `json:"keysJobHash,omitempty"`
}

// ActiveKeys are the master key labels in use.
type ActiveKeys struct {
	// mkekLabel is the active MKEK label.
	MKEKLabel string `json:"mkekLabel"`
	// hmacLabel is the active HMAC key label.
	HMACLabel string `json:"hmacLabel"`
	// rotation is the KeyRotation that switched to these labels, empty for the initial ones.
	// +optional
	Rotation string `json:"rotation,omitempty"`
}

// ConnectionBudgetStatus reports the budget of one HSMBackend.
type ConnectionBudgetStatus struct {
	// max is the HSM's connection limit in effect.
	Max int32 `json:"max"`
	// reserved is the part of max kept for Jobs.
	Reserved int32 `json:"reserved"`
	// requested is what all users would open uncapped: sum of (replicas + maxSurge) × workers.
	Requested int32 `json:"requested"`
	// granted is what they may open after capping.
	Granted int32 `json:"granted"`
	// users are the KeyManagers using the backend, sorted by name.
	// +listType=map
	// +listMapKey=keyManager
	// +optional
	Users []ConnectionUser `json:"users,omitempty"`
}

// ConnectionUser is one KeyManager's share of the budget.
type ConnectionUser struct {
	// keyManager is the KeyManager's name.
	KeyManager string `json:"keyManager"`
	// pods is replicas plus the surge pods a rolling update may add.
	Pods int32 `json:"pods"`
	// requestedWorkers is spec.workers.
	RequestedWorkers int32 `json:"requestedWorkers"`
	// grantedWorkers is the cap passed to each pod as --hsm-max-sessions.
	GrantedWorkers int32 `json:"grantedWorkers"`
}

// HSMBackend is one HSM (or HA group) and how to reach it: vendor, token, PIN, master keys, client software
// and the connection limit that the operator shares among the KeyManagers that use it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hsm;hsms,categories=keymanager-all
// +kubebuilder:printcolumn:name="Vendor",type=string,JSONPath=`.spec.vendor`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="MKEK",type=string,JSONPath=`.status.activeKeys.mkekLabel`
// +kubebuilder:printcolumn:name="Granted",type=integer,JSONPath=`.status.connections.granted`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.status.connections.max`
// +kubebuilder:printcolumn:name="Status",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HSMBackend struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired HSM connection.
	// +required
	Spec HSMBackendSpec `json:"spec"`

	// status is observed by the operator.
	// +optional
	Status HSMBackendStatus `json:"status,omitzero"`
}

// HSMBackendList is a list of HSMBackends.
// +kubebuilder:object:root=true
type HSMBackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []HSMBackend `json:"items"`
}
