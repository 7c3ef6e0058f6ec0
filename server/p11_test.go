package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
)

// softHSM2Store makes a fresh SoftHSM2 token holding the master keys mkek_0 and hmac_0 and returns cfg set up
// for a PKCS#11 store on it, with the settings SoftHSM2 accepts (docs/hsm.md, profile softhsm).
func softHSM2Store(t *testing.T, cfg config.Config) config.Config {
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

func serve(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
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

func storeSecret(t *testing.T, h http.Handler, payload string) string {
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
			id := storeSecret(t, s.Handler(), "secret under "+mech)
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
