package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
)

// softHSM2Store makes a fresh SoftHSM2 token holding the master keys mkek_0 and hmac_0 and returns cfg set up
// for a PKCS#11 store on it, with the settings SoftHSM2 accepts (docs/hsm.md, profile softhsm).
func softHSM2Store(t testing.TB, cfg config.Config) config.Config {
	t.Helper()
	tok := testbed.NewSoftHSM2Token(t)
	p := config.DefaultP11()
	p.LibraryPath, p.TokenLabels, p.PIN = tok.Module, []string{tok.Label}, hsm.PIN(tok.PIN)
	p.MKEKLabel, p.HMACLabel = "mkek_0", "hmac_0"
	p.HMACKeyType, p.HMACKeygenMechanism = "CKK_GENERIC_SECRET", "CKM_GENERIC_SECRET_KEY_GEN"
	p.KeyWrapMechanism, p.KeyWrapGenerateIV = "CKM_AES_KEY_WRAP_PAD", false
	p.OSLockingOK = true
	m, err := OpenHSM(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hmacSpec, err := p.HMACSpec()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.GenerateMKEK(context.Background(), p.MKEKSpec()); err != nil {
		t.Fatal(err)
	}
	if err := m.GenerateHMACKey(context.Background(), hmacSpec); err != nil {
		t.Fatal(err)
	}
	cfg.P11 = p
	cfg.SecretStores = config.SecretStores{Stores: []config.SecretStore{
		{Suffix: "hsm", SecretStorePlugin: "store_crypto", CryptoPlugin: "p11_crypto", GlobalDefault: true}}}
	return cfg
}

func serve(t testing.TB, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("X-Project-Id", "project-a")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if strings.HasSuffix(path, "/payload") {
		r.Header.Set("Accept", "text/plain")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func storeP11Secret(t testing.TB, h http.Handler, payload string) string {
	t.Helper()
	w := serve(t, h, "POST", "/v1/secrets", `{"name":"s","payload":"`+payload+`","payload_content_type":"text/plain"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST /v1/secrets: %d %s", w.Code, w.Body)
	}
	var out struct {
		Ref string `json:"secret_ref"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Ref[strings.LastIndex(out.Ref, "/")+1:]
}

// The rows of the reference's p11_crypto plugin (spec §7.4, reference-behaviour.md).
var (
	pluginMetaFormat = regexp.MustCompile(`^\{"iv":null,"wrapped_key":"[A-Za-z0-9+/]{54}==","hmac":"[A-Za-z0-9+/]{43}=",` +
		`"mkek_label":"mkek_0","hmac_label":"hmac_0","key_wrap_mechanism":"CKM_AES_KEY_WRAP_PAD"\}$`)
	kekMetaExtendedFormat = map[string]*regexp.Regexp{
		"CKM_AES_CBC": regexp.MustCompile(`^\{"iv":"[A-Za-z0-9+/]{22}==","mechanism":"CKM_AES_CBC"\}$`),
		"CKM_AES_GCM": regexp.MustCompile(`^\{"iv":"[A-Za-z0-9+/]{16}","mechanism":"CKM_AES_GCM"\}$`),
	}
)

func TestP11StoreThroughTheAPI(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		cfg := testConfig(t)
		cfg.DBURL = dbURL
		cfg = softHSM2Store(t, cfg)
		raw := rawDB(t, dbURL)
		ids := map[string]string{}
		for _, mech := range []string{"CKM_AES_CBC", "CKM_AES_GCM"} {
			cfg.P11.EncryptionMechanism = mech
			s, _, err := newServer(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			id := storeP11Secret(t, s.Handler(), "secret under "+mech)
			ids[mech] = id
			if w := serve(t, s.Handler(), "GET", "/v1/secrets/"+id+"/payload", ""); w.Code != 200 || w.Body.String() != "secret under "+mech {
				t.Fatalf("payload: %d %q", w.Code, w.Body)
			}
			var meta string
			if err := raw.QueryRow("SELECT kek_meta_extended FROM encrypted_data WHERE secret_id = ?", id).Scan(&meta); err != nil {
				t.Fatal(err)
			}
			if !kekMetaExtendedFormat[mech].MatchString(meta) {
				t.Errorf("kek_meta_extended %s is not the reference's format for %s", meta, mech)
			}
			if err := s.plugins.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var plugin, alg, mode, meta string
		var bits int
		if err := raw.QueryRow("SELECT plugin_name, algorithm, bit_length, mode, plugin_meta FROM kek_data").
			Scan(&plugin, &alg, &bits, &mode, &meta); err != nil {
			t.Fatal(err)
		}
		if plugin != p11crypto.ClassPath || alg != "AES" || bits != 256 || mode != "CBC" || !pluginMetaFormat.MatchString(meta) {
			t.Errorf("kek_data row: %s %s %d %s %s", plugin, alg, bits, mode, meta)
		}

		// A server started afresh decrypts by the mechanism each secret records, whatever is configured now.
		s, _, err := newServer(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for mech, id := range ids {
			if w := serve(t, s.Handler(), "GET", "/v1/secrets/"+id+"/payload", ""); w.Code != 200 || w.Body.String() != "secret under "+mech {
				t.Errorf("after a restart, the %s secret: %d %q", mech, w.Code, w.Body)
			}
		}
		if w := serve(t, s.Handler(), "GET", "/metrics", ""); !strings.Contains(w.Body.String(), "keymanager_hsm_sessions_cap 8\n") ||
			!strings.Contains(w.Body.String(), `keymanager_hsm_operation_duration_seconds_count{operation="decrypt",outcome="ok"} 2`) ||
			!strings.Contains(w.Body.String(), "keymanager_hsm_pkek_cache_misses_total 1\n") {
			t.Errorf("the HSM metrics:\n%s", w.Body)
		}
		_ = s.plugins.Close()
		_ = s.db.Close()

		// A changed HMAC is refused: the start-time sample check names the row.
		execSQL(t, raw, "UPDATE kek_data SET plugin_meta = REPLACE(plugin_meta, '\"hmac\":\"', '\"hmac\":\"AAAA')")
		if _, _, err := newServer(t, cfg); err == nil || !strings.Contains(err.Error(), "HMAC does not verify") {
			t.Fatalf("a tampered plugin_meta: %v", err)
		}
		execSQL(t, raw, "UPDATE kek_data SET plugin_meta = REPLACE(plugin_meta, '\"hmac\":\"AAAA', '\"hmac\":\"')")

		// Labels the token lacks stop the start with the command that makes them.
		bad := cfg
		bad.P11.MKEKLabel = "mkek_1"
		if _, _, err := newServer(t, bad); err == nil || !strings.Contains(err.Error(), "keymanager manage hsm ensure-keys") {
			t.Fatalf("a configured MKEK missing on the token: %v", err)
		}
		// So do labels that rows record.
		execSQL(t, raw, "UPDATE kek_data SET plugin_meta = REPLACE(plugin_meta, 'hmac_0', 'hmac_old')")
		if _, _, err := newServer(t, cfg); err == nil || !strings.Contains(err.Error(), `HMAC key "hmac_old" of 1 project KEKs`) {
			t.Fatalf("rows under labels missing on the token: %v", err)
		}
	})
}

// TestP11ReferenceRowsDecrypt builds a project KEK and a secret by hand, byte for byte as the reference's
// p11_crypto plugin and store_crypto write them (compact and spaced JSON, CBC and GCM), on the HSM, and reads
// the secrets through the API.
func TestP11ReferenceRowsDecrypt(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		cfg := testConfig(t)
		cfg.DBURL = dbURL
		cfg = softHSM2Store(t, cfg)
		keymanagerDatabase(t, dbURL)
		raw := rawDB(t, dbURL)
		ctx := context.Background()
		plugin, err := OpenP11Plugin(ctx, cfg.P11, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, settings := plugin.Module(), plugin.Settings()
		b64 := base64.StdEncoding.EncodeToString
		type row struct {
			meta, extended, cypherText, payload string
		}
		var rows []row
		for i, form := range []string{"compact", "spaced"} {
			w, err := m.NewPKEK(ctx, form, settings)
			if err != nil {
				t.Fatal(err)
			}
			meta := fmt.Sprintf(`{"iv":null,"wrapped_key":%q,"hmac":%q,"mkek_label":"mkek_0","hmac_label":"hmac_0","key_wrap_mechanism":"CKM_AES_KEY_WRAP_PAD"}`,
				b64(w.Wrapped), b64(w.HMAC))
			if form == "spaced" { // json.dumps without separators, as older code wrote
				meta = fmt.Sprintf(`{"iv": null, "wrapped_key": %q, "hmac": %q, "mkek_label": "mkek_0", "hmac_label": "hmac_0", "key_wrap_mechanism": "CKM_AES_KEY_WRAP_PAD"}`,
					b64(w.Wrapped), b64(w.HMAC))
			}
			s := settings
			s.Encryption, _ = hsm.Lookup(hsm.EncryptionMechanisms, []string{"CKM_AES_CBC", "CKM_AES_GCM"}[i])
			payload := "reference secret " + form
			ct, err := m.Encrypt(ctx, form, w, s, []byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row{meta, fmt.Sprintf(`{"iv":%q,"mechanism":%q}`, b64(ct.IV), s.Encryption.Name),
				b64(ct.Data), payload})
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		const ts = "'2024-05-01 10:00:00'"
		for i, r := range rows {
			id, secretID := fmt.Sprintf("ref%d", i), fmt.Sprintf("6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4%d", i)
			execSQL(t, raw,
				"INSERT INTO projects (id, created_at, updated_at, deleted, status, external_id) VALUES ('p-"+id+"', "+ts+", "+ts+", 0, 'ACTIVE', 'ext-"+id+"')",
				"INSERT INTO kek_data (id, created_at, updated_at, deleted, status, plugin_name, kek_label, project_id, active, "+
					"bind_completed, algorithm, bit_length, mode, plugin_meta) VALUES ('k-"+id+"', "+ts+", "+ts+", 0, 'ACTIVE', '"+
					p11crypto.ClassPath+"', 'project-ext-"+id+"-key-k', 'p-"+id+"', 1, 1, 'AES', 256, 'CBC', '"+r.meta+"')",
				"INSERT INTO secrets (id, created_at, updated_at, deleted, status, name, secret_type, project_id, algorithm, "+
					"bit_length, mode, creator_id) VALUES ('"+secretID+"', "+ts+", "+ts+
					", 0, 'ACTIVE', 'ref', 'opaque', 'p-"+id+"', 'aes', 256, 'cbc', 'u')",
				"INSERT INTO encrypted_data (id, created_at, updated_at, deleted, status, content_type, secret_id, kek_id, "+
					"cypher_text, kek_meta_extended) VALUES ('e-"+id+"', "+ts+", "+ts+", 0, 'ACTIVE', 'text/plain', "+
					"'"+secretID+"', 'k-"+id+"', '"+r.cypherText+"', '"+r.extended+"')",
				"INSERT INTO secret_store_metadata (id, created_at, updated_at, deleted, status, `key`, value, secret_id) VALUES "+
					"('m1-"+id+"', "+ts+", "+ts+", 0, 'ACTIVE', 'plugin_name', 'barbican.plugin.store_crypto.StoreCryptoAdapterPlugin', "+
					"'"+secretID+"'), ('m2-"+id+"', "+ts+", "+ts+", 0, 'ACTIVE', 'content_type', "+
					"'text/plain', '"+secretID+"')")
		}
		s, _, err := newServer(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			req := httptest.NewRequest("GET", fmt.Sprintf("/v1/secrets/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4%d/payload", i), nil)
			req.Header.Set("X-Project-Id", fmt.Sprintf("ext-ref%d", i))
			req.Header.Set("Accept", "text/plain")
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			if w.Code != http.StatusOK || w.Body.String() != r.payload {
				t.Errorf("reference row %d: %d %q, want %q", i, w.Code, w.Body, r.payload)
			}
		}
	})
}

// TestP11BusyIsServiceUnavailable holds the only HSM session: a request that needs one waits
// --hsm-session-wait, then gets a 503 in Barbican's error shape, and the next one, once it is free, succeeds.
func TestP11BusyIsServiceUnavailable(t *testing.T) {
	cfg := softHSM2Store(t, testConfig(t))
	cfg.P11.MaxSessions, cfg.P11.SessionWait = 1, 20*time.Millisecond
	s, _, err := newServer(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- s.plugins.p11.Module().Do(context.Background(), "hold", func(*hsm.Session) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	w := serve(t, s.Handler(), "POST", "/v1/secrets", `{"payload":"x","payload_content_type":"text/plain"}`)
	// A busy HSM is a working one: readiness stays up.
	ready := serve(t, s.Handler(), "GET", "/readyz", "")
	close(release)
	if ready.Code != http.StatusOK {
		t.Errorf("readiness with every HSM session busy: %d %s", ready.Code, ready.Body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"code":503`) ||
		!strings.Contains(w.Body.String(), "the secret store is busy, please retry later") {
		t.Fatalf("with every HSM session busy: %d %s", w.Code, w.Body)
	}
	storeP11Secret(t, s.Handler(), "y")
	// An HSM that cannot be reached takes the server out of service.
	if err := s.plugins.p11.Module().Close(); err != nil {
		t.Fatal(err)
	}
	if w := serve(t, s.Handler(), "GET", "/readyz", ""); w.Code != http.StatusServiceUnavailable || w.Body.String() != "secret store PKCS11 HSM unavailable" {
		t.Errorf("readiness without the HSM: %d %s", w.Code, w.Body)
	}
}

// BenchmarkP11SecretThroughTheAPI creates secrets and reads their payloads through the handler with the
// PKCS#11 store on SoftHSM2 and SQLite (synchronous NORMAL), 4 sessions; "cold" turns the pKEK cache off, so
// every request verifies and unwraps its project's pKEK in the HSM; "simple_crypto" is the software store, for
// scale.
func BenchmarkP11SecretThroughTheAPI(b *testing.B) {
	for _, name := range []string{"cached", "cold", "simple_crypto"} {
		b.Run(name, func(b *testing.B) {
			cfg := testConfig(b)
			switch name {
			case "cached", "cold":
				cfg = softHSM2Store(b, cfg)
				cfg.P11.MaxSessions = 4
			}
			if name == "cold" {
				cfg.P11.PKEKCacheLimit = 0
			}
			s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			h := s.Handler()
			id := storeP11Secret(b, h, "warm")
			b.Run("create", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if w := serve(b, h, "POST", "/v1/secrets", `{"payload":"payload","payload_content_type":"text/plain"}`); w.Code != http.StatusCreated {
							b.Errorf("POST /v1/secrets: %d %s", w.Code, w.Body)
							return
						}
					}
				})
			})
			b.Run("get-payload", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if w := serve(b, h, "GET", "/v1/secrets/"+id+"/payload", ""); w.Code != http.StatusOK {
							b.Errorf("GET payload: %d", w.Code)
							return
						}
					}
				})
			})
		})
	}
}

// TestP11BesideSimpleCrypto runs both stores (Barbican's multiple backends): a project that prefers the HSM
// store gets its secrets there, the others stay on simple_crypto, and both read back.
func TestP11BesideSimpleCrypto(t *testing.T) {
	cfg := softHSM2Store(t, testConfig(t))
	cfg.SecretStores.EnableMultiple = true
	cfg.SecretStores.Stores = append(cfg.SecretStores.Stores, config.SecretStore{Suffix: "software",
		SecretStorePlugin: "store_crypto", CryptoPlugin: "simple_crypto"})
	s, _, err := newServer(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	w := serve(t, h, "GET", "/v1/secret-stores", "")
	var list struct {
		Stores []struct {
			Name          string `json:"name"`
			Ref           string `json:"secret_store_ref"`
			GlobalDefault bool   `json:"global_default"`
		} `json:"secret_stores"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Stores) != 2 {
		t.Fatalf("GET /v1/secret-stores: %d %s", w.Code, w.Body)
	}
	names := map[string]string{}
	for _, st := range list.Stores {
		names[st.Name] = st.Ref[strings.LastIndex(st.Ref, "/")+1:]
		if st.Name == "PKCS11 HSM" != st.GlobalDefault {
			t.Errorf("store %s: global default %t", st.Name, st.GlobalDefault)
		}
	}
	if names["PKCS11 HSM"] == "" || names["Software Only Crypto"] == "" {
		t.Fatalf("stores %v", names)
	}
	// project-a (serve's project) prefers the software store; project-b keeps the global default, the HSM.
	if w := serve(t, h, "POST", "/v1/secret-stores/"+names["Software Only Crypto"]+"/preferred", ""); w.Code != http.StatusNoContent {
		t.Fatalf("preferring the software store: %d %s", w.Code, w.Body)
	}
	soft := storeP11Secret(t, h, "software secret")
	r := httptest.NewRequest("POST", "/v1/secrets", strings.NewReader(`{"payload":"hsm secret","payload_content_type":"text/plain"}`))
	r.Header.Set("X-Project-Id", "project-b")
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusCreated {
		t.Fatalf("project-b's secret: %d %s", rec.Code, rec.Body)
	}
	raw := rawDB(t, cfg.DatabaseURL())
	rows, err := raw.Query("SELECT p.external_id, k.plugin_name FROM kek_data k JOIN projects p ON p.id = k.project_id ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var project, plugin string
		if err := rows.Scan(&project, &plugin); err != nil {
			t.Fatal(err)
		}
		got = append(got, project+"="+plugin)
	}
	want := []string{"project-a=barbican.plugin.crypto.simple_crypto.SimpleCryptoPlugin", "project-b=" + p11crypto.ClassPath}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("project KEKs %v, want %v", got, want)
	}
	if w := serve(t, h, "GET", "/v1/secrets/"+soft+"/payload", ""); w.Body.String() != "software secret" {
		t.Errorf("the software secret: %d %q", w.Code, w.Body)
	}
}

// TestP11DamagedRowDoesNotStopTheServer damages one project's KEK row: the start-time check, seeing another
// row under the same master keys unwrap, reports the row and starts (one corrupt row must not stop every pod
// that restarts, a key rotation's rollout included); with every sampled row failing it still refuses.
func TestP11DamagedRowDoesNotStopTheServer(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		cfg := softHSM2Store(t, testConfig(t))
		cfg.DBURL = dbURL
		raw := rawDB(t, dbURL)
		s, _, err := newServer(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, project := range []string{"project-a", "project-b"} {
			r := httptest.NewRequest("POST", "/v1/secrets", strings.NewReader(`{"payload":"of `+project+`","payload_content_type":"text/plain"}`))
			r.Header.Set("X-Project-Id", project)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				t.Fatalf("POST as %s: %d %s", project, w.Code, w.Body)
			}
			var out struct {
				Ref string `json:"secret_ref"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			ids[project] = out.Ref[strings.LastIndex(out.Ref, "/")+1:]
		}
		_ = s.plugins.Close()
		_ = s.db.Close()

		var damaged string
		if err := raw.QueryRow("SELECT k.id FROM kek_data k JOIN projects p ON p.id = k.project_id WHERE p.external_id = 'project-b'").
			Scan(&damaged); err != nil {
			t.Fatal(err)
		}
		execSQL(t, raw, "UPDATE kek_data SET plugin_meta = REPLACE(plugin_meta, '\"hmac\":\"', '\"hmac\":\"AAAA') WHERE id = '"+damaged+"'")
		s, logs, err := newServer(t, cfg)
		if err != nil {
			t.Fatalf("one damaged row beside a sound one under the same keys must not stop the server: %v", err)
		}
		if !strings.Contains(logs, `"level":"ERROR","msg":"project KEKs are damaged`) || !strings.Contains(logs, `"kek_data_ids":"`+damaged+`"`) {
			t.Fatalf("want the damaged row reported, got:\n%s", logs)
		}
		if w := serve(t, s.Handler(), "GET", "/v1/secrets/"+ids["project-a"]+"/payload", ""); w.Code != 200 || w.Body.String() != "of project-a" {
			t.Fatalf("the sound project's secret: %d %q", w.Code, w.Body)
		}
		_ = s.plugins.Close()
		_ = s.db.Close()

		execSQL(t, raw, "UPDATE kek_data SET plugin_meta = REPLACE(plugin_meta, '\"hmac\":\"', '\"hmac\":\"AAAA') WHERE id <> '"+damaged+"'")
		if _, _, err := newServer(t, cfg); err == nil || !strings.Contains(err.Error(), "the HSM does not unwrap 2 of 2 sampled") {
			t.Fatalf("with every sampled row failing the start must be refused: %v", err)
		}
	})
}
