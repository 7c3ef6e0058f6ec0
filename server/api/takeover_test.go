package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

type fernetFixture struct {
	Name         string   `json:"name"`
	KEKs         []string `json:"keks"`
	PluginMeta   string   `json:"plugin_meta"`
	PlaintextB64 string   `json:"plaintext_b64"`
	DBCypherText string   `json:"db_cypher_text"`
}

// TestReadsSecretsWrittenByTheReference writes kek_data, secrets, encrypted_data and secret_store_metadata rows
// exactly as the reference Barbican's simple_crypto stores them (values produced by Python's cryptography) and
// reads the payloads back through the API with the same master KEKs.
func TestReadsSecretsWrittenByTheReference(t *testing.T) {
	raw, err := os.ReadFile("../crypto/simplecrypto/testdata/fernet_fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures struct {
		Cases []fernetFixture `json:"cases"`
	}
	if err := json.Unmarshal(raw, &fixtures); err != nil {
		t.Fatal(err)
	}
	for _, fx := range fixtures.Cases {
		t.Run(fx.Name, func(t *testing.T) {
			forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
				var keys []simplecrypto.Key
				for _, k := range fx.KEKs {
					parsed, err := simplecrypto.ParseKEKs(k)
					if err != nil {
						t.Fatal(err)
					}
					keys = append(keys, parsed...)
				}
				s := newSetup(t, append(opts, withKEKs(keys...))...)
				ctx := context.Background()
				now := time.Now().UTC().Truncate(time.Second)
				model := func() store.Model {
					return store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: "ACTIVE"}
				}
				str := func(s string) *string { return &s }
				bits := 128
				kek := &store.KEKDatum{Model: model(), PluginName: simplecrypto.ClassPath,
					KEKLabel: str("project-legacy-project-key-" + store.NewID()), Active: true,
					BindCompleted: true, Algorithm: str("aes"), BitLength: &bits, Mode: str("cbc"), PluginMeta: str(fx.PluginMeta)}
				secret := &store.Secret{Model: model(), Name: str("from barbican"), SecretType: "opaque"}
				data := &store.EncryptedDatum{Model: model(), ContentType: str("application/octet-stream"), SecretID: secret.ID,
					KEKID: kek.ID, CypherText: str(fx.DBCypherText)}
				meta := []store.SecretStoreMetadatum{{Model: model(), Key: "plugin_name", Value: crypto.StoreCryptoPluginName},
					{Model: model(), Key: "content_type", Value: "application/octet-stream"}}
				err := s.db.Write(ctx, func(tx *store.Tx) error {
					projectID, err := tx.EnsureProject("legacy-project")
					if err != nil {
						return err
					}
					kek.ProjectID, secret.ProjectID = projectID, projectID
					if err := tx.CreateKEK(kek); err != nil {
						return err
					}
					return tx.CreateSecret(secret, &store.SecretPayload{Data: data, StoreMeta: meta})
				})
				if err != nil {
					t.Fatal(err)
				}
				who := as{project: "legacy-project"}
				resp := s.expect(who, request{method: "GET", path: "/v1/secrets/" + secret.ID + "/payload"}, http.StatusOK)
				if got := base64.StdEncoding.EncodeToString(resp.body); got != fx.PlaintextB64 {
					t.Fatalf("payload: want %s, got %s", fx.PlaintextB64, got)
				}
				// New secrets of that project reuse its existing project KEK, as the reference would.
				id := s.createSecret(who, `{"payload": "new", "payload_content_type": "text/plain"}`)
				v, err := s.db.Read(ctx).Secret(id, store.LoadOptions{Payload: true})
				if err != nil {
					t.Fatal(err)
				}
				if v.Data.KEKID != kek.ID {
					t.Errorf("a new secret should use the project's existing KEK %s, used %s", kek.ID, v.Data.KEKID)
				}
			})
		})
	}
}
