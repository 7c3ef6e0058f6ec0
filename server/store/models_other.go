package store

import "time"

// The models below have no repository functions yet; they exist so that later
// repositories (containers, orders, quotas, secret stores) share one
// definition of Barbican's columns.

// Container is a row of the containers table.
type Container struct {
	Model
	Name      *string `gorm:"column:name"`
	Type      *string `gorm:"column:type"`
	ProjectID string  `gorm:"column:project_id"`
	CreatorID *string `gorm:"column:creator_id"`
}

// TableName implements gorm's tabler.
func (Container) TableName() string { return "containers" }

// ContainerSecret links a secret into a container under an optional name.
type ContainerSecret struct {
	Model
	Name        *string `gorm:"column:name"`
	ContainerID string  `gorm:"column:container_id"`
	SecretID    string  `gorm:"column:secret_id"`
}

// TableName implements gorm's tabler.
func (ContainerSecret) TableName() string { return "container_secret" }

// ContainerConsumerMetadatum registers a consumer of a container.
type ContainerConsumerMetadatum struct {
	Model
	ContainerID string  `gorm:"column:container_id"`
	ProjectID   *string `gorm:"column:project_id"`
	Name        *string `gorm:"column:name"`
	URL         *string `gorm:"column:URL"`
	DataHash    *string `gorm:"column:data_hash"`
}

// TableName implements gorm's tabler.
func (ContainerConsumerMetadatum) TableName() string { return "container_consumer_metadata" }

// ContainerACL is a per-operation access rule of a container.
type ContainerACL struct {
	Model
	ContainerID   string `gorm:"column:container_id"`
	Operation     string `gorm:"column:operation"`
	ProjectAccess bool   `gorm:"column:project_access"`
}

// TableName implements gorm's tabler.
func (ContainerACL) TableName() string { return "container_acls" }

// ContainerACLUser lists a user on a container ACL.
type ContainerACLUser struct {
	Model
	ACLID  string `gorm:"column:acl_id"`
	UserID string `gorm:"column:user_id"`
}

// TableName implements gorm's tabler.
func (ContainerACLUser) TableName() string { return "container_acl_users" }

// Order is a row of the orders table; Meta is the JSON text of the request.
type Order struct {
	Model
	Type             string  `gorm:"column:type"`
	ProjectID        string  `gorm:"column:project_id"`
	ErrorStatusCode  *string `gorm:"column:error_status_code"`
	ErrorReason      *string `gorm:"column:error_reason"`
	Meta             *string `gorm:"column:meta"`
	SecretID         *string `gorm:"column:secret_id"`
	ContainerID      *string `gorm:"column:container_id"`
	SubStatus        *string `gorm:"column:sub_status"`
	SubStatusMessage *string `gorm:"column:sub_status_message"`
	CreatorID        *string `gorm:"column:creator_id"`
}

// TableName implements gorm's tabler.
func (Order) TableName() string { return "orders" }

// OrderPluginMetadatum is plugin state of an order.
type OrderPluginMetadatum struct {
	Model
	OrderID string `gorm:"column:order_id"`
	Key     string `gorm:"column:key"`
	Value   string `gorm:"column:value"`
}

// TableName implements gorm's tabler.
func (OrderPluginMetadatum) TableName() string { return "order_plugin_metadata" }

// OrderBarbicanMetadatum is server state of an order.
type OrderBarbicanMetadatum struct {
	Model
	OrderID string `gorm:"column:order_id"`
	Key     string `gorm:"column:key"`
	Value   string `gorm:"column:value"`
}

// TableName implements gorm's tabler.
func (OrderBarbicanMetadatum) TableName() string { return "order_barbican_metadata" }

// OrderRetryTask is a scheduled retry of order processing (unused by the
// reference today, kept for schema parity).
type OrderRetryTask struct {
	Model
	OrderID     string    `gorm:"column:order_id"`
	RetryTask   string    `gorm:"column:retry_task"`
	RetryAt     time.Time `gorm:"column:retry_at;serializer:kmtime"`
	RetryArgs   string    `gorm:"column:retry_args"`
	RetryKwargs string    `gorm:"column:retry_kwargs"`
	RetryCount  int       `gorm:"column:retry_count"`
}

// TableName implements gorm's tabler.
func (OrderRetryTask) TableName() string { return "order_retry_tasks" }

// TransportKey is a KRA transport key.
type TransportKey struct {
	Model
	PluginName   string `gorm:"column:plugin_name"`
	TransportKey string `gorm:"column:transport_key"`
}

// TableName implements gorm's tabler.
func (TransportKey) TableName() string { return "transport_keys" }

// ProjectQuotas overrides the configured quotas of one project (nil = default).
type ProjectQuotas struct {
	Model
	ProjectID  string `gorm:"column:project_id"`
	Secrets    *int   `gorm:"column:secrets"`
	Orders     *int   `gorm:"column:orders"`
	Containers *int   `gorm:"column:containers"`
	Consumers  *int   `gorm:"column:consumers"`
	CAs        *int   `gorm:"column:cas"`
}

// TableName implements gorm's tabler.
func (ProjectQuotas) TableName() string { return "project_quotas" }

// SecretStore is a configured secret-store backend (multiple-backend mode).
type SecretStore struct {
	Model
	StorePlugin   string  `gorm:"column:store_plugin"`
	CryptoPlugin  *string `gorm:"column:crypto_plugin"`
	GlobalDefault bool    `gorm:"column:global_default"`
	Name          string  `gorm:"column:name"`
}

// TableName implements gorm's tabler.
func (SecretStore) TableName() string { return "secret_stores" }

// ProjectSecretStore is a project's preferred secret store.
type ProjectSecretStore struct {
	Model
	SecretStoreID string `gorm:"column:secret_store_id"`
	ProjectID     string `gorm:"column:project_id"`
}

// TableName implements gorm's tabler.
func (ProjectSecretStore) TableName() string { return "project_secret_store" }

// CertificateAuthority is a row of the legacy CA feature (unused by the API).
type CertificateAuthority struct {
	Model
	PluginName string     `gorm:"column:plugin_name"`
	PluginCAID string     `gorm:"column:plugin_ca_id"`
	Expiration *time.Time `gorm:"column:expiration;serializer:kmtime"`
	CreatorID  *string    `gorm:"column:creator_id"`
	ProjectID  *string    `gorm:"column:project_id"`
}

// TableName implements gorm's tabler.
func (CertificateAuthority) TableName() string { return "certificate_authorities" }

// CertificateAuthorityMetadatum is a key/value of a legacy CA.
type CertificateAuthorityMetadatum struct {
	Model
	Key   string `gorm:"column:key"`
	Value string `gorm:"column:value"`
	CAID  string `gorm:"column:ca_id"`
}

// TableName implements gorm's tabler.
func (CertificateAuthorityMetadatum) TableName() string { return "certificate_authority_metadata" }

// ProjectCertificateAuthority links a project to a legacy CA.
type ProjectCertificateAuthority struct {
	Model
	ProjectID string `gorm:"column:project_id"`
	CAID      string `gorm:"column:ca_id"`
}

// TableName implements gorm's tabler.
func (ProjectCertificateAuthority) TableName() string { return "project_certificate_authorities" }

// PreferredCertificateAuthority is a project's preferred legacy CA.
type PreferredCertificateAuthority struct {
	Model
	ProjectID string `gorm:"column:project_id"`
	CAID      string `gorm:"column:ca_id"`
}

// TableName implements gorm's tabler.
func (PreferredCertificateAuthority) TableName() string { return "preferred_certificate_authorities" }
