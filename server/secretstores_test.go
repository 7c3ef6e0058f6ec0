package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keymanager-io/keymanager/server/config"
)

func TestSecretStoresAtStart(t *testing.T) {
	t.Run("multiple stores are synchronised into secret_stores and served", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.SecretStores = config.SecretStores{EnableMultiple: true, Stores: []config.SecretStore{
			{Suffix: "software", SecretStorePlugin: "store_crypto", CryptoPlugin: "simple_crypto", GlobalDefault: true}}}
		s, _, err := newServer(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/v1/secret-stores", nil)
		r.Header.Set("X-Project-Id", "p")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		var body struct {
			Stores []map[string]any `json:"secret_stores"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK || len(body.Stores) != 1 ||
			body.Stores[0]["name"] != "Software Only Crypto" || body.Stores[0]["global_default"] != true {
			t.Fatalf("unexpected answer %d %s", w.Code, w.Body.String())
		}
	})
	for name, tc := range map[string]struct {
		stores config.SecretStores
		want   string
	}{
		"a PKCS#11 store without a library says which flag it needs": {
			stores: config.SecretStores{Stores: []config.SecretStore{{Suffix: "hsm", SecretStorePlugin: "store_crypto", CryptoPlugin: "p11_crypto", GlobalDefault: true}}},
			want:   `no PKCS#11 library: give --p11-library-path`},
		"an unknown crypto plugin is refused by name": {
			stores: config.SecretStores{Stores: []config.SecretStore{{Suffix: "x", SecretStorePlugin: "store_crypto", CryptoPlugin: "kmip", GlobalDefault: true}}},
			want:   `secret store "x" uses the crypto plugin "kmip", which keymanager does not have`},
		"another store plugin is refused by name": {
			stores: config.SecretStores{Stores: []config.SecretStore{{Suffix: "vault", SecretStorePlugin: "vault_plugin", GlobalDefault: true}}},
			want:   `secret store "vault" uses the secret store plugin "vault_plugin", which keymanager does not implement`},
		"multiple stores need exactly one global default": {
			stores: config.SecretStores{EnableMultiple: true, Stores: []config.SecretStore{{Suffix: "a", SecretStorePlugin: "store_crypto", CryptoPlugin: "simple_crypto"}}},
			want:   "exactly one store must be the global default, 0 are"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SecretStores = tc.stores
			_, _, err := newServer(t, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}
