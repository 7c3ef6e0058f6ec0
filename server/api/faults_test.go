package api

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestDatabaseCutMidWriteIs503 cuts the server's MariaDB connections while a create is inside its transaction:
// the client gets Barbican's 503 body, nothing of the create is stored, and the server recovers by itself.
func TestDatabaseCutMidWriteIs503(t *testing.T) {
	base := testbed.NewMySQLDatabase(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testbed.NewCutProxy(t, u.Host)
	s := newSetup(t, withDB(proxy.Through(base)), withRealClock())
	who := as{project: "cut", roles: "admin"}
	s.createSecret(who, `{"payload": "first", "payload_content_type": "text/plain"}`)

	dsn, err := testbed.DSN(base)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	ctx := context.Background()
	count := func() int {
		t.Helper()
		var n int
		if err := direct.QueryRowContext(ctx, "SELECT COUNT(*) FROM secrets s JOIN projects p ON p.id = s.project_id "+
			"WHERE p.external_id = 'cut'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Hold the project row: the create's INSERT into secrets needs a shared lock on it for its foreign key and
	// waits inside its transaction.
	lock, err := direct.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.ExecContext(ctx, "SELECT id FROM projects WHERE external_id = 'cut' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	answer := make(chan response, 1)
	go func() {
		answer <- s.do(who, request{method: "POST", path: "/v1/secrets", body: `{"payload": "second", "payload_content_type": "text/plain"}`})
	}()
	var thread int64
	waitFor(t, "the create to wait inside its transaction", func() bool {
		err := direct.QueryRowContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST "+
			"WHERE DB = DATABASE() AND INFO LIKE 'INSERT INTO secrets%' LIMIT 1").Scan(&thread)
		return err == nil
	})
	proxy.Cut()
	r := <-answer
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %d %s", r.status, r.body)
	}
	if d, _ := r.description(t).(string); !strings.HasPrefix(d, "Secret creation failure seen - the database is unavailable, please retry later. Request ID: req-") {
		t.Fatalf("unexpected 503 body %s", r.body)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	// MariaDB rolls the cut transaction back when its thread notices the client is gone and ends.
	waitFor(t, "the cut transaction to end", func() bool {
		var n int
		err := direct.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", thread).Scan(&n)
		return err == nil && n == 0
	})
	if n := count(); n != 1 {
		t.Fatalf("the cut create must leave nothing behind: %d secrets", n)
	}
	s.createSecret(who, `{"payload": "third", "payload_content_type": "text/plain"}`)
	if n := count(); n != 2 {
		t.Fatalf("after the cut the server should store again: %d secrets", n)
	}
}
