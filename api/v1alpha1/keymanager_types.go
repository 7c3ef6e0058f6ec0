package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// KeyManagerSpec is the desired Barbican-compatible key manager service.
type KeyManagerSpec struct {
	// image is the keymanager image that runs the server and its Jobs (migration, key generation).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Image string `json:"image"`

	// imagePullPolicy of the server and Job containers.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +kubebuilder:default=IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// replicas is the number of server pods.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// workers is the number of HSM sessions each server pod asks for: requests that need the HSM run at most
	// this many at once per pod. When the HSMBackend's connection budget cannot give every pod this many,
	// the operator grants fewer (status.workers.granted, condition WorkersCapped).
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	// +optional
	Workers *int32 `json:"workers,omitempty"`

	// database is the MariaDB (or MySQL) database that stores secrets, in Barbican's schema.
	// +required
	Database Database `json:"database"`

	// secretStores are the stores that encrypt secrets: one simpleCrypto and/or one pkcs11 store. With two,
	// exactly one is the global default.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:XValidation:rule="self.filter(s, has(s.simpleCrypto)).size() <= 1 && self.filter(s, has(s.pkcs11)).size() <= 1",message="at most one simpleCrypto and one pkcs11 store"
	// +kubebuilder:validation:XValidation:rule="self.size() == 1 || self.filter(s, has(s.globalDefault) && s.globalDefault).size() == 1",message="with two secret stores exactly one must be the globalDefault"
	// +required
	SecretStores []SecretStore `json:"secretStores"`

	// auth selects how requests are authenticated.
	// +kubebuilder:default={mode: noauth}
	// +optional
	Auth Auth `json:"auth,omitzero"`

	// policyConfigMapRef names a ConfigMap key holding a policy.yaml that overrides Barbican's default rules
	// by name.
	// +optional
	PolicyConfigMapRef *corev1.ConfigMapKeySelector `json:"policyConfigMapRef,omitempty"`

	// hostHref is the base URL of hrefs in responses, e.g. https://kms.example.com; derived from each
	// request's Host header when unset.
	// +kubebuilder:validation:Pattern=`^https?://[^/?#]+(/.*)?$`
	// +optional
	HostHref string `json:"hostHref,omitempty"`

	// service shapes the Service in front of the pods.
	// +kubebuilder:default={}
	// +optional
	Service ServiceSpec `json:"service,omitzero"`

	// resources of the server container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// placement constrains where the pods run.
	// +optional
	Placement Placement `json:"placement,omitzero"`

	// podDisruptionBudget bounds voluntary evictions of server pods.
	// +kubebuilder:default={}
	// +optional
	PodDisruptionBudget PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitzero"`
}

// Database is where the key manager keeps its rows.
type Database struct {
	// host is the MariaDB server's host name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Host string `json:"host"`

	// port is the MariaDB server's port.
	// +kubebuilder:default=3306
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// name is the database (schema) name.
	// +kubebuilder:default=barbican
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_$]{1,64}$`
	// +optional
	Name string `json:"name,omitempty"`

	// credentialsSecretRef names a Secret with username and password keys. The password must be URL-safe
	// (it is substituted into the database URL in the container's environment).
	// +required
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef"`
}

// SecretStore is one secret store: exactly one of simpleCrypto or pkcs11.
// +kubebuilder:validation:XValidation:rule="has(self.simpleCrypto) != has(self.pkcs11)",message="exactly one of simpleCrypto or pkcs11 must be set"
type SecretStore struct {
	// name is the store's name as Barbican lists it (GET /v1/secret-stores).
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_]{0,30}[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// globalDefault makes this store the one secrets go to when a project has no preferred store.
	// +optional
	GlobalDefault bool `json:"globalDefault,omitempty"`

	// simpleCrypto encrypts with a KEK held in a Secret (Fernet, like Barbican's simple_crypto plugin).
	// +optional
	SimpleCrypto *SimpleCryptoStore `json:"simpleCrypto,omitempty"`

	// pkcs11 encrypts with project keys wrapped by an HSM's MKEK (Barbican's p11_crypto plugin).
	// +optional
	PKCS11 *PKCS11Store `json:"pkcs11,omitempty"`
}

// SimpleCryptoStore references the KEK Secret.
type SimpleCryptoStore struct {
	// kekSecretRef names the Secret key that holds the KEKs: one base64 Fernet key per line, the first one
	// active, older ones kept for decryption. It is mounted read-only with mode 0400.
	// +required
	KEKSecretRef corev1.SecretKeySelector `json:"kekSecretRef"`
}

// PKCS11Store references the HSMBackend.
type PKCS11Store struct {
	// hsmBackendRef names an HSMBackend in this namespace.
	// +required
	HSMBackendRef corev1.LocalObjectReference `json:"hsmBackendRef"`
}

// AuthMode is how requests are authenticated.
// +kubebuilder:validation:Enum=noauth;keystone
type AuthMode string

const (
	// AuthModeNoAuth trusts the X-Project-Id and X-Roles headers: put an authenticating proxy or a
	// NetworkPolicy in front of the Service.
	AuthModeNoAuth AuthMode = "noauth"
	// AuthModeKeystone validates each request's X-Auth-Token with Keystone.
	AuthModeKeystone AuthMode = "keystone"
)

// Auth selects request authentication.
// +kubebuilder:validation:XValidation:rule="self.mode != 'keystone' || has(self.keystone)",message="keystone settings are required with mode keystone"
type Auth struct {
	// mode is the authentication mode: noauth trusts the X-Project-Id and X-Roles headers (restrict who
	// reaches the Service), keystone validates tokens with Keystone.
	// +kubebuilder:default=noauth
	// +optional
	Mode AuthMode `json:"mode,omitempty"`

	// keystone are the token validation settings of mode keystone ([keystone_authtoken]).
	// +optional
	Keystone *KeystoneAuth `json:"keystone,omitempty"`
}

// KeystoneAuth is the service user that validates tokens.
type KeystoneAuth struct {
	// authURL is Keystone's identity URL, e.g. https://keystone.example.com/v3.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	AuthURL string `json:"authURL"`

	// username is the service user; it needs Keystone's service or admin role.
	// +kubebuilder:validation:MinLength=1
	// +required
	Username string `json:"username"`

	// userDomainName is the service user's domain.
	// +kubebuilder:default=Default
	// +optional
	UserDomainName string `json:"userDomainName,omitempty"`

	// projectName is the project the service user's token is scoped to.
	// +kubebuilder:default=service
	// +optional
	ProjectName string `json:"projectName,omitempty"`

	// projectDomainName is the project's domain.
	// +kubebuilder:default=Default
	// +optional
	ProjectDomainName string `json:"projectDomainName,omitempty"`

	// passwordSecretRef names the Secret key holding the service user's password.
	// +required
	PasswordSecretRef corev1.SecretKeySelector `json:"passwordSecretRef"`
}

// ServiceSpec shapes the Service.
type ServiceSpec struct {
	// type is the Service type.
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// port is the Service port of the Barbican API.
	// +kubebuilder:default=9311
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// annotations are added to the Service (load balancer settings).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Placement constrains pod scheduling.
type Placement struct {
	// nodeSelector of the pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// tolerations of the pods.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// affinity of the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// topologySpreadConstraints of the pods.
	// +listType=atomic
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// priorityClassName of the pods.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// PodDisruptionBudgetSpec bounds evictions.
type PodDisruptionBudgetSpec struct {
	// enabled creates a PodDisruptionBudget when there is more than one replica.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// maxUnavailable is how many pods may be evicted at once.
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// KeyManagerStatus is what the operator observed.
type KeyManagerStatus struct {
	// observedGeneration is the generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Available, Progressing, Degraded, DatabaseMigrated, WorkersCapped.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// replicas is the number of server pods of the Deployment.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas is the number of ready server pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// workers are the requested and granted HSM sessions per pod.
	// +optional
	Workers *WorkersStatus `json:"workers,omitempty"`

	// endpoint is the in-cluster URL of the Barbican API.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// migration is the image and schema revision of the last successful database migration.
	// +optional
	Migration *MigrationStatus `json:"migration,omitempty"`

	// configHash is the hash of the rendered configuration and referenced Secrets the Deployment's pod
	// template carries.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// hsmKeys are the MKEK and HMAC labels that pod template is configured with; a KeyRotation waits for
	// them and for the rollout of that template.
	// +optional
	HSMKeys *ActiveKeys `json:"hsmKeys,omitempty"`
}

// WorkersStatus reports the connection budget's decision for this KeyManager.
type WorkersStatus struct {
	// requested is spec.workers.
	Requested int32 `json:"requested"`
	// granted is what each pod may open (--hsm-max-sessions); equal to requested when not capped.
	Granted int32 `json:"granted"`
	// hsmBackend is the backend whose budget decided.
	// +optional
	HSMBackend string `json:"hsmBackend,omitempty"`
}

// MigrationStatus records a successful migration.
type MigrationStatus struct {
	// image that ran `keymanager manage db upgrade`.
	Image string `json:"image"`
	// revision is the hash of image and schema settings the migration ran for.
	Revision string `json:"revision"`
}

// KeyManager is one Barbican-compatible key manager service: its Deployment, Service, configuration,
// database migration and HSM session budget.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=km;kms,categories=keymanager-all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Workers",type=integer,JSONPath=`.status.workers.granted`
// +kubebuilder:printcolumn:name="Status",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Endpoint",type=string,priority=1,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KeyManager struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired service.
	// +required
	Spec KeyManagerSpec `json:"spec"`

	// status is observed by the operator.
	// +optional
	Status KeyManagerStatus `json:"status,omitzero"`
}

// KeyManagerList is a list of KeyManagers.
// +kubebuilder:object:root=true
type KeyManagerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []KeyManager `json:"items"`
}
