package manage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/internal/rewrapsummary"
	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/config"
)

// run executes `keymanager manage …` with env as the environment it reads, returning its output.
func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	root := &cobra.Command{Use: "keymanager", SilenceUsage: true, SilenceErrors: true}
	AddCommandTo(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"manage"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// softHSM2Flags are the settings SoftHSM2 needs (docs/hsm.md).
func softHSM2Flags(tok testbed.SoftHSM2Token, mkek, hmac string) []string {
	return []string{"--p11-library-path", tok.Module, "--p11-token-labels", tok.Label, "--p11-os-locking-ok",
		"--p11-mkek-label", mkek, "--p11-hmac-label", hmac, "--p11-hmac-key-type", "CKK_GENERIC_SECRET",
		"--p11-hmac-keygen-mechanism", "CKM_GENERIC_SECRET_KEY_GEN", "--p11-key-wrap-mechanism", "CKM_AES_KEY_WRAP_PAD",
		"--p11-key-wrap-generate-iv=false"}
}

func TestHSMKeyCommands(t *testing.T) {
	tok := testbed.NewSoftHSM2Token(t)
	env := map[string]string{config.EnvP11PIN: tok.PIN}
	flags := softHSM2Flags(tok, "mkek_0", "hmac_0")
	if out, err := run(t, env, append([]string{"hsm", "check-mkek"}, flags...)...); err == nil {
		t.Fatalf("check-mkek on an empty token succeeded: %s", out)
	}
	out, err := run(t, env, append([]string{"hsm", "ensure-keys"}, flags...)...)
	if err != nil || strings.Count(out, "successfully generated") != 2 {
		t.Fatalf("ensure-keys on an empty token: %v\n%s", err, out)
	}
	out, err = run(t, env, append([]string{"hsm", "ensure-keys"}, flags...)...)
	if err != nil || strings.Contains(out, "generated") || strings.Count(out, "found") != 2 {
		t.Fatalf("ensure-keys again: %v\n%s", err, out)
	}
	// barbican-manage's spelling, as a TripleO runbook has it.
	out, err = run(t, nil, "hsm", "gen_hmac", "--library-path", tok.Module, "--token-labels", tok.Label,
		"--passphrase", tok.PIN, "--label", "hmac_9", "--length", "32", "--key-type", "CKK_GENERIC_SECRET",
		"--mechanism", "CKM_GENERIC_SECRET_KEY_GEN", "--p11-os-locking-ok")
	if err != nil || !strings.Contains(out, "HMAC key successfully generated: label hmac_9") || !strings.Contains(out, "--passphrase shows the PIN") {
		t.Fatalf("gen-hmac with barbican-manage's options: %v\n%s", err, out)
	}
	if strings.Contains(out, tok.PIN) {
		t.Errorf("the output shows the PIN: %s", out)
	}
	if out, err := run(t, env, append([]string{"hsm", "gen-mkek"}, flags...)...); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("gen-mkek over an existing label: %v\n%s", err, out)
	}
}

// TestRotationWithRewrap rotates the master keys under a database of secrets: new keys, rewrap, the old keys
// deleted, a server on the new labels reads every secret.
func TestRotationWithRewrap(t *testing.T) {
	tok := testbed.NewSoftHSM2Token(t)
	env := map[string]string{config.EnvP11PIN: tok.PIN}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "km.db")
	old, next := softHSM2Flags(tok, "mkek_0", "hmac_0"), softHSM2Flags(tok, "mkek_1", "hmac_1")
	if out, err := run(t, env, append([]string{"hsm", "ensure-keys"}, old...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	secrets := map[string]string{} // id → payload
	withServer(t, tok, dbURL, "mkek_0", "hmac_0", func(h http.Handler) {
		for i := range 12 {
			payload := fmt.Sprintf("secret-%d", i)
			secrets[postSecret(t, h, fmt.Sprintf("project-%d", i%6), payload)] = payload
		}
	})
	if out, err := run(t, env, append([]string{"hsm", "ensure-keys"}, next...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	summary := filepath.Join(t.TempDir(), "termination-log")
	rewrap := append([]string{"hsm", "rewrap-pkek", "--db-url", dbURL, "--summary-file", summary}, next...)
	out, err := run(t, env, append(rewrap, "--dry-run")...)
	if err != nil || !strings.Contains(out, "would rewrap (verified) 6 of 6") || !strings.Contains(out, "6 project KEKs remain") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 6, Rewrapped: 6, Remaining: 6})
	// --verify is a rotation's last check: it fails while rows remain, and changes nothing.
	out, err = run(t, env, append(rewrap, "--verify")...)
	if err == nil || !strings.Contains(err.Error(), "6 project KEKs are not under mkek_1/hmac_1") {
		t.Fatalf("verify before the rewrap should fail naming 6 rows: %v\n%s", err, out)
	}
	out, err = run(t, env, rewrap...)
	if err != nil || !strings.Contains(out, "6/6\n") || !strings.Contains(out, "rewrapped 6 of 6") ||
		!strings.Contains(out, "0 project KEKs remain on other labels") {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 6, Rewrapped: 6})
	out, err = run(t, env, rewrap...)
	if err != nil || !strings.Contains(out, "rewrapped 0 of 0") {
		t.Fatalf("rewrap again: %v\n%s", err, out)
	}
	if out, err := run(t, env, append(rewrap, "--verify")...); err != nil || !strings.Contains(out, "0 project KEKs remain") {
		t.Fatalf("verify after the rewrap: %v\n%s", err, out)
	}
	destroyKeys(t, tok, "mkek_0", "hmac_0")
	withServer(t, tok, dbURL, "mkek_1", "hmac_1", func(h http.Handler) {
		for id, payload := range secrets {
			if got := getPayload(t, h, id); got != payload {
				t.Errorf("secret %s after the rotation: %q, want %q", id, got, payload)
			}
		}
	})
	// A row nobody can verify fails the run, loudly.
	raw, err := sql.Open("sqlite3", strings.TrimPrefix(dbURL, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE kek_data SET plugin_meta = REPLACE(plugin_meta, 'mkek_1', 'mkek_0') WHERE id = (SELECT MIN(id) FROM kek_data)"); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	out, err = run(t, env, rewrap...)
	if err == nil || !strings.Contains(out, "1 project KEKs remain on other labels") || !strings.Contains(out, "1 failed") {
		t.Fatalf("rewrap of a row under deleted keys: %v\n%s", err, out)
	}
	wantSummary(t, summary, rewrapsummary.Summary{Total: 1, Failed: 1, Remaining: 1})
}

func withServer(t *testing.T, tok testbed.SoftHSM2Token, dbURL, mkek, hmac string, f func(http.Handler)) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.DBURL = t.TempDir(), dbURL
	p := &cfg.P11
	p.LibraryPath, p.TokenLabels, p.PIN, p.OSLockingOK = tok.Module, []string{tok.Label}, hsm.PIN(tok.PIN), true
	p.MKEKLabel, p.HMACLabel = mkek, hmac
	p.HMACKeyType, p.HMACKeygenMechanism = "CKK_GENERIC_SECRET", "CKM_GENERIC_SECRET_KEY_GEN"
	p.KeyWrapMechanism, p.KeyWrapGenerateIV = "CKM_AES_KEY_WRAP_PAD", false
	cfg.SecretStores.Stores = []config.SecretStore{{Suffix: "hsm", SecretStorePlugin: "store_crypto", CryptoPlugin: "p11_crypto", GlobalDefault: true}}
	serveWith(t, cfg, f)
}

func postSecret(t *testing.T, h http.Handler, project, payload string) string {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/secrets", strings.NewReader(`{"payload":"`+payload+`","payload_content_type":"text/plain"}`))
	r.Header.Set("X-Project-Id", project)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body struct {
		Ref string `json:"secret_ref"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusCreated {
		t.Fatalf("POST /v1/secrets: %d %s", w.Code, w.Body)
	}
	return project + "/" + body.Ref[strings.LastIndex(body.Ref, "/")+1:]
}

func getPayload(t *testing.T, h http.Handler, projectAndID string) string {
	t.Helper()
	project, id, _ := strings.Cut(projectAndID, "/")
	r := httptest.NewRequest("GET", "/v1/secrets/"+id+"/payload", nil)
	r.Header.Set("X-Project-Id", project)
	r.Header.Set("Accept", "text/plain")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("GET payload of %s: %d %s", id, w.Code, w.Body)
	}
	return w.Body.String()
}

// destroyKeys deletes keys from the token, as an operator does once a rotation is complete.
func destroyKeys(t *testing.T, tok testbed.SoftHSM2Token, labels ...string) {
	t.Helper()
	ctx := pkcs11.New(tok.Module)
	defer ctx.Destroy()
	if err := ctx.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer ctx.Finalize()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := ctx.GetTokenInfo(slot)
		if err != nil || info.Label != tok.Label {
			continue
		}
		s, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		if err := ctx.Login(s, pkcs11.CKU_USER, tok.PIN); err != nil {
			t.Fatal(err)
		}
		for _, l := range labels {
			if err := ctx.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, l)}); err != nil {
				t.Fatal(err)
			}
			objs, _, err := ctx.FindObjects(s, 10)
			_ = ctx.FindObjectsFinal(s)
			if err != nil || len(objs) != 1 {
				t.Fatalf("finding %s: %d objects, %v", l, len(objs), err)
			}
			if err := ctx.DestroyObject(s, objs[0]); err != nil {
				t.Fatal(err)
			}
		}
		_ = ctx.CloseSession(s)
		return
	}
	t.Fatalf("no token labelled %s", tok.Label)
}
