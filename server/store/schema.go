package store

// This file describes Barbican's schema as created by its alembic revisions
// 39cf2e645cba (Ocata rebase) and 0f8c192a061f (secret consumers); ddl.go
// renders it per dialect the way SQLAlchemy would.

// Column kinds, rendered per dialect by ddl.go.
const (
	kindString   = "string" // VARCHAR(size)
	kindChar     = "char"   // CHAR(size)
	kindText     = "text"
	kindDateTime = "datetime"
	kindBool     = "bool"
	kindInt      = "int"
	kindEnum     = "enum" // container_types
)

type column struct {
	name          string
	kind          string
	size          int
	notNull       bool
	serverDefault string
}

type foreignKey struct {
	name   string // "" = unnamed (MySQL names it <table>_ibfk_N)
	column string
	ref    string // referenced table; the referenced column is always id
}

type uniqueConstraint struct {
	name    string // "" = unnamed
	columns []string
}

type index struct {
	name    string
	columns []string
	unique  bool
}

type table struct {
	name    string
	columns []column
	fks     []foreignKey
	uniques []uniqueConstraint
	indexes []index
	// uniquesFirst renders unique constraints before foreign keys, as
	// alembic's batch mode does when it rebuilds a table on SQLite.
	uniquesFirst bool
}

func str(name string, size int, notNull bool) column {
	return column{name: name, kind: kindString, size: size, notNull: notNull}
}

func col(name, kind string, notNull bool) column {
	return column{name: name, kind: kind, notNull: notNull}
}

// base is ModelBase's columns (spec §6.1).
func base(extra ...column) []column {
	cols := []column{
		str("id", 36, true),
		col("created_at", kindDateTime, true),
		col("updated_at", kindDateTime, true),
		col("deleted_at", kindDateTime, false),
		col("deleted", kindBool, true),
		str("status", 20, true),
	}
	return append(cols, extra...)
}

func ix(table string, columns ...string) index {
	name := "ix_" + table + "_" + columns[0]
	return index{name: name, columns: columns}
}

// ocataTables are created by revision 39cf2e645cba, in its order (parents
// before children, as MySQL needs for the foreign keys).
var ocataTables = []table{
	{name: "projects", columns: base(str("external_id", 255, false)),
		uniques: []uniqueConstraint{{columns: []string{"external_id"}}}},
	{name: "secret_stores", columns: base(str("store_plugin", 255, true), str("crypto_plugin", 255, false),
		col("global_default", kindBool, true), str("name", 255, true)),
		uniques: []uniqueConstraint{{"_secret_stores_name_uc", []string{"name"}},
			{"_secret_stores_plugin_names_uc", []string{"store_plugin", "crypto_plugin"}}}},
	{name: "transport_keys", columns: base(str("plugin_name", 255, true), col("transport_key", kindText, true))},
	{name: "certificate_authorities", columns: base(str("plugin_name", 255, true), col("plugin_ca_id", kindText, true),
		col("expiration", kindDateTime, false), str("creator_id", 255, false), str("project_id", 36, false)),
		fks: []foreignKey{{"cas_project_fk", "project_id", "projects"}}},
	{name: "containers", columns: base(str("name", 255, false), col("type", kindEnum, false),
		str("project_id", 36, true), str("creator_id", 255, false)),
		fks:     []foreignKey{{"containers_project_fk", "project_id", "projects"}},
		indexes: []index{ix("containers", "project_id")}},
	{name: "kek_data", columns: base(str("plugin_name", 255, true), str("kek_label", 255, false),
		str("project_id", 36, true), col("active", kindBool, true), col("bind_completed", kindBool, true),
		str("algorithm", 255, false), col("bit_length", kindInt, false), str("mode", 255, false),
		col("plugin_meta", kindText, false)),
		fks:     []foreignKey{{"kek_data_project_fk", "project_id", "projects"}},
		indexes: []index{ix("kek_data", "project_id")}},
	{name: "project_quotas", columns: base(str("project_id", 36, true), col("secrets", kindInt, false),
		col("orders", kindInt, false), col("containers", kindInt, false), col("consumers", kindInt, false),
		col("cas", kindInt, false)),
		fks:     []foreignKey{{"project_quotas_fk", "project_id", "projects"}},
		indexes: []index{ix("project_quotas", "project_id")}},
	{name: "project_secret_store", columns: base(str("secret_store_id", 36, true), str("project_id", 36, true)),
		fks:     []foreignKey{{"", "project_id", "projects"}, {"", "secret_store_id", "secret_stores"}},
		uniques: []uniqueConstraint{{"_project_secret_store_project_uc", []string{"project_id"}}},
		indexes: []index{ix("project_secret_store", "project_id"), ix("project_secret_store", "secret_store_id")}},
	{name: "secrets", columns: base(str("name", 255, false),
		column{name: "secret_type", kind: kindString, size: 255, serverDefault: DefaultSecretType},
		col("expiration", kindDateTime, false), str("algorithm", 255, false), col("bit_length", kindInt, false),
		str("mode", 255, false), str("creator_id", 255, false), str("project_id", 36, true)),
		fks:     []foreignKey{{"secrets_project_fk", "project_id", "projects"}},
		indexes: []index{ix("secrets", "project_id")}},
	{name: "certificate_authority_metadata", columns: base(str("key", 255, true), col("value", kindText, true),
		str("ca_id", 36, true)),
		fks:     []foreignKey{{"", "ca_id", "certificate_authorities"}},
		uniques: []uniqueConstraint{{"_certificate_authority_metadatum_uc", []string{"ca_id", "key"}}},
		indexes: []index{ix("certificate_authority_metadata", "ca_id"), ix("certificate_authority_metadata", "key")}},
	{name: "container_acls", columns: base(str("container_id", 36, true), str("operation", 255, true),
		col("project_access", kindBool, true)),
		fks:     []foreignKey{{"", "container_id", "containers"}},
		uniques: []uniqueConstraint{{"_container_acl_operation_uc", []string{"container_id", "operation"}}},
		indexes: []index{ix("container_acls", "container_id")}},
	{name: "container_consumer_metadata", columns: base(str("container_id", 36, true), str("project_id", 36, false),
		str("name", 36, false), str("URL", 255, false), column{name: "data_hash", kind: kindChar, size: 64}),
		fks:     []foreignKey{{"", "container_id", "containers"}, {"", "project_id", "projects"}},
		uniques: []uniqueConstraint{{"_consumer_hashed_container_name_url_uc", []string{"data_hash"}}},
		indexes: []index{ix("container_consumer_metadata", "container_id"), ix("container_consumer_metadata", "project_id"),
			{name: "values_index", columns: []string{"container_id", "name", "URL"}}}},
	{name: "container_secret", columns: base(str("name", 255, false), str("container_id", 36, true),
		str("secret_id", 36, true)),
		fks:     []foreignKey{{"", "container_id", "containers"}, {"", "secret_id", "secrets"}},
		uniques: []uniqueConstraint{{"_container_secret_name_uc", []string{"container_id", "secret_id", "name"}}},
		indexes: []index{ix("container_secret", "container_id"), ix("container_secret", "secret_id")}},
	{name: "encrypted_data", columns: base(str("content_type", 255, false), str("secret_id", 36, true),
		str("kek_id", 36, true), col("cypher_text", kindText, false), col("kek_meta_extended", kindText, false)),
		fks:     []foreignKey{{"", "kek_id", "kek_data"}, {"", "secret_id", "secrets"}},
		indexes: []index{ix("encrypted_data", "kek_id"), ix("encrypted_data", "secret_id")}},
	{name: "orders", columns: base(str("type", 255, true), str("project_id", 36, true),
		str("error_status_code", 16, false), str("error_reason", 255, false), col("meta", kindText, false),
		str("secret_id", 36, false), str("container_id", 36, false), str("sub_status", 36, false),
		str("sub_status_message", 255, false), str("creator_id", 255, false)),
		fks: []foreignKey{{"", "container_id", "containers"}, {"orders_project_fk", "project_id", "projects"},
			{"", "secret_id", "secrets"}},
		indexes: []index{ix("orders", "container_id"), ix("orders", "project_id"), ix("orders", "secret_id")}},
	{name: "preferred_certificate_authorities", columns: base(str("project_id", 36, true), str("ca_id", 36, true)),
		fks: []foreignKey{{"preferred_certificate_authorities_fk", "ca_id", "certificate_authorities"},
			{"", "project_id", "projects"}},
		indexes: []index{ix("preferred_certificate_authorities", "ca_id"),
			{name: "ix_preferred_certificate_authorities_project_id", columns: []string{"project_id"}, unique: true}}},
	{name: "project_certificate_authorities", columns: base(str("project_id", 36, true), str("ca_id", 36, true)),
		fks:     []foreignKey{{"", "ca_id", "certificate_authorities"}, {"", "project_id", "projects"}},
		uniques: []uniqueConstraint{{"_project_certificate_authority_uc", []string{"project_id", "ca_id"}}},
		indexes: []index{ix("project_certificate_authorities", "ca_id"), ix("project_certificate_authorities", "project_id")}},
	{name: "secret_acls", columns: base(str("secret_id", 36, true), str("operation", 255, true),
		col("project_access", kindBool, true)),
		fks:     []foreignKey{{"", "secret_id", "secrets"}},
		uniques: []uniqueConstraint{{"_secret_acl_operation_uc", []string{"secret_id", "operation"}}},
		indexes: []index{ix("secret_acls", "secret_id")}},
	{name: "secret_store_metadata", columns: base(str("key", 255, true), str("value", 255, true), str("secret_id", 36, true)),
		fks:     []foreignKey{{"", "secret_id", "secrets"}},
		indexes: []index{ix("secret_store_metadata", "secret_id")}},
	{name: "secret_user_metadata", columns: base(str("key", 255, true), str("value", 255, true), str("secret_id", 36, true)),
		fks:     []foreignKey{{"", "secret_id", "secrets"}},
		uniques: []uniqueConstraint{{"_secret_key_uc", []string{"secret_id", "key"}}},
		indexes: []index{ix("secret_user_metadata", "secret_id")}},
	{name: "container_acl_users", columns: base(str("acl_id", 36, true), str("user_id", 255, true)),
		fks:     []foreignKey{{"", "acl_id", "container_acls"}},
		uniques: []uniqueConstraint{{"_container_acl_user_uc", []string{"acl_id", "user_id"}}},
		indexes: []index{ix("container_acl_users", "acl_id")}},
	{name: "order_barbican_metadata", columns: base(str("order_id", 36, true), str("key", 255, true), col("value", kindText, true)),
		fks:     []foreignKey{{"", "order_id", "orders"}},
		indexes: []index{ix("order_barbican_metadata", "order_id")}},
	{name: "order_plugin_metadata", columns: base(str("order_id", 36, true), str("key", 255, true), str("value", 255, true)),
		fks:     []foreignKey{{"", "order_id", "orders"}},
		indexes: []index{ix("order_plugin_metadata", "order_id")}},
	{name: "order_retry_tasks", columns: append(base()[1:], str("id", 36, true), str("order_id", 36, true),
		col("retry_task", kindText, true), col("retry_at", kindDateTime, true), col("retry_args", kindText, true),
		col("retry_kwargs", kindText, true), col("retry_count", kindInt, true)),
		fks:     []foreignKey{{"", "order_id", "orders"}},
		indexes: []index{ix("order_retry_tasks", "order_id")}},
	{name: "secret_acl_users", columns: base(str("acl_id", 36, true), str("user_id", 255, true)),
		fks:     []foreignKey{{"", "acl_id", "secret_acls"}},
		uniques: []uniqueConstraint{{"_secret_acl_user_uc", []string{"acl_id", "user_id"}}},
		indexes: []index{ix("secret_acl_users", "acl_id")}},
}

// consumersTable is secret_consumer_metadata as revision 0f8c192a061f creates it.
var consumersTable = table{
	name: "secret_consumer_metadata",
	columns: base(str("secret_id", 36, true), str("project_id", 36, true), str("service", 255, true),
		str("resource_type", 255, true), str("resource_id", 36, true)),
	fks:     []foreignKey{{"", "secret_id", "secrets"}},
	uniques: []uniqueConstraint{{"_secret_consumer_resource_uc", []string{"secret_id", "resource_id"}}},
	indexes: []index{ix("secret_consumer_metadata", "secret_id"), ix("secret_consumer_metadata", "resource_id")},
}

// consumersTableHead is secret_consumer_metadata after revision 8c74e2d7f1ff:
// project_id nullable with a foreign key, and a wider unique constraint. It is
// the table alembic's batch mode rebuilds on SQLite, in the constraint order
// that rebuild writes (the unique constraint, then the new foreign key).
var consumersTableHead = table{
	name: "secret_consumer_metadata",
	columns: base(str("secret_id", 36, true), str("project_id", 36, false), str("service", 255, true),
		str("resource_type", 255, true), str("resource_id", 36, true)),
	fks:          []foreignKey{{"fk_project_id", "project_id", "projects"}, {"", "secret_id", "secrets"}},
	uniquesFirst: true,
	uniques: []uniqueConstraint{{"_secret_consumer_resource_uc",
		[]string{"secret_id", "service", "resource_type", "resource_id"}}},
	indexes: []index{ix("secret_consumer_metadata", "secret_id"), ix("secret_consumer_metadata", "resource_id"),
		ix("secret_consumer_metadata", "project_id")},
}

// headTables is Barbican's schema at HeadRevision: the Ocata tables with secret_consumer_metadata as the later
// revisions leave it.
func headTables() []table {
	return append(append([]table{}, ocataTables...), consumersTableHead)
}
