"""castellan_flows.py drives keymanager through castellan's BarbicanKeyManager the way the OpenStack
services of the seed documents do: cinder's volume key, nova attaching that volume, swift's at-rest root
secret, glance image signing, a passphrase, a key pair, listing by type, delete and the not-found error.

    /usr/bin/python3 castellan_flows.py MODE KEYSTONE_URL [BARBICAN_ENDPOINT]

MODE is "endpoint" (castellan configured with barbican_endpoint) or "catalog" (castellan finds the
key-manager service in the Keystone catalog). Users and password are hack/keystone.sh's fixtures.
Exits non-zero at the first check that fails.
"""
import datetime
import os
import sys

from castellan import key_manager, options
from castellan.common import exception
from castellan.common.credentials import keystone_password
from castellan.common.objects import passphrase, private_key, public_key, symmetric_key, x_509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from keystoneauth1 import session
from keystoneauth1.identity import v3
from oslo_config import cfg
from oslo_context import context as oslo_context

PASSWORD = os.environ.get("KEYSTONE_TEST_PASSWORD", "keymanager-test")


def check(what, ok):
    if not ok:
        print("castellan FAILED: " + what, file=sys.stderr)
        sys.exit(1)
    print("    ok: castellan " + MODE + ": " + what, file=sys.stderr)


def context(user, project="km-a"):
    return keystone_password.KeystonePassword(
        auth_url=KEYSTONE, password=PASSWORD, username=user, user_domain_id="default",
        project_name=project, project_domain_id="default")


def request_context(user, project="km-a"):
    """The oslo.context RequestContext a service holds for a user's API call: the user's token and project,
    which castellan re-scopes through [barbican] auth_endpoint."""
    auth = v3.Password(auth_url=KEYSTONE, username=user, password=PASSWORD, user_domain_id="default",
                       project_name=project, project_domain_id="default")
    sess = session.Session(auth=auth)
    return oslo_context.RequestContext(auth_token=sess.get_token(), project_id=sess.get_project_id())


def certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "glance image signing e2e")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


MODE, KEYSTONE = sys.argv[1], sys.argv[2]
conf = cfg.ConfigOpts()
if MODE == "endpoint":
    options.set_defaults(conf, backend="barbican", barbican_endpoint=sys.argv[3], auth_endpoint=KEYSTONE,
                         barbican_api_version="v1", number_of_retries=30, retry_delay=1)
else:
    options.set_defaults(conf, backend="barbican", auth_endpoint=KEYSTONE, barbican_endpoint_type="public",
                         number_of_retries=30, retry_delay=1)
km = key_manager.API(conf)
creator = context("km-creator")

# cinder: a volume's encryption key comes from create_key (a key order), then its bytes.
volume_key_id = km.create_key(creator, algorithm="AES", length=256, name="cinder-volume-key")
volume_key = km.get(creator, volume_key_id)
check("cinder create_key gives a 256-bit AES key",
      volume_key.algorithm.upper() == "AES" and len(volume_key.get_encoded()) == 32)

# nova: attaching the volume, it reads the key by id with the request context (token) of another user of the
# same project.
attached = km.get(request_context("km-admin"), volume_key_id)
check("nova gets the volume key by id as the same project", attached.get_encoded() == volume_key.get_encoded())

# swift: the at-rest root secret is a stored symmetric key read back.
root = os.urandom(32)
root_id = km.store(creator, symmetric_key.SymmetricKey("AES", 256, root, name="swift-root-secret"))
check("swift stores and gets its root secret", km.get(creator, root_id).get_encoded() == root)

# glance: image signing certificates are stored and read as X.509.
der = certificate()
cert_id = km.store(creator, x_509.X509(der, name="glance-signing-cert"))
got = km.get(creator, cert_id)
check("glance stores and gets an X.509 certificate", isinstance(got, x_509.X509) and got.get_encoded() == der)

secret = b"correct horse battery staple"
pass_id = km.store(creator, passphrase.Passphrase(secret))
check("a passphrase round-trips", km.get(creator, pass_id).get_encoded() == secret)

priv_id, pub_id = km.create_key_pair(creator, "RSA", 2048, name="e2e-pair")
priv, pub = km.get(creator, priv_id), km.get(creator, pub_id)
check("create_key_pair gives an RSA private and public key",
      isinstance(priv, private_key.PrivateKey) and isinstance(pub, public_key.PublicKey) and
      priv.bit_length == 2048 and len(pub.get_encoded()) > 0)

listed = [o.id for o in km.list(creator, object_type=x_509.X509)]
check("list by type finds the certificate", cert_id in listed and root_id not in listed)

for ident in (volume_key_id, root_id, cert_id, pass_id, priv_id, pub_id):
    km.delete(creator, ident)
try:
    km.get(creator, volume_key_id)
    check("a deleted key is not found", False)
except exception.ManagedObjectNotFoundError:
    check("a deleted key is ManagedObjectNotFoundError", True)

try:
    km.store(context("km-member"), passphrase.Passphrase(b"x"))
    check("a member-only user may not store under the legacy policy", False)
except exception.KeyManagerError as e:
    check("a member-only user is refused (" + type(e).__name__ + ")", "403" in str(e) or "Forbidden" in str(e))
