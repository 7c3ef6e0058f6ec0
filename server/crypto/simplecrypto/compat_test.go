package simplecrypto

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/fernet/fernet-go"

	"github.com/keymanager-io/keymanager/server/crypto"
)

// fixture is one case of testdata/fernet_fixtures.json (see gen_fixtures.py).
type fixture struct {
	Name         string   `json:"name"`
	KEKs         []string `json:"keks"`
	PluginMeta   string   `json:"plugin_meta"`
	PKEK         string   `json:"pkek"`
	PlaintextB64 string   `json:"plaintext_b64"`
	CypherText   string   `json:"cypher_text"`
	DBCypherText string   `json:"db_cypher_text"`
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	data, err := os.ReadFile("testdata/fernet_fixtures.json")
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	var f struct{ Cases []fixture }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("parse fixtures: %v", err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("fixtures should contain cases")
	}
	return f.Cases
}

// TestPythonFixturesDecrypt checks that rows written by Python's
// cryptography.fernet exactly as Barbican writes them decrypt here.
func TestPythonFixturesDecrypt(t *testing.T) {
	ctx := context.Background()
	for _, fx := range loadFixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			keys, err := ParseKEKs(strings.Join(fx.KEKs, ","))
			if err != nil {
				t.Fatalf("ParseKEKs: %v", err)
			}
			p := newPlugin(t, keys, Options{})
			kek := crypto.KEK{Label: "fixture", PluginMeta: fx.PluginMeta, BindCompleted: true}

			var pkek fernet.Key
			if err := p.unwrap(&kek, &pkek); err != nil {
				t.Fatalf("unwrap: %v", err)
			}
			if got := base64.URLEncoding.EncodeToString(pkek[:]); got != fx.PKEK {
				t.Error("unwrapped pKEK should equal the one Python generated")
			}

			token, err := base64.StdEncoding.DecodeString(fx.DBCypherText)
			if err != nil || string(token) != fx.CypherText {
				t.Fatalf("encrypted_data.cypher_text should be base64 of the token (err %v)", err)
			}
			got, err := p.Decrypt(ctx, kek, token, "")
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			want, _ := base64.StdEncoding.DecodeString(fx.PlaintextB64)
			if !bytes.Equal(got, want) {
				t.Error("decrypted payload should equal the fixture plaintext")
			}

			// Bind must leave a row Barbican already bound untouched.
			bound := kek
			if err := p.BindKEK(ctx, &bound); err != nil || bound.PluginMeta != fx.PluginMeta {
				t.Errorf("BindKEK should keep an existing plugin_meta (err %v)", err)
			}
		})
	}
}

// TestPythonFixturesNeedTheWrappingKEK checks that MultiFernet really is
// needed: without the KEK that wrapped it, a pKEK does not unwrap.
func TestPythonFixturesNeedTheWrappingKEK(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		if len(fx.KEKs) < 2 {
			continue
		}
		t.Run(fx.Name, func(t *testing.T) {
			all, err := ParseKEKs(strings.Join(fx.KEKs, "\n"))
			if err != nil {
				t.Fatalf("ParseKEKs: %v", err)
			}
			kek := crypto.KEK{Label: "fixture", PluginMeta: fx.PluginMeta, BindCompleted: true}
			token := []byte(fx.CypherText)

			activeOnly := newPlugin(t, all[:1], Options{})
			if _, err := activeOnly.Decrypt(context.Background(), kek, token, ""); !errors.Is(err, crypto.ErrKEKUnwrap) {
				t.Fatalf("decrypt with only the active KEK should fail with ErrKEKUnwrap, got %v", err)
			}

			// Rewrapping under the active KEK (simple_crypto rewrap_pkek)
			// lets the retired KEK be dropped.
			rewrapped, err := newPlugin(t, all, Options{}).RewrapPKEK(fx.PluginMeta)
			if err != nil {
				t.Fatalf("RewrapPKEK: %v", err)
			}
			kek.PluginMeta = rewrapped
			if !activeOnly.WrappedByActiveKEK(rewrapped) {
				t.Error("a rewrapped pKEK should be wrapped by the active KEK")
			}
			got, err := activeOnly.Decrypt(context.Background(), kek, token, "")
			want, _ := base64.StdEncoding.DecodeString(fx.PlaintextB64)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("the secret should decrypt with the rewrapped pKEK and only the active KEK (err %v)", err)
			}
		})
	}
}
