package store

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// TimeFilter compares a timestamp column: Op is "eq", "gt", "gte", "lt" or
// "lte".
type TimeFilter struct {
	Op    string
	Value time.Time
}

// SortKey orders a secret list by a secrets column: name, algorithm,
// bit_length, created_at, expiration, mode, secret_type, status, updated_at.
type SortKey struct {
	Column string
	Desc   bool
}

// SecretQuery selects a page of live secrets (spec §4.2 list).
type SecretQuery struct {
	ProjectID string // internal projects.id (required unless ACLUserID is set)
	ACLUserID string // acl_only: secrets whose read ACL lists this user, in any project

	Name, Algorithm, Mode string // SQL LIKE patterns as given ("" = no filter)
	BitLength             int    // > 0 filters
	SecretType            string

	Created, Updated, Expiration []TimeFilter

	Sort          []SortKey // empty = created_at ASC; id is the final tiebreak, in the last key's direction
	Offset, Limit int       // Limit <= 0 = no limit
	Consumers     bool      // load consumers for the page (one query for the whole page)
}

// sortColumns are the sortable columns; true marks text, which sorts by collation.
var sortColumns = map[string]bool{
	"name": true, "algorithm": true, "bit_length": false, "created_at": false, "expiration": false,
	"mode": true, "secret_type": true, "status": true, "updated_at": false,
}

var timeOps = map[string]string{"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// ListSecrets returns a page of live secrets (not deleted, expiration NULL
// or after tx.Now) and the total matching. The page, the total and the
// page's details cost three queries; the unfiltered project total reads the
// counter table instead of counting rows (see MIGRATIONS.md).
func (tx *Tx) ListSecrets(q SecretQuery) (page []SecretView, total int, err error) {
	st, err := tx.secretListStatement(q)
	if err != nil {
		return nil, 0, err
	}
	var totalPtr *int
	if st.counted {
		totalPtr = &total
	}
	page, err = tx.querySecrets(st.fixed, st.page, st.pageArgs, q.Consumers, totalPtr)
	if err != nil {
		return nil, 0, fmt.Errorf("list secrets: %w", err)
	}
	switch {
	case !st.counted:
		total, err = tx.count(st.count, st.countArgs...)
	case len(page) == 0: // no row carried the total
		total, err = tx.projectSecretTotal(q.ProjectID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("list secrets: count: %w", err)
	}
	return page, total, nil
}

// secretListStatement is what a list sends: the page query, and either the total in the page's rows (counted)
// or a count query.
type secretListStatement struct {
	page      string
	pageArgs  []any
	fixed     bool // page is one of the closed set of hot-path texts (Tx.queryFixed)
	counted   bool
	count     string
	countArgs []any
}

func (tx *Tx) secretListStatement(q SecretQuery) (*secretListStatement, error) {
	from := "secrets s JOIN projects p ON p.id = s.project_id"
	where := []string{"s.deleted = 0", "(s.expiration IS NULL OR s.expiration > ?)"}
	args := []any{formatTime(tx.now)}
	filtered := false
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
		filtered = true
	}
	switch {
	case q.ACLUserID != "":
		from += " JOIN secret_acls a ON a.secret_id = s.id AND a.operation = 'read'" +
			" JOIN secret_acl_users u ON u.acl_id = a.id"
		add("u.user_id = ?", q.ACLUserID)
	case q.ProjectID != "":
		where = append(where, "s.project_id = ?")
		args = append(args, q.ProjectID)
	default:
		return nil, fmt.Errorf("list secrets: neither project nor ACL user given")
	}
	// Text filters and sorts compare as MariaDB's default collation does, on SQLite too (see collation.go).
	if q.Name != "" {
		add(ciLike(tx.Dialect(), "s.name"), q.Name)
	}
	if q.Algorithm != "" {
		add(ciLike(tx.Dialect(), "s.algorithm"), q.Algorithm)
	}
	if q.Mode != "" {
		add(ciLike(tx.Dialect(), "s.mode"), q.Mode)
	}
	if q.BitLength > 0 {
		add("s.bit_length = ?", q.BitLength)
	}
	if q.SecretType != "" {
		add(ciColumn(tx.Dialect(), "s.secret_type")+" = ?", q.SecretType)
	}
	for _, tf := range []struct {
		column  string
		filters []TimeFilter
	}{{"created_at", q.Created}, {"updated_at", q.Updated}, {"expiration", q.Expiration}} {
		for _, f := range tf.filters {
			op, ok := timeOps[f.Op]
			if !ok {
				return nil, fmt.Errorf("list secrets: unknown time filter operator %q", f.Op)
			}
			add("s."+tf.column+" "+op+" ?", formatTime(f.Value))
		}
	}
	order := make([]string, 0, len(q.Sort)+2)
	for _, k := range q.Sort {
		text, ok := sortColumns[k.Column]
		if !ok {
			return nil, fmt.Errorf("list secrets: unknown sort column %q", k.Column)
		}
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		column := "s." + k.Column
		if text {
			column = ciColumn(tx.Dialect(), column)
		}
		order = append(order, column+dir)
	}
	// The id breaks ties so that pages never overlap; it runs the way the last key runs, so that a sort by
	// created_at either way reads the list index (project_id, deleted, created_at, id) forwards or backwards
	// and stops after the page, instead of sorting every secret of the project.
	tiebreak := "s.id ASC"
	if len(order) == 0 {
		order = append(order, "s.created_at ASC")
	} else if q.Sort[len(q.Sort)-1].Desc {
		tiebreak = "s.id DESC"
	}
	order = append(order, tiebreak)
	limit := q.Limit
	if limit <= 0 {
		limit = math.MaxInt32
	}
	offset := max(q.Offset, 0)

	whereSQL := strings.Join(where, " AND ")
	// An unfiltered project list reads its total from the counters in the page's own query, so the usual list
	// costs one statement; a filtered one counts its matches in a second.
	counted := !filtered && q.ACLUserID == "" && tx.db.counterReady.Load()
	st := &secretListStatement{counted: counted}
	cols := listColumns[listShape{tx.Dialect(), q.Consumers}]
	if counted {
		cols += ", (" + projectSecretTotalSQL + ") AS total"
		st.pageArgs = append(st.pageArgs, q.ProjectID, q.ProjectID, formatTime(tx.now))
	} else {
		st.count, st.countArgs = "SELECT COUNT(*) FROM "+from+" WHERE "+whereSQL, args
	}
	st.pageArgs = append(append(st.pageArgs, args...), limit, offset)
	st.page = "SELECT " + cols + " FROM " + from + " WHERE " + whereSQL + " ORDER BY " + strings.Join(order, ", ") +
		" LIMIT ? OFFSET ?"
	// The usual list -- a project's, unfiltered, in the default order -- is one of two texts per dialect (with
	// consumers or not) and runs as a prepared statement; the others are built from request input and are not
	// kept.
	st.fixed = counted && len(q.Sort) == 0
	return st, nil
}

// projectSecretTotalSQL is the number of live secrets of a project (arguments: project id twice, now) without
// scanning them: the trigger-kept count of non-deleted secrets minus the non-deleted ones already expired (a
// range on the expiration index that touches only expired rows).
const projectSecretTotalSQL = "SELECT (SELECT COALESCE(SUM(live), 0) FROM " + projectCountsTable +
	" WHERE project_id = ? AND resource = 'secrets') - (SELECT COUNT(*) FROM secrets WHERE project_id = ? " +
	"AND deleted = 0 AND expiration <= ?)"

// projectSecretTotal is projectSecretTotalSQL on its own.
func (tx *Tx) projectSecretTotal(projectID string) (int, error) {
	if !tx.db.counterReady.Load() {
		return 0, fmt.Errorf("project counters: %w", ErrNotFound)
	}
	n, err := tx.count(projectSecretTotalSQL, projectID, projectID, formatTime(tx.now))
	if err != nil {
		return 0, fmt.Errorf("count project secrets: %w", err)
	}
	return n, nil
}
