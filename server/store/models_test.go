package store

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/schema"
)

// allModels is every gorm model of Barbican's tables.
var allModels = []any{
	Project{}, Secret{}, EncryptedDatum{}, KEKDatum{}, SecretStoreMetadatum{}, SecretUserMetadatum{},
	SecretConsumerMetadatum{}, SecretACL{}, SecretACLUser{}, Container{}, ContainerSecret{},
	ContainerConsumerMetadatum{}, ContainerACL{}, ContainerACLUser{}, Order{}, OrderPluginMetadatum{},
	OrderBarbicanMetadatum{}, OrderRetryTask{}, TransportKey{}, ProjectQuotas{}, SecretStore{}, ProjectSecretStore{},
	CertificateAuthority{}, CertificateAuthorityMetadatum{}, ProjectCertificateAuthority{},
	PreferredCertificateAuthority{},
}

// nullableAsValue lists the nullable columns a model deliberately reads as a plain value, and why.
var nullableAsValue = map[string]string{
	// Barbican's model declares it nullable with a server default; every row the reference or keymanager
	// writes has a type, and the secret readers map a NULL to DefaultSecretType.
	"secrets.secret_type": "server default, NULL read as DefaultSecretType",
}

// TestModelsMatchSchema holds the gorm models against the DDL: the columns are declared twice (schema.go renders
// Barbican's DDL, the models' tags map rows), and nothing else ties the two together. Every table has exactly
// one model, every column exactly one field of a matching Go type, and a nullable column a pointer field.
func TestModelsMatchSchema(t *testing.T) {
	tables := map[string]table{}
	for _, tb := range headTables() {
		tables[tb.name] = tb
	}
	cache := &sync.Map{}
	seen := map[string]bool{}
	for _, m := range allModels {
		s, err := schema.Parse(m, cache, schema.NamingStrategy{})
		if err != nil {
			t.Fatalf("parsing %T: %v", m, err)
		}
		tb, ok := tables[s.Table]
		if !ok {
			t.Errorf("%T maps to %q, which is not a table of the schema", m, s.Table)
			continue
		}
		if seen[s.Table] {
			t.Errorf("table %s has two models", s.Table)
		}
		seen[s.Table] = true
		fields := map[string]*schema.Field{}
		for _, f := range s.Fields {
			if f.DBName != "" {
				fields[f.DBName] = f
			}
		}
		for _, c := range tb.columns {
			f, ok := fields[c.name]
			if !ok {
				t.Errorf("%s.%s has no field in %T", tb.name, c.name, m)
				continue
			}
			delete(fields, c.name)
			typ := f.FieldType
			pointer := typ.Kind() == reflect.Pointer
			if pointer {
				typ = typ.Elem()
			}
			if want := goTypeOf(c.kind); typ != want {
				t.Errorf("%s.%s is %s in the DDL but %s in %T.%s", tb.name, c.name, c.kind, typ, m, f.Name)
			}
			key := tb.name + "." + c.name
			switch {
			case c.notNull && pointer:
				t.Errorf("%s is NOT NULL but %T.%s is a pointer", key, m, f.Name)
			case !c.notNull && !pointer && nullableAsValue[key] == "":
				t.Errorf("%s is nullable but %T.%s is not a pointer: a NULL would fail to scan", key, m, f.Name)
			}
		}
		for name, f := range fields {
			t.Errorf("%T.%s maps to %s.%s, which the DDL does not have", m, f.Name, tb.name, name)
		}
	}
	for name := range tables {
		if !seen[name] {
			t.Errorf("table %s has no model", name)
		}
	}
}

func goTypeOf(kind string) reflect.Type {
	switch kind {
	case kindDateTime:
		return reflect.TypeFor[time.Time]()
	case kindBool:
		return reflect.TypeFor[bool]()
	case kindInt:
		return reflect.TypeFor[int]()
	default:
		return reflect.TypeFor[string]()
	}
}
