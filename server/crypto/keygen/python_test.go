package keygen

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// pythonPeer does with python-cryptography what the reference's simple_crypto does: it loads the keys Go
// generated (with the passphrase where there is one) and checks that each private key matches its public key,
// and it serialises keys of its own the way generate_asymmetric does, for Go to read.
const pythonPeer = `
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

req = json.load(sys.stdin)
pw = req["passphrase"].encode()
out = {}
for name, load_priv, load_pub in (
        ("rsa", serialization.load_pem_private_key, serialization.load_pem_public_key),
        ("dsa", serialization.load_der_private_key, serialization.load_der_public_key)):
    for enc in ("plain", "encrypted"):
        priv = load_priv(base64.b64decode(req[name + "_" + enc]), password=pw if enc == "encrypted" else None)
        pub = load_pub(base64.b64decode(req[name + "_public_" + enc]))
        out[name + "_" + enc] = priv.public_key().public_numbers() == pub.public_numbers()

best = serialization.BestAvailableEncryption(pw)
k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
out["py_rsa"] = base64.b64encode(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, best)).decode()
out["py_rsa_public"] = base64.b64encode(k.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
d = dsa.generate_private_key(key_size=1024)
out["py_dsa"] = base64.b64encode(d.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, best)).decode()
out["py_dsa_public"] = base64.b64encode(d.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
json.dump(out, sys.stdout)
`

// TestPythonReadsAndWritesTheSameFormats proves the formats against python-cryptography, the library the
// reference Barbican serialises its keys with: Python loads what Go generated, Go reads what Python generated.
func TestPythonReadsAndWritesTheSameFormats(t *testing.T) {
	py := testbed.Python(t, "cryptography.hazmat.primitives.serialization")
	const passphrase = "pässphrase ✓"
	req := map[string]string{"passphrase": passphrase}
	for _, alg := range []string{"rsa", "dsa"} {
		for enc, pw := range map[string]string{"plain": "", "encrypted": passphrase} {
			private, public, err := Pair(alg, 1024, []byte(pw))
			if err != nil {
				t.Fatal(err)
			}
			req[alg+"_"+enc], req[alg+"_public_"+enc] = b64(private), b64(public)
		}
	}
	in, _ := json.Marshal(req)
	cmd := exec.Command(py, "-c", pythonPeer)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	outJSON, err := cmd.Output()
	if err != nil {
		t.Fatalf("python peer: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(outJSON, &out); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rsa_plain", "rsa_encrypted", "dsa_plain", "dsa_encrypted"} {
		if out[k] != true {
			t.Errorf("python-cryptography should load Go's %s key and find it matches its public key", k)
		}
	}

	rsaDER, err := DecryptPKCS8(decodePEM(t, unb64(t, out["py_rsa"]), PEMEncryptedPrivateKey), []byte(passphrase))
	if err != nil {
		t.Fatalf("Go should decrypt python's encrypted RSA key: %v", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(rsaDER)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(decodePEM(t, unb64(t, out["py_rsa_public"]), PEMPublicKey))
	if err != nil || !key.(*rsa.PrivateKey).PublicKey.Equal(pub) {
		t.Fatalf("python's RSA public key should match its private key: %v", err)
	}
	dsaDER, err := DecryptPKCS8(unb64(t, out["py_dsa"]), []byte(passphrase))
	if err != nil {
		t.Fatalf("Go should decrypt python's encrypted DSA key: %v", err)
	}
	k := parseDSA(t, dsaDER, unb64(t, out["py_dsa_public"]))
	if k.params.Q.BitLen() != 160 {
		t.Errorf("python's 1024-bit DSA key should have a 160-bit q like ours, got %d", k.params.Q.BitLen())
	}
}
