package store

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// A single secret is read by one statement that joins its rows, where a list page asks correlated sub-selects
// for the same facts (secrets_details.go). MariaDB plans every sub-select of a statement again at each
// execution, even of a prepared one, and planning the six of a secret read cost it more than running them: the
// joined read costs MariaDB about half the CPU (measured with 1,000 reads of one statement), and SQLite the
// same as before. The joins give one row per pair of the secret's store-metadata and encrypted-data rows --
// two for a secret stored by keymanager or the reference (content_type and plugin_name metadata, one
// encrypted datum) -- which fold into one view below by the rules the sub-selects state: the content type is
// the value of the earliest content_type metadata row, else the earliest encrypted datum's; the secret has a
// payload when it has either kind of row; the payload is the earliest encrypted datum with its KEK. "Earliest"
// is by created_at then id, as the sub-selects order.

// getQueries are the texts of a secret read by id: per dialect, with or without consumers and the payload.
// They are built once, so a read is always one of these eight prepared statements (see Tx.queryFixed).
var getQueries = func() map[getShape]string {
	m := map[getShape]string{}
	for _, d := range []string{DialectSQLite, DialectMySQL} {
		for _, consumers := range []bool{false, true} {
			for _, payload := range []bool{false, true} {
				metaCreated := "m.created_at"
				if d == DialectSQLite {
					metaCreated = "+m.created_at" // as textTimes does for the other timestamps
				}
				cols := secretColumns + ", m." + quote(d, "key") + ", m.value, " + metaCreated + ", m.id, a.id"
				if consumers {
					cols += ", EXISTS (SELECT 1 FROM secret_consumer_metadata c WHERE c.secret_id = s.id AND c.deleted = 0)"
				} else {
					cols += ", 0"
				}
				join := " LEFT JOIN secret_store_metadata m ON m.secret_id = s.id AND m.deleted = 0" +
					" LEFT JOIN encrypted_data e ON e.secret_id = s.id AND e.deleted = 0"
				if payload {
					cols += payloadColumns
					join += " LEFT JOIN kek_data k ON k.id = e.kek_id"
				} else {
					cols += ", e.id, e.created_at, e.content_type"
				}
				join += " LEFT JOIN secret_acls a ON a.secret_id = s.id AND a.operation = 'read'"
				q := "SELECT " + cols + " FROM secrets s JOIN projects p ON p.id = s.project_id" + join +
					" WHERE s.id = ? AND s.deleted = 0 AND (s.expiration IS NULL OR s.expiration > ?)"
				if d == DialectSQLite {
					q = textTimes.Replace(q)
				}
				m[getShape{d, consumers, payload}] = q
			}
		}
	}
	return m
}()

type getShape struct {
	dialect            string
	consumers, payload bool
}

// Secret returns a live secret (not deleted, not expired at tx.Now) of any project, or ErrNotFound: one query
// (with the payload row when asked), plus one each for an ACL's users and for consumers (when asked and
// present).
func (tx *Tx) Secret(id string, o LoadOptions) (*SecretView, error) {
	rows, err := tx.queryFixed(getQueries[getShape{tx.Dialect(), o.Consumers, o.Payload}], id, formatTime(tx.now))
	if err != nil {
		return nil, fmt.Errorf("look up secret: %w", err)
	}
	defer rows.Close()
	var (
		v                   SecretView
		found               bool
		sc                  secretScan
		metaKey, metaValue  sql.NullString
		metaID, aclID       sql.NullString
		metaCreated         *time.Time
		hasConsumers        sql.NullBool
		pl                  payloadScan
		contentType         earliest[string]
		data                earliest[payloadScan]
		hasMeta, hasPayload bool
	)
	dest := append(sc.dest(&v), &metaKey, &metaValue, nullDBTimeScanner{&metaCreated}, &metaID, &aclID, &hasConsumers)
	if o.Payload {
		dest = append(dest, pl.dest()...)
	} else {
		dest = append(dest, &pl.dataID, nullDBTimeScanner{&pl.dataCreated}, &pl.contentType)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan secret: %w", classify(err))
		}
		found = true
		if metaID.Valid {
			hasMeta = true
			if metaKey.String == "content_type" {
				contentType.offer(metaCreated, metaID.String, metaValue.String)
			}
		}
		if pl.dataID.Valid {
			hasPayload = true
			data.offer(pl.dataCreated, pl.dataID.String, pl)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read secret: %w", classify(err))
	}
	if !found {
		return nil, fmt.Errorf("secret: %w", ErrNotFound)
	}
	sc.fill(&v)
	v.HasPayload = hasMeta || hasPayload
	switch {
	case contentType.set:
		v.ContentType = contentType.value
	case data.set:
		v.ContentType = data.value.contentType.String
	}
	if o.Payload && data.set {
		data.value.fill(&v)
	}
	views := []SecretView{v}
	var withACL, withConsumers []string
	if aclID.Valid {
		withACL = []string{v.ID}
	}
	if o.Consumers {
		views[0].Consumers = []SecretConsumerMetadatum{}
		if hasConsumers.Bool {
			withConsumers = []string{v.ID}
		}
	}
	if err := tx.loadSecretExtras(views, withACL, withConsumers); err != nil {
		return nil, err
	}
	return &views[0], nil
}

// earliest keeps the value of the row that sorts first by (created_at, id), as ORDER BY created_at, id LIMIT 1
// picks it: a NULL created_at sorts before any time, and ids compare as MariaDB's case-insensitive collation
// compares them.
type earliest[T any] struct {
	set   bool
	at    *time.Time
	id    string
	value T
}

func (e *earliest[T]) offer(at *time.Time, id string, value T) {
	if e.set && !before(at, id, e.at, e.id) {
		return
	}
	e.set, e.at, e.id, e.value = true, at, id, value
}

func before(at *time.Time, id string, than *time.Time, thanID string) bool {
	switch {
	case at == nil && than != nil:
		return true
	case at != nil && than == nil:
		return false
	case at != nil && !at.Equal(*than):
		return at.Before(*than)
	}
	return strings.ToLower(id) < strings.ToLower(thanID)
}
