package store

import (
	"strings"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestListPlanMariaDB checks the plan MariaDB chooses for a page of a large project's secrets: the page must be
// read in order
// from keymanager_ix_secrets_list and stop after the page, never sort all of the project's rows. A plan that
// did would make a list in a project of 100k secrets cost 100 times one of 1k, which is what the list
// benchmarks guard against with timings and this test with the plan itself, for either direction.
func TestListPlanMariaDB(t *testing.T) {
	db := openTestDB(t, testbed.NewMySQLDatabase(t))
	f, big := newFixture(t, db, "plan-big")
	_, small := newFixture(t, db, "plan-small")
	seed(t, db, f.kek, big, 20_000)
	seed(t, db, f.kek, small, 20)
	// Statistics as they are after InnoDB's automatic recalculation, without waiting for it.
	if err := db.reader.Exec("ANALYZE TABLE secrets").Error; err != nil {
		t.Fatalf("analyze: %v", err)
	}

	for _, q := range []SecretQuery{
		{ProjectID: big, Limit: 10},
		{ProjectID: big, Limit: 10, Offset: 5000},
		{ProjectID: small, Limit: 10},
		{ProjectID: big, Limit: 10, Sort: []SortKey{{Column: "created_at"}}},
		{ProjectID: big, Limit: 10, Offset: 20, Sort: []SortKey{{Column: "created_at", Desc: true}}},
	} {
		tx := readAt(db, time.Now())
		if _, _, err := tx.ListSecrets(q); err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		st, err := tx.secretListStatement(q)
		if err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		// Only the default order is a kept prepared statement: sorts come from the request.
		if st.fixed != (len(q.Sort) == 0) {
			t.Errorf("list %+v: prepared %v, want it only for the default order", q, st.fixed)
		}
		rows, err := db.reader.Raw("EXPLAIN "+st.page, st.pageArgs...).Rows()
		if err != nil {
			t.Fatalf("explain: %v", err)
		}
		cols, _ := rows.Columns()
		var plan []map[string]string
		for rows.Next() {
			vals := make([]*string, len(cols))
			dest := make([]any, len(cols))
			for i := range vals {
				dest[i] = &vals[i]
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatalf("scan plan: %v", err)
			}
			row := map[string]string{}
			for i, c := range cols {
				if vals[i] != nil {
					row[c] = *vals[i]
				}
			}
			plan = append(plan, row)
		}
		_ = rows.Close()
		found := false
		for _, row := range plan {
			if row["table"] != "s" || row["select_type"] != "PRIMARY" {
				continue
			}
			found = true
			if row["key"] != "keymanager_ix_secrets_list" || strings.Contains(row["Extra"], "filesort") {
				t.Errorf("list %+v: secrets read with key %q (%s), want keymanager_ix_secrets_list without a sort; plan: %v",
					q, row["key"], row["Extra"], plan)
			}
		}
		// The total's count of expired secrets must range over the expiration index, touching only expired
		// rows; counting through the project index would read every secret of the project.
		for _, row := range plan {
			if row["table"] == "secrets" && row["key"] != "keymanager_ix_secrets_expiration" {
				t.Errorf("list %+v: the total counts expired secrets with key %q (%s rows), want keymanager_ix_secrets_expiration; plan: %v",
					q, row["key"], row["rows"], plan)
			}
		}
		if !found {
			t.Errorf("list %+v: no row for table s in the plan %v", q, plan)
		}
	}
}
