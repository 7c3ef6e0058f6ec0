package testbed

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading GET %s: %v", url, err)
	}
	return resp, body
}

func TestStartReferenceBarbican(t *testing.T) {
	r := StartReferenceBarbican(t, ReferenceOptions{})

	resp, body := get(t, r.URL+"/", nil)
	if resp.StatusCode != http.StatusMultipleChoices {
		t.Fatalf("GET / should answer 300, got %d: %s", resp.StatusCode, body)
	}
	// host_href is the base URL the helper reports.
	if !strings.Contains(string(body), `"href": "`+r.URL+`/v1/"`) {
		t.Errorf("the version document should link to %s/v1/: %s", r.URL, body)
	}

	// No-auth: X-Project-Id alone is enough (roles default to admin), and the
	// database was upgraded before the start, so the list query works.
	resp, body = get(t, r.URL+"/v1/secrets", map[string]string{"X-Project-Id": "testbed"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/secrets should answer 200, got %d: %s", resp.StatusCode, body)
	}
	var list struct{ Total *int }
	if err := json.Unmarshal(body, &list); err != nil || list.Total == nil || *list.Total != 0 {
		t.Errorf("a new project should list no secrets (err %v): %s", err, body)
	}
	resp, body = get(t, r.URL+"/v1/secrets", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("without X-Project-Id the no-auth pipeline should answer 400, got %d: %s", resp.StatusCode, body)
	}

	conf, err := os.ReadFile(filepath.Join(r.Dir, "barbican.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "kek = "+r.KEK+"\n") {
		t.Error("barbican.conf should hold the KEK the helper reports")
	}
	if info, err := os.Stat(filepath.Join(r.Dir, "barbican.conf")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("barbican.conf holds the KEK and should be mode 0600 (err %v)", err)
	}
}

func TestStartReferenceBarbicanOnSQLite(t *testing.T) {
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "barbican.db")
	UpgradeWithReferenceBarbican(t, dbURL)
	// A second server on the upgraded file, without upgrading again.
	r := StartReferenceBarbican(t, ReferenceOptions{DBURL: dbURL, NoUpgrade: true})
	resp, body := get(t, r.URL+"/v1/secrets", map[string]string{"X-Project-Id": "testbed"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/secrets on SQLite should answer 200, got %d: %s", resp.StatusCode, body)
	}

	// Stopped before the test ends, the server no longer answers, and the
	// cleanup's second stop is harmless.
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, r.URL+"/", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("after Stop nothing should answer on %s, got %d", r.URL, resp.StatusCode)
	}
}

func TestReferencePythonImportsBarbican(t *testing.T) {
	out, err := ReferencePython(context.Background(), t, "-c",
		"import barbican.version as v; print(v.version_info.release_string())").CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "15.") {
		t.Errorf("Debian bookworm ships Barbican 15, got %q", out)
	}
}
