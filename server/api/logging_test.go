package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keymanager-io/keymanager/server/store"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogsCarryRequestIDsButNeverPayloads(t *testing.T) {
	var logs lockedBuffer
	s := newSetup(t, withLogOutput(&logs))
	const text = "text-payload-that-must-not-be-logged"
	binary := []byte("binary-payload-that-must-not-be-logged")
	b64 := base64.StdEncoding.EncodeToString(binary)

	id := s.createSecret(admin, `{"payload": "`+text+`", "payload_content_type": "text/plain"}`)
	s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload", header: map[string]string{"Accept": "text/plain"}}, 200)
	bin := s.createSecret(admin, `{"payload": "`+b64+`", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`)
	s.expect(admin, request{method: "GET", path: "/v1/secrets/" + bin + "/payload"}, 200)
	empty := s.createSecret(admin, `{}`)
	s.expect(admin, request{method: "PUT", path: "/v1/secrets/" + empty, body: text + "-put",
		header: map[string]string{"Content-Type": "text/plain"}}, 204)
	// Failing requests that carry a payload are logged too.
	s.expect(admin, request{method: "POST", path: "/v1/secrets", body: `{"payload": "` + text + `"}`}, 400)
	s.expect(admin, request{method: "PUT", path: "/v1/secrets/" + id, body: text,
		header: map[string]string{"Content-Type": "text/plain"}}, 409)

	out := logs.String()
	for _, secret := range []string{text, string(binary), b64} {
		if strings.Contains(out, secret) {
			t.Fatalf("a payload reached the logs:\n%s", out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	requests := 0
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log lines should be JSON: %q", line)
		}
		if rec["msg"] == "request" {
			requests++
			if id, _ := rec["request_id"].(string); !requestIDPattern.MatchString(id) {
				t.Errorf("every request log line should carry the request id: %v", rec)
			}
		}
	}
	if requests < 8 {
		t.Errorf("expected one log line per request, got %d", requests)
	}
}

func TestServerErrorsKeepTheirCauseOutOfTheAnswer(t *testing.T) {
	var logs lockedBuffer
	s := newSetup(t, withLogOutput(&logs))
	a, err := New(DefaultConfig(), Deps{DB: s.db, Secrets: nil, Policy: nil, Auth: nil})
	if err == nil || a != nil {
		t.Fatalf("New should refuse missing collaborators")
	}
	cases := map[string]struct {
		err    error
		status int
		prefix string
	}{
		"an unavailable database is a 503": {
			err: fmt.Errorf("query: %w", store.ErrUnavailable), status: http.StatusServiceUnavailable,
			prefix: "Secret creation failure seen - the database is unavailable, please retry later. Request ID: req-"},
		"anything unexpected is a 500": {
			err: errors.New("disk on fire at /var/lib/secret-path"), status: http.StatusInternalServerError,
			prefix: "Secret creation failure seen - please contact site administrator. Request ID: req-"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := newMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			api := &API{log: newTestLogger(&logs), metrics: m}
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/v1/secrets", nil)
			api.withRequest(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				api.writeError(w, r, "Secret creation", tc.err)
			})).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("want %d, got %d", tc.status, w.Code)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Description == nil {
				t.Fatalf("want Barbican's error body, got %s", w.Body.String())
			}
			if !strings.HasPrefix(*body.Description, tc.prefix) || strings.Contains(*body.Description, "disk on fire") {
				t.Fatalf("unexpected description %q", *body.Description)
			}
			if !strings.Contains(logs.String(), tc.err.Error()) {
				t.Errorf("the cause should be logged for operators")
			}
		})
	}
}

// TestOrderLogsNeverCarryKeysOrPassphrases processes orders with the workers logging at debug level: neither a
// passphrase (in an order's meta) nor generated key material reaches the logs, also when an order fails.
func TestOrderLogsNeverCarryKeysOrPassphrases(t *testing.T) {
	var logs lockedBuffer
	s := newSetup(t, withLogOutput(&logs))
	const passphrase = "passphrase-that-must-not-be-logged"
	pair := s.waitOrder(admin, s.createOrder(admin, `{"type": "asymmetric", "meta": {"algorithm": "rsa",
		"bit_length": 1024, "passphrase": "`+passphrase+`"}}`))
	failed := s.waitOrder(admin, s.createOrder(admin, `{"type": "asymmetric", "meta": {"algorithm": "rsa",
		"bit_length": 1000, "passphrase": "`+passphrase+`"}}`))
	key := s.waitOrder(admin, s.createOrder(admin, `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}}`))
	if pair["status"] != "ACTIVE" || failed["status"] != "ERROR" || key["status"] != "ACTIVE" {
		t.Fatalf("unexpected outcomes: %v / %v / %v", pair, failed, key)
	}
	raw := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + refID(t, key["secret_ref"]) + "/payload"}, 200).body
	out := logs.String()
	for _, secret := range []string{passphrase, base64.StdEncoding.EncodeToString(raw), fmt.Sprintf("%x", raw),
		"PRIVATE KEY"} {
		if strings.Contains(out, secret) {
			t.Fatalf("%q reached the logs:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, `"msg":"Order failed"`) {
		t.Errorf("a failed order should be logged (without its secrets):\n%s", out)
	}
}
