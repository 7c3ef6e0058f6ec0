package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func addACL(t *testing.T, db *DB, secretID string, projectAccess bool, users ...string) {
	t.Helper()
	write(t, db, func(tx *Tx) error {
		acl := SecretACL{SecretID: secretID, Operation: "read", ProjectAccess: projectAccess}
		acl.init(tx.time(time.Now()), StatusActive)
		if err := tx.g.Create(&acl).Error; err != nil {
			return err
		}
		for _, u := range users {
			au := SecretACLUser{ACLID: acl.ID, UserID: u}
			au.init(acl.CreatedAt, StatusActive)
			if err := tx.g.Create(&au).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// addConsumer registers a consumer created at base + offset seconds, so that
// creation order is observable on MariaDB's whole-second DATETIME too.
func addConsumer(t *testing.T, db *DB, secretID, service string, offset int) {
	t.Helper()
	write(t, db, func(tx *Tx) error {
		c := SecretConsumerMetadatum{SecretID: secretID, Service: service, ResourceType: "image", ResourceID: "r-" + service}
		c.init(tx.time(time.Now().Add(time.Duration(offset)*time.Second)), StatusActive)
		return tx.g.Create(&c).Error
	})
}

func TestSecretLookup(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pa := newFixture(t, db, "lookup-a")
		_, pb := newFixture(t, db, "lookup-b")
		now := time.Now()
		withPayload := f.secret(pa, Secret{Name: ptr("p")}, "application/octet-stream")
		metaOnly := f.secret(pb, Secret{}, "")
		expired := f.secret(pa, Secret{Expiration: ptr(now.Add(time.Hour))}, "")
		deleted := f.secret(pa, Secret{}, "text/plain")
		write(t, db, func(tx *Tx) error { return tx.DeleteSecret(deleted.ID) })
		addACL(t, db, withPayload.ID, false, "u2", "u1")
		addConsumer(t, db, withPayload.ID, "glance", 0)
		addConsumer(t, db, withPayload.ID, "cinder", 1)

		v, err := readAt(db, now).Secret(withPayload.ID, LoadOptions{Consumers: true, Payload: true})
		if err != nil {
			t.Fatalf("Secret: %v", err)
		}
		if v.ProjectExternalID != "lookup-a" || !v.HasPayload || v.ContentType != "application/octet-stream" {
			t.Errorf("secret view should carry project, payload flag and content type, got %q %v %q",
				v.ProjectExternalID, v.HasPayload, v.ContentType)
		}
		if !v.CreatedAt.Equal(withPayload.CreatedAt) || !v.UpdatedAt.Equal(v.CreatedAt) {
			t.Errorf("timestamps should read back as written: %v/%v vs %v", v.CreatedAt, v.UpdatedAt, withPayload.CreatedAt)
		}
		if v.ReadACL == nil || v.ReadACL.ProjectAccess || len(v.ReadACL.Users) != 2 || v.ReadACL.Users[0] != "u1" {
			t.Errorf("read ACL should have project_access false and users [u1 u2], got %+v", v.ReadACL)
		}
		if len(v.Consumers) != 2 || v.Consumers[0].Service != "glance" {
			t.Errorf("consumers should be loaded in creation order, got %+v", v.Consumers)
		}
		if v.Data == nil || v.KEK == nil || v.KEK.ID != f.kek.ID || deref(v.Data.CypherText) != "Y2lwaGVy" {
			t.Errorf("payload should be loaded with its KEK, got %+v %+v", v.Data, v.KEK)
		}

		other, err := readAt(db, now).Secret(metaOnly.ID, LoadOptions{})
		if err != nil {
			t.Fatalf("a secret of another project should be found by id: %v", err)
		}
		if other.HasPayload || other.ContentType != "" || other.ReadACL != nil || other.Consumers != nil {
			t.Errorf("metadata-only secret should have no payload, ACL or consumers: %+v", other)
		}
		for name, tc := range map[string]struct {
			id  string
			now time.Time
		}{
			"an unknown id is not found":                 {NewID(), now},
			"a deleted secret is not found":              {deleted.ID, now},
			"a secret expiring exactly now is not found": {expired.ID, *expired.Expiration},
			"a secret past its expiration is not found":  {expired.ID, now.Add(2 * time.Hour)},
		} {
			if _, err := readAt(db, tc.now).Secret(tc.id, LoadOptions{}); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: got %v", name, err)
			}
		}
		if _, err := readAt(db, now).Secret(expired.ID, LoadOptions{}); err != nil {
			t.Errorf("a secret before its expiration should be found: %v", err)
		}
	})
}

func TestAddSecretPayload(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		f, pid := newFixture(t, db, "put")
		s := f.secret(pid, Secret{}, "")
		later := s.CreatedAt.Add(2 * time.Second)
		data := func() *EncryptedDatum {
			return &EncryptedDatum{ContentType: ptr("text/plain"), KEKID: f.kek.ID, CypherText: ptr("eA==")}
		}
		meta := map[string]string{"content_type": "text/plain", "plugin_name": "x"}
		if err := writeAt(t, db, later, func(tx *Tx) error { return tx.AddSecretPayload(s.ID, testPayload(data(), meta)) }); err != nil {
			t.Fatal(err)
		}
		err := db.Write(ctx, func(tx *Tx) error { return tx.AddSecretPayload(s.ID, testPayload(data(), meta)) })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("a second payload should conflict, got %v", err)
		}
		v, err := readAt(db, time.Now()).Secret(s.ID, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !v.HasPayload || v.ContentType != "text/plain" || !v.UpdatedAt.After(v.CreatedAt) {
			t.Errorf("payload upload should set content type and bump updated_at: %+v", v)
		}
	})
}

func TestDeleteSecretCascade(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		f, pid := newFixture(t, db, "del")
		s := f.secret(pid, Secret{}, "text/plain")
		keep := f.secret(pid, Secret{}, "text/plain")
		addACL(t, db, s.ID, true, "u1")
		addConsumer(t, db, s.ID, "nova", 0)
		write(t, db, func(tx *Tx) error {
			return tx.ReplaceSecretUserMetadata(s.ID, map[string]string{"a": "1"})
		})
		write(t, db, func(tx *Tx) error { return tx.DeleteSecret(s.ID) })
		err := db.Write(ctx, func(tx *Tx) error { return tx.DeleteSecret(s.ID) })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleting twice should be ErrNotFound, got %v", err)
		}
		for _, tc := range []struct {
			query string
			want  int64
		}{
			{"SELECT COUNT(*) FROM secrets WHERE id = ? AND deleted = 1 AND deleted_at IS NOT NULL", 1},
			{"SELECT COUNT(*) FROM secret_store_metadata WHERE secret_id = ? AND deleted = 0", 0},
			{"SELECT COUNT(*) FROM secret_store_metadata WHERE secret_id = ? AND deleted = 1", 2},
			{"SELECT COUNT(*) FROM encrypted_data WHERE secret_id = ? AND deleted = 1", 1},
			{"SELECT COUNT(*) FROM secret_user_metadata WHERE secret_id = ? AND deleted = 1", 1},
			{"SELECT COUNT(*) FROM secret_consumer_metadata WHERE secret_id = ? AND deleted = 1", 1},
			{"SELECT COUNT(*) FROM secret_acls WHERE secret_id = ?", 0},
		} {
			var n int64
			if err := db.reader.Raw(tc.query, s.ID).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("%s: got %d, want %d", tc.query, n, tc.want)
			}
		}
		var users int64
		db.reader.Raw("SELECT COUNT(*) FROM secret_acl_users").Scan(&users)
		if users != 0 {
			t.Errorf("ACL users should be hard-deleted, %d left", users)
		}
		if _, err := readAt(db, time.Now()).Secret(keep.ID, LoadOptions{}); err != nil {
			t.Errorf("other secrets should be untouched: %v", err)
		}
		if n := checkCounter(t, db, pid); n != 1 {
			t.Errorf("counter should be 1 after delete, is %d", n)
		}
	})
}

func TestSecretUserMetadata(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		f, pid := newFixture(t, db, "md")
		s := f.secret(pid, Secret{}, "")
		write(t, db, func(tx *Tx) error {
			return tx.ReplaceSecretUserMetadata(s.ID, map[string]string{"a": "1", "b": "2"})
		})
		write(t, db, func(tx *Tx) error {
			return tx.ReplaceSecretUserMetadata(s.ID, map[string]string{"b": "3", "c": "4"})
		})
		md, err := db.Read(ctx).SecretUserMetadata(s.ID)
		if err != nil || len(md) != 2 || md["b"] != "3" || md["c"] != "4" {
			t.Fatalf("replace should leave exactly the new set, got %v (%v)", md, err)
		}
		if err := db.Write(ctx, func(tx *Tx) error { return tx.CreateSecretUserMetadatum(s.ID, "c", "x") }); !errors.Is(err, ErrConflict) {
			t.Errorf("creating an existing key should conflict, got %v", err)
		}
		write(t, db, func(tx *Tx) error { return tx.CreateSecretUserMetadatum(s.ID, "d", "5") })
		write(t, db, func(tx *Tx) error { return tx.UpdateSecretUserMetadatum(s.ID, "d", "6") })
		if err := db.Write(ctx, func(tx *Tx) error { return tx.UpdateSecretUserMetadatum(s.ID, "zz", "6") }); !errors.Is(err, ErrNotFound) {
			t.Errorf("updating a missing key should be ErrNotFound, got %v", err)
		}
		if v, err := db.Read(ctx).SecretUserMetadatum(s.ID, "d"); err != nil || v != "6" {
			t.Errorf("updated value should read back, got %q %v", v, err)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteSecretUserMetadatum(s.ID, "d") })
		write(t, db, func(tx *Tx) error { return tx.DeleteSecretUserMetadatum(s.ID, "d") })
		if _, err := db.Read(ctx).SecretUserMetadatum(s.ID, "d"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted key should be ErrNotFound, got %v", err)
		}
		write(t, db, func(tx *Tx) error { return tx.ReplaceSecretUserMetadata(s.ID, nil) })
		if md, _ := db.Read(ctx).SecretUserMetadata(s.ID); len(md) != 0 {
			t.Errorf("replacing with nothing should clear metadata, got %v", md)
		}
	})
}

func TestKEKActivation(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const plugin = "barbican.plugin.crypto.p11_crypto.P11CryptoPlugin"
		pid := ensureProject(t, db, "kek")
		if _, err := db.Read(ctx).ActiveKEK(pid, plugin); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no KEK yet should be ErrNotFound, got %v", err)
		}
		base := time.Now().UTC().Truncate(time.Second)
		keks := make([]*KEKDatum, 3)
		write(t, db, func(tx *Tx) error {
			for i := range keks {
				keks[i] = &KEKDatum{PluginName: plugin, ProjectID: pid, KEKLabel: ptr("l")}
				keks[i].CreatedAt = base.Add(time.Duration(i) * time.Second)
				if err := tx.CreateKEK(keks[i]); err != nil {
					return err
				}
			}
			return nil
		})
		active, err := db.Read(ctx).ActiveKEK(pid, plugin)
		if err != nil || active.ID != keks[2].ID {
			t.Fatalf("the newest KEK should be active, got %+v %v", active, err)
		}
		for _, k := range keks[:2] {
			got, err := db.Read(ctx).KEK(k.ID)
			if err != nil || got.Active {
				t.Errorf("older KEK %s should be deactivated: %+v %v", k.ID, got, err)
			}
		}
		keks[2].Algorithm, keks[2].BitLength, keks[2].PluginMeta, keks[2].BindCompleted = ptr("aes"), ptr(256), ptr("{}"), true
		write(t, db, func(tx *Tx) error { return tx.SaveKEKBinding(keks[2]) })
		// A row is bound once: a second binding (another server's, racing) must not replace the first, which may
		// already encrypt secrets.
		if err := db.Write(ctx, func(tx *Tx) error { return tx.SaveKEKBinding(keks[2]) }); !errors.Is(err, ErrConflict) {
			t.Errorf("binding a bound row should be ErrConflict, got %v", err)
		}
		got, err := db.Read(ctx).KEK(keks[2].ID)
		if err != nil || !got.BindCompleted || deref(got.Algorithm) != "aes" || *got.BitLength != 256 {
			t.Errorf("binding should be saved, got %+v %v", got, err)
		}
		if _, err := db.Read(ctx).ActiveKEK(pid, "other.Plugin"); !errors.Is(err, ErrNotFound) {
			t.Errorf("KEKs are per plugin, got %v", err)
		}
	})
}

// TestSecretReadFoldsRows checks the folding of a secret read's joined rows (secret_get.go) on secrets with
// several store-metadata and encrypted-data rows, some deleted, against the list page's sub-selects, which
// state the same rules in SQL: both must agree on every secret, and the payload must be the earliest live
// encrypted datum.
func TestSecretReadFoldsRows(t *testing.T) {
	dialects(t, func(t *testing.T, db *DB) {
		f, pid := newFixture(t, db, "folds")
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		datum := func(secretID, contentType, cipher string, at time.Time, deleted bool) *EncryptedDatum {
			d := &EncryptedDatum{SecretID: secretID, KEKID: f.kek.ID, ContentType: ptr(contentType), CypherText: ptr(cipher)}
			d.init(at, StatusActive)
			d.Deleted = deleted
			return d
		}
		meta := func(secretID, key, value string, at time.Time, deleted bool) *SecretStoreMetadatum {
			m := &SecretStoreMetadatum{SecretID: secretID, Key: key, Value: value}
			m.init(at, StatusActive)
			m.Deleted = deleted
			return m
		}
		type want struct {
			contentType, cipher string
			hasPayload          bool
		}
		cases := map[string]struct {
			rows []any
			want want
		}{
			"metadata content type wins over the data's; the earliest of two": {
				rows: []any{meta("", "content_type", "text/late", t0.Add(2*time.Second), false),
					meta("", "content_type", "text/early", t0.Add(time.Second), false),
					meta("", "content_type", "text/deleted", t0, true),
					meta("", "plugin_name", "p", t0, false),
					datum("", "text/data", "late", t0.Add(3*time.Second), false),
					datum("", "text/data", "early", t0.Add(2*time.Second), false),
					datum("", "text/data", "deleted", t0, true)},
				want: want{"text/early", "early", true},
			},
			"without content_type metadata the earliest datum's": {
				rows: []any{meta("", "plugin_name", "p", t0, false),
					datum("", "text/second", "b", t0.Add(time.Second), false),
					datum("", "text/first", "a", t0, false)},
				want: want{"text/first", "a", true},
			},
			"metadata alone is a payload without a content type": {
				rows: []any{meta("", "key_uuid", "x", t0, false)},
				want: want{"", "", true},
			},
			"only deleted rows are no payload": {
				rows: []any{meta("", "content_type", "text/plain", t0, true), datum("", "text/plain", "x", t0, true)},
				want: want{"", "", false},
			},
		}
		ids := map[string]string{}
		for name, tc := range cases {
			s := f.secret(pid, Secret{Name: ptr(name)}, "")
			ids[name] = s.ID
			write(t, db, func(tx *Tx) error {
				for _, row := range tc.rows {
					switch r := row.(type) {
					case *EncryptedDatum:
						r.SecretID = s.ID
					case *SecretStoreMetadatum:
						r.SecretID = s.ID
					}
					if err := tx.insert(row); err != nil {
						return err
					}
				}
				return nil
			})
		}
		page, _, err := readAt(db, time.Now()).ListSecrets(SecretQuery{ProjectID: pid})
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]SecretView{}
		for _, v := range page {
			listed[v.ID] = v
		}
		for name, tc := range cases {
			v, err := readAt(db, time.Now()).Secret(ids[name], LoadOptions{Payload: true})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cipher := ""
			if v.Data != nil {
				cipher = deref(v.Data.CypherText)
			}
			if got := (want{v.ContentType, cipher, v.HasPayload}); got != tc.want {
				t.Errorf("%s: read %+v, want %+v", name, got, tc.want)
			}
			if l := listed[ids[name]]; l.ContentType != v.ContentType || l.HasPayload != v.HasPayload {
				t.Errorf("%s: the list says content type %q, payload %v; the read %q, %v",
					name, l.ContentType, l.HasPayload, v.ContentType, v.HasPayload)
			}
		}
	})
}
