package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// Secret reads are the hot path of the API (every get, payload get and list). A list page returns the secret
// rows together with a summary of their payload and ACL computed by correlated sub-selects -- index probes on
// secret_id -- and a single secret is read by joins (secret_get.go); rows are scanned with database/sql rather
// than gorm's reflection. The rare extras (ACL user lists, consumers) cost one more query only for the secrets
// that have them.

// summaryColumns are appended to secretColumns: the content type (the store metadata's, else the first
// encrypted_data row's), whether the secret has a payload (store metadata or encrypted data), whether it has a
// read ACL and consumers. COALESCE and OR stop at the first answer, so for the usual secret -- stored with
// store metadata, by keymanager or the reference -- encrypted_data is not read at all.
func summaryColumns(dialect string, consumers bool) string {
	key := quote(dialect, "key")
	cols := ", COALESCE((SELECT m.value FROM secret_store_metadata m WHERE m.secret_id = s.id AND m." + key +
		" = 'content_type' AND m.deleted = 0 ORDER BY m.created_at, m.id LIMIT 1)" +
		", (SELECT e.content_type FROM encrypted_data e WHERE e.secret_id = s.id AND e.deleted = 0" +
		" ORDER BY e.created_at, e.id LIMIT 1)) AS content_type" +
		", (EXISTS (SELECT 1 FROM secret_store_metadata m WHERE m.secret_id = s.id AND m.deleted = 0)" +
		" OR EXISTS (SELECT 1 FROM encrypted_data e WHERE e.secret_id = s.id AND e.deleted = 0)) AS has_payload" +
		", EXISTS (SELECT 1 FROM secret_acls a WHERE a.secret_id = s.id AND a.operation = 'read') AS has_acl"
	if consumers {
		cols += ", EXISTS (SELECT 1 FROM secret_consumer_metadata c WHERE c.secret_id = s.id AND c.deleted = 0) AS has_consumers"
	} else {
		cols += ", 0 AS has_consumers"
	}
	return cols
}

// payloadColumns are an encrypted_data row (e) and its kek_data row (k), for a payload read.
const payloadColumns = ", e.id, e.created_at, e.updated_at, e.status, e.content_type, e.kek_id, e.cypher_text," +
	" e.kek_meta_extended, k.id, k.created_at, k.updated_at, k.status, k.plugin_name, k.kek_label, k.project_id," +
	" k.active, k.bind_completed, k.algorithm, k.bit_length, k.mode, k.plugin_meta"

// payloadScan receives payloadColumns.
type payloadScan struct {
	dataID, dataStatus, kekID, kekStatus, pluginName, kekProjectID                    sql.NullString
	contentType, dataKEKID, cypherText, kekMetaExtended, label, alg, mode, pluginMeta sql.NullString
	dataCreated, dataUpdated, kekCreated, kekUpdated                                  *time.Time
	active, bound                                                                     sql.NullBool
	bits                                                                              sql.NullInt64
}

func (p *payloadScan) dest() []any {
	return []any{&p.dataID, nullDBTimeScanner{&p.dataCreated}, nullDBTimeScanner{&p.dataUpdated}, &p.dataStatus,
		&p.contentType, &p.dataKEKID, &p.cypherText, &p.kekMetaExtended, &p.kekID, nullDBTimeScanner{&p.kekCreated},
		nullDBTimeScanner{&p.kekUpdated}, &p.kekStatus, &p.pluginName, &p.label, &p.kekProjectID, &p.active, &p.bound,
		&p.alg, &p.bits, &p.mode, &p.pluginMeta}
}

func (p *payloadScan) fill(v *SecretView) {
	if !p.dataID.Valid {
		return
	}
	d := &EncryptedDatum{Model: Model{ID: p.dataID.String, Status: p.dataStatus.String}, ContentType: nullString(p.contentType),
		SecretID: v.ID, KEKID: p.dataKEKID.String, CypherText: nullString(p.cypherText), KEKMetaExtended: nullString(p.kekMetaExtended)}
	if p.dataCreated != nil {
		d.CreatedAt = *p.dataCreated
	}
	if p.dataUpdated != nil {
		d.UpdatedAt = *p.dataUpdated
	}
	v.Data = d
	if !p.kekID.Valid {
		return
	}
	k := &KEKDatum{Model: Model{ID: p.kekID.String, Status: p.kekStatus.String}, PluginName: p.pluginName.String,
		KEKLabel: nullString(p.label), ProjectID: p.kekProjectID.String, Active: p.active.Bool, BindCompleted: p.bound.Bool,
		Algorithm: nullString(p.alg), Mode: nullString(p.mode), PluginMeta: nullString(p.pluginMeta)}
	if p.kekCreated != nil {
		k.CreatedAt = *p.kekCreated
	}
	if p.kekUpdated != nil {
		k.UpdatedAt = *p.kekUpdated
	}
	if p.bits.Valid {
		b := int(p.bits.Int64)
		k.BitLength = &b
	}
	v.KEK = k
}

// querySecrets runs a query selecting secretColumns + summaryColumns and completes the views: ACL users and
// (when asked) consumers are loaded for the secrets that have them. fixed says the text is one of the closed
// set of hot-path texts (see Tx.queryFixed). When total is not nil the query selects one more column, the same
// integer on every row (a list's total), scanned into it.
func (tx *Tx) querySecrets(fixed bool, query string, args []any, consumers bool, total *int) ([]SecretView, error) {
	run := tx.query
	if fixed {
		run = tx.queryFixed
	}
	rows, err := run(query, args...)
	if err != nil {
		return nil, fmt.Errorf("query secrets: %w", err)
	}
	defer rows.Close()
	var views []SecretView
	var withACL, withConsumers []string
	for rows.Next() {
		var v SecretView
		var sc secretScan
		var contentType sql.NullString
		var hasPayload, hasACL, hasConsumers sql.NullBool
		dest := append(sc.dest(&v), &contentType, &hasPayload, &hasACL, &hasConsumers)
		if total != nil {
			dest = append(dest, total)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan secret: %w", classify(err))
		}
		sc.fill(&v)
		v.HasPayload = hasPayload.Bool
		v.ContentType = contentType.String
		if consumers {
			v.Consumers = []SecretConsumerMetadatum{}
		}
		if hasACL.Bool {
			withACL = append(withACL, v.ID)
		}
		if hasConsumers.Bool {
			withConsumers = append(withConsumers, v.ID)
		}
		views = append(views, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read secrets: %w", classify(err))
	}
	return views, tx.loadSecretExtras(views, withACL, withConsumers)
}

// loadSecretExtras loads the ACL users of the views listed in withACL and the consumers of those in
// withConsumers, a query each when any is listed.
func (tx *Tx) loadSecretExtras(views []SecretView, withACL, withConsumers []string) error {
	if err := tx.loadACLs(views, withACL); err != nil {
		return err
	}
	return tx.loadConsumers(views, withConsumers)
}

// secretScan receives secretColumns.
type secretScan struct {
	name, secretType, algorithm, mode, creator sql.NullString
	bits                                       sql.NullInt64
}

func (sc *secretScan) dest(v *SecretView) []any {
	return []any{&v.ID, dbTimeScanner{&v.CreatedAt}, dbTimeScanner{&v.UpdatedAt},
		nullDBTimeScanner{&v.DeletedAt}, &v.Deleted, &v.Status, &sc.name, &sc.secretType,
		nullDBTimeScanner{&v.Expiration}, &sc.algorithm, &sc.bits, &sc.mode, &sc.creator, &v.ProjectID, &v.ProjectExternalID}
}

func (sc *secretScan) fill(v *SecretView) {
	v.Name, v.Algorithm, v.Mode, v.CreatorID = nullString(sc.name), nullString(sc.algorithm), nullString(sc.mode), nullString(sc.creator)
	if sc.bits.Valid {
		b := int(sc.bits.Int64)
		v.BitLength = &b
	}
	v.SecretType = sc.secretType.String
	if v.SecretType == "" {
		v.SecretType = DefaultSecretType
	}
}

// loadACLs fills ReadACL of the views whose ids are listed, users sorted by id.
func (tx *Tx) loadACLs(views []SecretView, ids []string) error {
	acls, err := tx.readACLs(SecretACLs, ids)
	if err != nil {
		return err
	}
	for i := range views {
		if acl, ok := acls[views[i].ID]; ok {
			views[i].ReadACL = acl
		}
	}
	return nil
}

// loadConsumers fills Consumers (non-deleted, by created_at) of the views whose ids are listed.
func (tx *Tx) loadConsumers(views []SecretView, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var rows []SecretConsumerMetadatum
	err := tx.g.Where("secret_id IN ? AND deleted = ?", ids, false).Order("secret_id, created_at, id").
		Find(&rows).Error
	if err != nil {
		return fmt.Errorf("load secret consumers: %w", classify(err))
	}
	byID := indexViews(views)
	for _, c := range rows {
		if v := byID[c.SecretID]; v != nil {
			v.Consumers = append(v.Consumers, c)
		}
	}
	return nil
}

func indexViews(views []SecretView) map[string]*SecretView {
	byID := make(map[string]*SecretView, len(views))
	for i := range views {
		byID[views[i].ID] = &views[i]
	}
	return byID
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// dbTimeScanner scans a DATETIME column as the drivers return it (time.Time, text or bytes) into UTC.
type dbTimeScanner struct{ dst *time.Time }

func (s dbTimeScanner) Scan(v any) error {
	if v == nil {
		*s.dst = time.Time{}
		return nil
	}
	t, err := parseDBTime(v)
	*s.dst = t
	return err
}

type nullDBTimeScanner struct{ dst **time.Time }

func (s nullDBTimeScanner) Scan(v any) error {
	if v == nil {
		*s.dst = nil
		return nil
	}
	t, err := parseDBTime(v)
	if err != nil {
		return err
	}
	*s.dst = &t
	return nil
}

// maxHandPrepared bounds the hand-kept statement cache. Only the fixed hot-path texts reach it (Tx.queryFixed),
// a handful; the bound makes sure that a mistake there cannot pile up prepared statements on MariaDB, where they
// count against the server-wide max_prepared_stmt_count.
const maxHandPrepared = 16

// queryPrepared runs query on the read pool through a statement prepared once per query text (database/sql
// prepares it again per connection as needed). Past maxHandPrepared texts nothing more is kept: the query is
// prepared for one use by database/sql, as an unprepared query is.
func (db *DB) queryPrepared(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt).QueryContext(ctx, args...)
	}
	if db.nstmts.Load() >= maxHandPrepared {
		db.log.Warn("Hand-prepared statement cache full; preparing for one use", slog.Int("limit", maxHandPrepared))
		return db.readSQL.QueryContext(ctx, query, args...)
	}
	s, err := db.readSQL.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		_ = s.Close()
		s = prev.(*sql.Stmt)
	} else {
		db.nstmts.Add(1)
	}
	return s.QueryContext(ctx, args...)
}

// readContext is the context of a read (see DB.Read).
func (db *DB) readContext(ctx context.Context) context.Context {
	if db.dialect == DialectSQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}
