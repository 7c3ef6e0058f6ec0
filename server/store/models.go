package store

import "time"

// Model holds the columns every Barbican table shares (spec §6.1). Timestamps
// are naive UTC; repository code sets them explicitly (created_at equals
// updated_at on insert) instead of relying on gorm's automatic timestamps.
type Model struct {
	ID        string     `gorm:"column:id;primaryKey"`
	CreatedAt time.Time  `gorm:"column:created_at;serializer:kmtime;autoCreateTime:false"`
	UpdatedAt time.Time  `gorm:"column:updated_at;serializer:kmtime;autoUpdateTime:false"`
	DeletedAt *time.Time `gorm:"column:deleted_at;serializer:kmtime"`
	Deleted   bool       `gorm:"column:deleted"`
	Status    string     `gorm:"column:status"`
}

// Entity statuses (spec §6.1).
const (
	StatusPending = "PENDING"
	StatusActive  = "ACTIVE"
	StatusError   = "ERROR"
)

// init fills the ID, the timestamps and the status of a row about to be
// inserted, keeping whatever the caller already set.
func (m *Model) init(now time.Time, status string) {
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	if m.Status == "" {
		m.Status = status
	}
}

// Project maps a Keystone project id to Barbican's internal project id.
type Project struct {
	Model
	ExternalID *string `gorm:"column:external_id"`
}

// TableName implements gorm's tabler.
func (Project) TableName() string { return "projects" }

// Secret is a row of the secrets table.
type Secret struct {
	Model
	Name       *string    `gorm:"column:name"`
	SecretType string     `gorm:"column:secret_type"`
	Expiration *time.Time `gorm:"column:expiration;serializer:kmtime"`
	Algorithm  *string    `gorm:"column:algorithm"`
	BitLength  *int       `gorm:"column:bit_length"`
	Mode       *string    `gorm:"column:mode"`
	CreatorID  *string    `gorm:"column:creator_id"`
	ProjectID  string     `gorm:"column:project_id"`
}

// TableName implements gorm's tabler.
func (Secret) TableName() string { return "secrets" }

// EncryptedDatum is the ciphertext of a secret and the KEK that wraps it.
type EncryptedDatum struct {
	Model
	ContentType     *string `gorm:"column:content_type"`
	SecretID        string  `gorm:"column:secret_id"`
	KEKID           string  `gorm:"column:kek_id"`
	CypherText      *string `gorm:"column:cypher_text"`
	KEKMetaExtended *string `gorm:"column:kek_meta_extended"`
}

// TableName implements gorm's tabler.
func (EncryptedDatum) TableName() string { return "encrypted_data" }

// KEKDatum is a project key-encryption key (spec §6.4).
type KEKDatum struct {
	Model
	PluginName    string  `gorm:"column:plugin_name"`
	KEKLabel      *string `gorm:"column:kek_label"`
	ProjectID     string  `gorm:"column:project_id"`
	Active        bool    `gorm:"column:active"`
	BindCompleted bool    `gorm:"column:bind_completed"`
	Algorithm     *string `gorm:"column:algorithm"`
	BitLength     *int    `gorm:"column:bit_length"`
	Mode          *string `gorm:"column:mode"`
	PluginMeta    *string `gorm:"column:plugin_meta"`
}

// TableName implements gorm's tabler.
func (KEKDatum) TableName() string { return "kek_data" }

// SecretStoreMetadatum is a key/value written by the secret-store plugin
// (always plugin_name and content_type).
type SecretStoreMetadatum struct {
	Model
	Key      string `gorm:"column:key"`
	Value    string `gorm:"column:value"`
	SecretID string `gorm:"column:secret_id"`
}

// TableName implements gorm's tabler.
func (SecretStoreMetadatum) TableName() string { return "secret_store_metadata" }

// SecretUserMetadatum is a user-supplied key/value of a secret (spec §4.3).
type SecretUserMetadatum struct {
	Model
	Key      string `gorm:"column:key"`
	Value    string `gorm:"column:value"`
	SecretID string `gorm:"column:secret_id"`
}

// TableName implements gorm's tabler.
func (SecretUserMetadatum) TableName() string { return "secret_user_metadata" }

// SecretConsumerMetadatum registers a service resource that uses a secret.
type SecretConsumerMetadatum struct {
	Model
	SecretID     string  `gorm:"column:secret_id"`
	ProjectID    *string `gorm:"column:project_id"`
	Service      string  `gorm:"column:service"`
	ResourceType string  `gorm:"column:resource_type"`
	ResourceID   string  `gorm:"column:resource_id"`
}

// TableName implements gorm's tabler.
func (SecretConsumerMetadatum) TableName() string { return "secret_consumer_metadata" }

// SecretACL is a per-operation access rule of a secret (hard-deleted).
type SecretACL struct {
	Model
	SecretID      string `gorm:"column:secret_id"`
	Operation     string `gorm:"column:operation"`
	ProjectAccess bool   `gorm:"column:project_access"`
}

// TableName implements gorm's tabler.
func (SecretACL) TableName() string { return "secret_acls" }

// SecretACLUser lists a user on a secret ACL (hard-deleted).
type SecretACLUser struct {
	Model
	ACLID  string `gorm:"column:acl_id"`
	UserID string `gorm:"column:user_id"`
}

// TableName implements gorm's tabler.
func (SecretACLUser) TableName() string { return "secret_acl_users" }
