package storecrypto

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// storeAndDecrypt stores p as the payload of a new secret of project and returns its plaintext.
func storeAndDecrypt(t *testing.T, s *Store, db *store.DB, projectID string, secretID string, p *store.SecretPayload) []byte {
	t.Helper()
	ctx := context.Background()
	secret := &store.Secret{Model: store.Model{ID: secretID}, ProjectID: projectID}
	if err := db.Write(ctx, func(tx *store.Tx) error { return tx.CreateSecret(secret, p) }); err != nil {
		t.Fatal(err)
	}
	v, err := db.Read(ctx).Secret(secretID, store.LoadOptions{Payload: true})
	if err != nil {
		t.Fatal(err)
	}
	if v.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("the content type should be recorded as given, got %q", v.ContentType)
	}
	plaintext, err := s.Decrypt(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	return plaintext
}

func TestGenerateStoresDecryptableRows(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	projectID := ensureProject(t, db, "gen")
	req := GenerateRequest{ProjectExternalID: "gen", ContentType: "text/plain; charset=utf-8",
		Spec: crypto.GenerateSpec{Algorithm: "AES", BitLength: 128, Mode: "cbc"}}
	id := store.NewID()
	p, err := s.GenerateSymmetric(ctx, s.GlobalDefault(), id, req)
	if err != nil {
		t.Fatal(err)
	}
	if key := storeAndDecrypt(t, s, db, projectID, id, p); len(key) != 16 {
		t.Fatalf("a 128-bit key should be 16 bytes, got %d", len(key))
	}

	req.Spec = crypto.GenerateSpec{Algorithm: "rsa", BitLength: 1024, Mode: "cbc", Passphrase: []byte("pw")}
	ids := KeyPairIDs{Private: store.NewID(), Public: store.NewID(), Passphrase: store.NewID()}
	pair, err := s.GenerateAsymmetric(ctx, s.GlobalDefault(), ids, req)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Passphrase == nil || pair.Private.Data.SecretID != ids.Private || pair.Public.Data.SecretID != ids.Public {
		t.Fatal("the rows should belong to the secrets named by ids")
	}
	if got := storeAndDecrypt(t, s, db, projectID, ids.Passphrase, pair.Passphrase); string(got) != "pw" {
		t.Fatalf("passphrase secret: %q", got)
	}
	block, _ := pem.Decode(storeAndDecrypt(t, s, db, projectID, ids.Public, pair.Public))
	if block == nil {
		t.Fatal("the public key should be PEM")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateRefusesLikeTheReference(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	symmetric := map[string]struct {
		spec crypto.GenerateSpec
		want error
	}{
		"an algorithm no store offers":                  {crypto.GenerateSpec{Algorithm: "3des", BitLength: 192}, ErrGeneratePluginNotFound},
		"an algorithm the crypto layer lacks":           {crypto.GenerateSpec{Algorithm: "ec", BitLength: 256}, ErrAlgorithmNotSupported},
		"a key pair algorithm for a symmetric key":      {crypto.GenerateSpec{Algorithm: "rsa", BitLength: 2048}, ErrAlgorithmNotSupported},
		"a length simple_crypto does not generate":      {crypto.GenerateSpec{Algorithm: "aes", BitLength: 512}, ErrGenerationUnsupported},
		"an unknown algorithm is no store's either":     {crypto.GenerateSpec{Algorithm: "blowfish", BitLength: 128}, ErrGeneratePluginNotFound},
		"desede is offered but not by the crypto layer": {crypto.GenerateSpec{Algorithm: "desede", BitLength: 192}, ErrAlgorithmNotSupported},
	}
	for name, c := range symmetric {
		_, err := s.GenerateSymmetric(ctx, s.GlobalDefault(), store.NewID(), GenerateRequest{ProjectExternalID: "p", Spec: c.spec})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: want %v, got %v", name, c.want, err)
		}
	}
	_, err := s.GenerateAsymmetric(ctx, s.GlobalDefault(), KeyPairIDs{}, GenerateRequest{ProjectExternalID: "p",
		Spec: crypto.GenerateSpec{Algorithm: "aes", BitLength: 256}})
	if !errors.Is(err, ErrAlgorithmNotSupported) {
		t.Errorf("an AES key pair: want ErrAlgorithmNotSupported, got %v", err)
	}
	_, err = s.GenerateAsymmetric(ctx, s.GlobalDefault(), KeyPairIDs{}, GenerateRequest{ProjectExternalID: "p",
		Spec: crypto.GenerateSpec{Algorithm: "rsa", BitLength: 1000}})
	if !errors.Is(err, ErrGenerationUnsupported) {
		t.Errorf("a 1000-bit RSA key: want ErrGenerationUnsupported, got %v", err)
	}
	var re *RequestError
	if errors.As(err, &re) {
		t.Error("an unsupported length is a server error in the reference, not a RequestError")
	}
}
