package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// TestTakesOverAReferenceDatabase lets the reference Barbican write secrets
// through its own API (one-step text and binary, a two-step upload, a key
// order, user metadata) into MariaDB, then starts keymanager on the same
// database while the reference keeps running. Both servers then answer the
// same requests about the same rows, and must answer alike: keymanager reads
// the reference's rows, and the reference reads keymanager's.
func TestTakesOverAReferenceDatabase(t *testing.T) {
	ref := testbed.StartReferenceBarbican(t, testbed.ReferenceOptions{})
	const project = "takeover"
	h := map[string]string{"X-Project-Id": project, "X-User-Id": "u1"}
	text := refCreate(t, ref.URL, h, `{"name": "text", "payload": "written by barbican", "payload_content_type": "text/plain"}`)
	binary := refCreate(t, ref.URL, h, `{"name": "binary", "payload": "`+base64.StdEncoding.EncodeToString([]byte{0, 0xff, 7})+
		`", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`)
	twoStep := refCreate(t, ref.URL, h, `{"name": "two-step", "secret_type": "symmetric"}`)
	refRequest(t, "PUT", ref.URL+"/v1/secrets/"+twoStep, "uploaded later", http.StatusNoContent, h, map[string]string{"Content-Type": "text/plain"})
	refRequest(t, "PUT", ref.URL+"/v1/secrets/"+text+"/metadata", `{"metadata": {"owner": "barbican"}}`, http.StatusCreated,
		h, map[string]string{"Content-Type": "application/json"})
	// Orders are processed inside the request ([queue] enable = False), so
	// the order is ACTIVE with its generated key at once.
	order := refRequest(t, "POST", ref.URL+"/v1/orders", `{"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
		"mode": "cbc", "payload_content_type": "application/octet-stream"}}`, http.StatusAccepted,
		h, map[string]string{"Content-Type": "application/json"})
	var orderRef struct {
		OrderRef string `json:"order_ref"`
	}
	mustJSON(t, order, &orderRef)
	var orderDoc struct {
		Status    string `json:"status"`
		SecretRef string `json:"secret_ref"`
	}
	mustJSON(t, refRequest(t, "GET", orderRef.OrderRef, "", http.StatusOK, h), &orderDoc)
	if orderDoc.Status != "ACTIVE" {
		t.Fatalf("the reference's key order should be ACTIVE at once, is %s", orderDoc.Status)
	}
	generated := lastSegment(orderDoc.SecretRef)
	refSecrets := []string{text, binary, twoStep, generated}

	refKEK, err := simplecrypto.ParseKEKs(ref.KEK)
	if err != nil {
		t.Fatal(err)
	}
	newKEK, err := simplecrypto.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("with the reference's KEK", func(t *testing.T) {
		// newSetup runs Upgrade on the reference's database: the takeover.
		s := newSetup(t, withDB(ref.DBURL), withKEKs(refKEK...), withRealClock())
		d := &testbed.Differential{Reference: testbed.Target{URL: ref.URL},
			Candidate: testbed.Target{URL: s.server.URL, Client: s.server.Client()}, Header: h}
		rev, _, err := s.db.Current(context.Background())
		if err != nil || rev != store.HeadRevision {
			t.Fatalf("after the takeover alembic_version should still say %s, says %q (err %v)", store.HeadRevision, rev, err)
		}
		for _, id := range refSecrets {
			expectSame(t, d, diffGet("/v1/secrets/"+id), http.StatusOK)
			expectSame(t, d, diffGet("/v1/secrets/"+id+"/payload", "Accept", "application/octet-stream"), http.StatusOK)
		}
		expectSame(t, d, diffGet("/v1/secrets/"+text+"/payload", "Accept", "text/plain"), http.StatusOK)
		expectSame(t, d, diffGet("/v1/secrets/"+text+"/metadata"), http.StatusOK)

		// keymanager writes into the reference's project (reusing its
		// project KEK) and into a new one (binding a pKEK of its own); the
		// reference reads both.
		ours := s.createSecret(as{project: project, user: "u1"},
			`{"name": "written by keymanager", "payload": "hello barbican", "payload_content_type": "text/plain"}`)
		expectSame(t, d, diffGet("/v1/secrets/"+ours+"/payload", "Accept", "text/plain"), http.StatusOK)
		fresh := as{project: "takeover-new-project", user: "u1"}
		inNewProject := s.createSecret(fresh, `{"payload": "`+base64.StdEncoding.EncodeToString([]byte{1, 2, 3})+
			`", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`)
		expectSame(t, d, diffGet("/v1/secrets/"+inNewProject+"/payload", "X-Project-Id", fresh.project), http.StatusOK)

		// The reference keeps writing after the takeover; keymanager's
		// trigger-kept count includes its secrets and its deletes.
		later := refCreate(t, ref.URL, h, `{"name": "after the takeover"}`)
		refRequest(t, "DELETE", ref.URL+"/v1/secrets/"+binary, "", http.StatusNoContent, h)
		expectSame(t, d, diffGet("/v1/secrets/"+later), http.StatusOK)
		expectSame(t, d, diffGet("/v1/secrets/"+binary), http.StatusNotFound)
		x := d.Do(t, diffGet("/v1/secrets?limit=100")).Unordered("secrets")
		if diffs := x.Differences(); diffs != nil {
			t.Errorf("both servers should list the same secrets: %v\n%s", diffs, x)
		}
		var list struct{ Total int }
		mustJSON(t, x.Candidate.Body, &list)
		if list.Total != 5 {
			t.Errorf("the project should hold 5 live secrets (4 of the reference's before, 1 of ours, 1 after, 1 deleted), "+
				"keymanager counts %d", list.Total)
		}
	})

	t.Run("with a new active KEK and the reference's as retired", func(t *testing.T) {
		// A KEK rotation: the reference's pKEKs are wrapped by the retired
		// KEK, which keymanager still tries when unwrapping.
		s := newSetup(t, withDB(ref.DBURL), withKEKs(append([]simplecrypto.Key{newKEK}, refKEK...)...), withRealClock())
		d := &testbed.Differential{Reference: testbed.Target{URL: ref.URL},
			Candidate: testbed.Target{URL: s.server.URL, Client: s.server.Client()}, Header: h}
		for _, id := range []string{text, twoStep, generated} {
			expectSame(t, d, diffGet("/v1/secrets/"+id+"/payload", "Accept", "application/octet-stream"), http.StatusOK)
		}
	})
}

// expectSame fails unless the reference answers req with status and
// keymanager answers it alike.
func expectSame(t *testing.T, d *testbed.Differential, req testbed.DiffRequest, status int) {
	t.Helper()
	x := d.Do(t, req)
	if x.Reference.Status != status {
		t.Errorf("the reference should answer %s %s with %d, got %d: %s", req.Method, req.Path, status,
			x.Reference.Status, x.Reference.Body)
	}
	if diffs := x.Differences(); diffs != nil {
		t.Errorf("the servers answer differently: %v\n%s", diffs, x)
	}
}

// refCreate creates a secret through the reference's API and returns its id.
func refCreate(t *testing.T, base string, h map[string]string, body string) string {
	t.Helper()
	var created struct {
		SecretRef string `json:"secret_ref"`
	}
	mustJSON(t, refRequest(t, "POST", base+"/v1/secrets", body, http.StatusCreated, h,
		map[string]string{"Content-Type": "application/json"}), &created)
	return lastSegment(created.SecretRef)
}

// refRequest sends one request to the reference and checks its status.
func refRequest(t *testing.T, method, url, body string, want int, headers ...map[string]string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, hs := range headers {
		for k, v := range hs {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, url, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: the reference answered %d, want %d: %s", method, url, resp.StatusCode, want, data)
	}
	return data
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}

func lastSegment(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }
