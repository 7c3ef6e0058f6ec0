package api

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

const goneBody = `{"payload": "abandoned-payload", "payload_content_type": "text/plain"}`

// rawPost sends a secret creation for project over a plain TCP connection and leaves the connection open.
func rawPost(t *testing.T, addr, project string) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := fmt.Sprintf("POST /v1/secrets HTTP/1.1\r\nHost: %s\r\nX-Project-Id: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n%s", addr, project, len(goneBody), goneBody)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return conn.(*net.TCPConn)
}

// afterClientLeaves holds every request until its client has gone, then serves it: the API then runs exactly as
// when a client leaves in the middle of a request. (net/http watches the connection once the body is read, and
// cancels the request's context when the client closes or half-closes it.) arrived is told when a request is
// held, so that the client leaves only once the server has its request.
func afterClientLeaves(next http.Handler, arrived chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// requestLogs returns the access-log records and fails on any ERROR record.
func requestLogs(t *testing.T, logs *lockedBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log lines should be JSON: %q", line)
		}
		if rec["level"] == "ERROR" {
			t.Errorf("a client going away is no server error: %s", line)
		}
		if rec["msg"] == "request" {
			out = append(out, rec)
		}
	}
	return out
}

// assertAbandoned checks the request's trace: one access-log line at INFO with status 499, a 499 in the metrics
// and no 5xx, and nothing of the secret stored.
func assertAbandoned(t *testing.T, s *setup, logs *lockedBuffer, project string, secrets int) {
	t.Helper()
	var seen bool
	for _, rec := range requestLogs(t, logs) {
		if rec["route"] == "POST /v1/secrets" && rec["status"] == float64(statusClientClosedRequest) {
			seen = true
			if rec["level"] != "INFO" {
				t.Errorf("the abandoned request should be logged at INFO: %v", rec)
			}
		}
	}
	if !seen {
		t.Errorf("no access-log line with status 499:\n%s", logs.String())
	}
	metrics := string(s.expect(as{}, request{method: "GET", path: "/metrics"}, http.StatusOK).body)
	if !strings.Contains(metrics, `keymanager_http_requests_total{code="499",method="POST",route="POST /v1/secrets"} 1`) {
		t.Errorf("the request should count as a 499:\n%s", metrics)
	}
	if strings.Contains(metrics, `code="5`) {
		t.Errorf("nothing should count as a 5xx:\n%s", metrics)
	}
	list := s.expect(as{project: project}, request{method: "GET", path: "/v1/secrets"}, http.StatusOK).json(t)
	if list["total"] != float64(secrets) {
		t.Errorf("the project should hold %d secrets, got %v", secrets, list)
	}
}

func TestAClientGoingAwayIsNoServerError(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		t.Run("the client closes its connection", func(t *testing.T) {
			var logs lockedBuffer
			s := newSetup(t, append(opts, withLogOutput(&logs))...)
			arrived := make(chan struct{}, 1)
			srv := httptest.NewServer(afterClientLeaves(s.server.Config.Handler, arrived))
			conn := rawPost(t, srv.Listener.Addr().String(), "gone")
			<-arrived
			_ = conn.Close()
			srv.Close() // waits for the request to finish
			assertAbandoned(t, s, &logs, "gone", 0)
		})
		t.Run("the client half-closes its connection and reads the answer", func(t *testing.T) {
			var logs lockedBuffer
			s := newSetup(t, append(opts, withLogOutput(&logs))...)
			arrived := make(chan struct{}, 1)
			srv := httptest.NewServer(afterClientLeaves(s.server.Config.Handler, arrived))
			defer srv.Close()
			conn := rawPost(t, srv.Listener.Addr().String(), "half")
			defer conn.Close()
			<-arrived
			if err := conn.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != statusClientClosedRequest {
				t.Fatalf("want 499, got %d: %s", resp.StatusCode, body)
			}
			assertBody(t, response{body: body}, `{"code":499,"title":"Client Closed Request",`+
				`"description":"Secret creation abandoned - the client closed the connection."}`)
			assertAbandoned(t, s, &logs, "half", 0)
		})
	})
}

// A client that leaves while its secret's transaction is under way on MariaDB: the driver drops the connection,
// MariaDB rolls the transaction back, and nothing of the secret remains -- not the secrets row already inserted,
// nor the project counter its trigger moved.
func TestAClientGoingAwayMidTransactionLeavesNothingOnMariaDB(t *testing.T) {
	dbURL := testbed.NewMySQLDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	var logs lockedBuffer
	s := newSetup(t, withDB(dbURL), withLogOutput(&logs))
	s.createSecret(as{project: "mid"}, goneBody) // the project, its KEK and one secret

	dsn, err := testbed.DSN(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	side, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	ctx := context.Background()
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := side.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	const project = "(SELECT id FROM projects WHERE external_id = 'mid')"
	// The test's account sees its own threads in the process list, the server's among them (INNODB_TRX would
	// need the PROCESS privilege).
	const waiting = "SELECT COALESCE(MAX(ID), 0) FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE " +
		"'INSERT INTO encrypted_data%'"
	const alive = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?"
	// Lock the project's KEK row: the new secret's encrypted_data row references it, so the creation inserts its
	// secrets row, then waits on the foreign-key check of encrypted_data.
	lock, err := side.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.ExecContext(ctx, "SELECT id FROM kek_data WHERE project_id = "+project+" FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.server.Config.Handler)
	conn := rawPost(t, srv.Listener.Addr().String(), "mid")
	var thread int
	waitFor(t, "the creation to wait for the lock", func() bool {
		thread = count(waiting, dbName)
		return thread != 0
	})
	_ = conn.Close()
	srv.Close() // the handler has answered
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The abandoned transaction can commit no more once its thread has ended: MariaDB rolls back the open
	// transaction of a connection that went away.
	waitFor(t, "the abandoned connection's thread to end", func() bool { return count(alive, thread) == 0 })

	if n := count("SELECT COUNT(*) FROM secrets WHERE project_id = " + project); n != 1 {
		t.Errorf("only the first secret should exist, found %d secrets rows", n)
	}
	if n := count("SELECT COUNT(*) FROM encrypted_data e JOIN secrets s ON s.id = e.secret_id WHERE s.project_id = " +
		project); n != 1 {
		t.Errorf("only the first secret's encrypted_data should exist, found %d", n)
	}
	if n := count("SELECT COALESCE(SUM(live), 0) FROM keymanager_project_counts WHERE resource = 'secrets' AND project_id = " + project); n != 1 {
		t.Errorf("the project's secret counter should be back at 1, got %d", n)
	}
	assertAbandoned(t, s, &logs, "mid", 1)
}

// waitFor polls cond until it holds; the bound only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}
