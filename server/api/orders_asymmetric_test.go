package api

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"

	"github.com/keymanager-io/keymanager/server/crypto/keygen"
)

// keyPairSecrets waits for an asymmetric order and returns its container's secret ids by reference name, after
// checking the order and the container's secrets as castellan reads them.
func keyPairSecrets(t *testing.T, s *setup, body, wantType string) map[string]string {
	t.Helper()
	o := s.waitOrder(admin, s.createOrder(admin, body))
	if got := keys(o); got != "container_ref,created,creator_id,meta,order_ref,status,sub_status,sub_status_message,type,updated" {
		t.Fatalf("an ACTIVE key pair order should carry exactly these keys, got %s: %v", got, o)
	}
	containerID := refID(t, o["container_ref"])
	if o["status"] != "ACTIVE" || o["container_ref"] != s.server.URL+"/v1/containers/"+containerID {
		t.Fatalf("unexpected order %v", o)
	}
	// The containers API is served separately; the order's container is read from the store.
	c, refs, err := s.db.Read(context.Background()).ContainerRefs(containerID)
	if err != nil {
		t.Fatal(err)
	}
	if deref(c.Type) != wantType || deref(c.Name) != "pair" || deref(c.CreatorID) != "u-admin" {
		t.Errorf("the container should be of type %s, named after the order, by its creator: %+v", wantType, c)
	}
	return refs
}

// payloadOf fetches a secret's metadata and payload as castellan does (Accept application/octet-stream).
func payloadOf(t *testing.T, s *setup, id, wantType string) []byte {
	t.Helper()
	m := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t)
	if m["secret_type"] != wantType || m["name"] != "pair" || m["algorithm"] != "RSA" && m["algorithm"] != "dsa" {
		t.Errorf("secret %s should be a %s named after the order, got %v", id, wantType, m)
	}
	return s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id + "/payload",
		header: map[string]string{"Accept": "application/octet-stream"}}, http.StatusOK).body
}

func TestRSAKeyPairOrderWithPassphrase(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, opts...)
		refs := keyPairSecrets(t, s, `{"type": "asymmetric", "meta": {"name": "pair", "algorithm": "RSA",
			"bit_length": 2048, "passphrase": "very secret"}}`, "rsa")
		if len(refs) != 3 {
			t.Fatalf("want private_key, public_key and private_key_passphrase, got %v", refs)
		}
		if got := payloadOf(t, s, refs["private_key_passphrase"], "passphrase"); string(got) != "very secret" {
			t.Errorf("the passphrase secret should hold the passphrase, got %q", got)
		}
		block, _ := pem.Decode(payloadOf(t, s, refs["private_key"], "private"))
		if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
			t.Fatalf("the private key should be an encrypted PKCS#8 PEM, got %+v", block)
		}
		der, err := keygen.DecryptPKCS8(block.Bytes, []byte("very secret"))
		if err != nil {
			t.Fatalf("the private key should decrypt with the passphrase: %v", err)
		}
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		pubBlock, _ := pem.Decode(payloadOf(t, s, refs["public_key"], "public"))
		if pubBlock == nil || pubBlock.Type != "PUBLIC KEY" {
			t.Fatalf("the public key should be a PUBLIC KEY PEM, got %+v", pubBlock)
		}
		pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok || rsaKey.N.BitLen() != 2048 || !rsaKey.PublicKey.Equal(pub) {
			t.Fatal("the private key should be a 2048-bit RSA key matching the public key")
		}
	})
}

func TestDSAKeyPairOrder(t *testing.T) {
	s := newSetup(t)
	refs := keyPairSecrets(t, s, `{"type": "asymmetric", "meta": {"name": "pair", "algorithm": "dsa",
		"bit_length": 1024}}`, "dsa")
	if _, ok := refs["private_key_passphrase"]; ok || len(refs) != 2 {
		t.Fatalf("without a passphrase want private_key and public_key only, got %v", refs)
	}
	// DSA keys are DER, as the reference stores them.
	if _, err := x509.ParsePKIXPublicKey(payloadOf(t, s, refs["public_key"], "public")); err != nil {
		t.Fatalf("the public key should be SubjectPublicKeyInfo DER: %v", err)
	}
	if der := payloadOf(t, s, refs["private_key"], "private"); len(der) == 0 || der[0] != 0x30 {
		t.Fatal("the private key should be DER")
	}
}
