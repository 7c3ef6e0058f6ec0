#!/usr/bin/env bash
# keystone.sh runs a real Keystone (installed by hack/deps/keystone.sh) for the tests that put keymanager
# behind Keystone: Debian's keystone-wsgi-public under uWSGI on 127.0.0.1, fernet tokens, its own database on
# the test MariaDB, fast password hashing, and a fixed set of test projects, users and roles.
#
#   keystone.sh check
#   keystone.sh start
#   keystone.sh endpoint URL
#   keystone.sh stop
#   keystone.sh python [ARGS...]
#
# check     exits 0 when everything a start needs is installed, else says what is not.
# start     makes sure Keystone runs and holds the fixtures, and prints its URL (http://127.0.0.1:PORT/v3) on
#           stdout. Idempotent and safe to run from several tests at once (a lock serialises them): a running,
#           answering Keystone is left alone, so the first caller pays the ~20 s of a cold start.
# endpoint  points the catalog's key-manager service (public and internal endpoints, region RegionOne) at URL.
# stop      stops the server (SIGTERM, then SIGKILL).
# python    runs Debian's python3, which can import keystoneauth1, barbicanclient and castellan.
#
# Fixtures (password KEYSTONE_TEST_PASSWORD for every user, domain Default):
#   admin / project admin: admin (keystone-manage bootstrap; admin implies member and reader)
#   km-service / project service: service, admin   -- the service user keymanager validates tokens with
#   project km-a: km-admin (admin), km-creator (creator), km-observer (observer), km-audit (audit),
#                 km-member (member), km-reader (reader), km-service-admin (key-manager:service-admin)
#   project km-b: km-creator-b (creator), km-member-b (member)
#   km-system-reader: reader on the system (system scope all)
#
# Keystone sends its notifications (messagingv2) to RabbitMQ at KEYSTONE_TRANSPORT_URL (default
# rabbit://guest:guest@127.0.0.1:5672/, hack/deps/rabbitmq.sh): exchange keystone, topic notifications.
#
# Environment: KEYSTONE_PORT (default 35357), KEYSTONE_DIR (default ${KM_CACHE_DIR}/keystone), KEYSTONE_DB_URL
# (default the test MariaDB's keymanager_keystone database, which the keymanager user may create).
# The configuration in KEYSTONE_DIR is created mode 0600: it holds the database password.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON=/usr/bin/python3
UWSGI_PYTHON_PLUGIN=/usr/lib/uwsgi/plugins/python3_plugin.so
WSGI_SCRIPT=/usr/bin/keystone-wsgi-public
PORT="${KEYSTONE_PORT:-35357}"
DIR="${KEYSTONE_DIR:-${KM_CACHE_DIR}/keystone}"
DB_URL="${KEYSTONE_DB_URL:-mysql+pymysql://keymanager:keymanager@127.0.0.1:3306/keymanager_keystone}"
# Test-only credentials: this Keystone listens on loopback and holds nothing but fixtures.
export KEYSTONE_TEST_PASSWORD="${KEYSTONE_TEST_PASSWORD:-keymanager-test}"
URL="http://127.0.0.1:${PORT}/v3"
TRANSPORT_URL="${KEYSTONE_TRANSPORT_URL:-rabbit://guest:guest@127.0.0.1:5672/}"
START_TIMEOUT_S=120
STOP_TIMEOUT_S=30

die() {
	printf 'keystone: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

check() {
	local missing_parts=()
	have keystone-manage || missing_parts+=("keystone-manage (python3-keystone)")
	[[ -f "$WSGI_SCRIPT" ]] || missing_parts+=("${WSGI_SCRIPT} (python3-keystone)")
	have uwsgi || missing_parts+=("uwsgi (uwsgi-core)")
	[[ -f "$UWSGI_PYTHON_PLUGIN" ]] || missing_parts+=("${UWSGI_PYTHON_PLUGIN} (uwsgi-plugin-python3)")
	[[ -x "$PYTHON" ]] || missing_parts+=("${PYTHON} (python3)")
	if [[ ${#missing_parts[@]} -gt 0 ]]; then
		die "not installed: ${missing_parts[*]}; run hack/deps/keystone.sh"
	fi
}

# configure writes DIR/keystone.conf. keystone-wsgi-public finds it through OS_KEYSTONE_CONFIG_DIR (set in
# uwsgi.ini) and keystone-manage through --config-file, so /etc/keystone is never read.
configure() {
	mkdir -p "$DIR"
	DIR="$(cd "$DIR" && pwd)"
	(
		umask 077
		cat >"${DIR}/keystone.conf.tmp" <<EOF
# Written by hack/keystone.sh.
[DEFAULT]
use_stderr = True

[database]
connection = ${DB_URL}

[token]
provider = fernet

[fernet_tokens]
key_repository = ${DIR}/fernet-keys

[fernet_receipts]
key_repository = ${DIR}/fernet-keys

[credential]
key_repository = ${DIR}/credential-keys

[identity]
# bcrypt's default 12 rounds cost ~400 ms of CPU per login; tests log in a lot.
password_hash_rounds = 4

# Keystone's notifications (identity.project.deleted, …) go to RabbitMQ for keymanager's listener.
[oslo_messaging_notifications]
driver = messagingv2
transport_url = ${TRANSPORT_URL}
# A few tries, not oslo.messaging's endless default: without RabbitMQ, Keystone must still answer.
retry = 2
EOF
	)
	# A Keystone running with another configuration is restarted by start.
	if ! cmp -s "${DIR}/keystone.conf.tmp" "${DIR}/keystone.conf"; then
		rm -f "${DIR}/ready"
	fi
	mv -f "${DIR}/keystone.conf.tmp" "${DIR}/keystone.conf"
}

manage() {
	if ! keystone-manage --config-file "${DIR}/keystone.conf" "$@" >>"${DIR}/manage.log" 2>&1; then
		tail -n 20 "${DIR}/manage.log" >&2
		die "keystone-manage $1 failed (log: ${DIR}/manage.log)"
	fi
}

# create_database makes Keystone's database on the test MariaDB; the keymanager user holds ALL on
# keymanager\_% so it may create this one.
create_database() {
	"$PYTHON" - "$DB_URL" <<'EOF' >>"${DIR}/manage.log" 2>&1 || die "cannot create Keystone's database (log: ${DIR}/manage.log)"
import sys, urllib.parse, pymysql
u = urllib.parse.urlparse(sys.argv[1])
if not u.scheme.startswith("mysql"):
    sys.exit(0)
conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=urllib.parse.unquote(u.username),
                       password=urllib.parse.unquote(u.password or ""))
with conn.cursor() as c:
    c.execute("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4" % u.path.lstrip("/"))
conn.close()
EOF
}

# fixtures creates the test projects, users and role assignments (find-or-create, so reruns are cheap) as the
# bootstrap admin, in one Python process.
fixtures() {
	"$PYTHON" - "$URL" <<'EOF' >>"${DIR}/manage.log" 2>&1 || die "creating the Keystone fixtures failed (log: ${DIR}/manage.log)"
import os, sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

url, pw = sys.argv[1], os.environ["KEYSTONE_TEST_PASSWORD"]
auth = v3.Password(auth_url=url, username="admin", password=pw, project_name="admin",
                   user_domain_id="default", project_domain_id="default")
ks = client.Client(session=session.Session(auth=auth))

def one(manager, name, **kw):
    found = manager.list(name=name, **({"domain": "default"} if manager is not ks.roles else {}))
    return found[0] if found else manager.create(name=name, **kw)

roles = {r: one(ks.roles, r) for r in
         ["admin", "member", "reader", "service", "creator", "observer", "audit", "key-manager:service-admin"]}
projects = {p: one(ks.projects, p, domain="default") for p in ["admin", "service", "km-a", "km-b"]}
grants = {
    "km-service": [("service", "service"), ("service", "admin")],
    "km-admin": [("km-a", "admin")],
    "km-creator": [("km-a", "creator")],
    "km-observer": [("km-a", "observer")],
    "km-audit": [("km-a", "audit")],
    "km-member": [("km-a", "member")],
    "km-reader": [("km-a", "reader")],
    "km-service-admin": [("km-a", "key-manager:service-admin")],
    "km-creator-b": [("km-b", "creator")],
    "km-member-b": [("km-b", "member")],
    "km-system-reader": [],
}
for name, pairs in grants.items():
    user = one(ks.users, name, domain="default", password=pw)
    for project, role in pairs:
        ks.roles.grant(roles[role], user=user, project=projects[project])
ks.roles.grant(roles["reader"], user=one(ks.users, "km-system-reader", domain="default", password=pw),
               system="all")
ks.roles.grant(roles["admin"], user=one(ks.users, "admin", domain="default"), system="all")
print("fixtures ready")
EOF
}

set_endpoint() {
	local target="$1"
	"$PYTHON" - "$URL" "$target" <<'EOF' >>"${DIR}/manage.log" 2>&1 || die "setting the key-manager endpoint failed (log: ${DIR}/manage.log)"
import os, sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

url, target, pw = sys.argv[1], sys.argv[2], os.environ["KEYSTONE_TEST_PASSWORD"]
auth = v3.Password(auth_url=url, username="admin", password=pw, project_name="admin",
                   user_domain_id="default", project_domain_id="default")
ks = client.Client(session=session.Session(auth=auth))
svc = [s for s in ks.services.list(type="key-manager")]
svc = svc[0] if svc else ks.services.create(name="barbican", type="key-manager", description="keymanager")
have = {e.interface: e for e in ks.endpoints.list(service=svc)}
for iface in ("public", "internal"):
    if iface in have:
        if have[iface].url != target:
            ks.endpoints.update(have[iface], url=target)
    else:
        ks.endpoints.create(service=svc, url=target, interface=iface, region="RegionOne")
print("key-manager endpoint", target)
EOF
}

start_locked() {
	check
	configure
	if uwsgi_pid "$DIR" >/dev/null && [[ "$(http_status "$URL")" == 200 ]] && [[ -f "${DIR}/ready" ]]; then
		printf '%s\n' "$URL"
		return 0
	fi
	uwsgi_stop "$DIR" "$STOP_TIMEOUT_S"
	rm -f "${DIR}/ready"
	create_database
	manage db_sync
	if [[ ! -f "${DIR}/fernet-keys/0" ]]; then
		manage fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
	fi
	if [[ ! -f "${DIR}/credential-keys/0" ]]; then
		manage credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
	fi
	manage bootstrap --bootstrap-password "$KEYSTONE_TEST_PASSWORD" \
		--bootstrap-admin-url "$URL" --bootstrap-public-url "$URL" --bootstrap-internal-url "$URL" \
		--bootstrap-region-id RegionOne
	cat >"${DIR}/uwsgi.ini" <<EOF
# Written by hack/keystone.sh.
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:${PORT}
wsgi-file = ${WSGI_SCRIPT}
env = OS_KEYSTONE_CONFIG_DIR=${DIR}
chdir = ${DIR}
master = true
processes = ${KEYSTONE_PROCESSES:-2}
threads = 1
need-app = true
# Fernet tokens and service catalogs make large headers and bodies.
buffer-size = 65535
# As for the reference Barbican: uWSGI's http-socket does not keep connections alive reliably.
add-header = Connection: close
die-on-term = true
pidfile = ${DIR}/uwsgi.pid
daemonize = ${DIR}/uwsgi.log
EOF
	# setsid: Keystone outlives the test that started it, and must hold neither its output pipe nor the lock.
	HOME="$DIR" setsid uwsgi --ini "${DIR}/uwsgi.ini" </dev/null >>"${DIR}/uwsgi.log" 2>&1 9>&- ||
		die "uwsgi did not start (log: ${DIR}/uwsgi.log)"
	local code
	code="$(uwsgi_wait "$DIR" "$URL" 200 "$START_TIMEOUT_S" "$STOP_TIMEOUT_S")" ||
		die "GET ${URL} answered '${code}', want 200 (log: ${DIR}/uwsgi.log)"
	fixtures
	touch "${DIR}/ready"
	ok "Keystone on ${URL} (pid $(uwsgi_pid "$DIR" || echo '?'), log ${DIR}/uwsgi.log)"
	printf '%s\n' "$URL"
}

# locked runs its arguments holding DIR/lock, so that tests starting Keystone at once wait for one start.
locked() {
	mkdir -p "$DIR"
	exec 9>"${DIR}/lock"
	flock 9
	"$@"
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$cmd" in
	check) check ;;
	start) locked start_locked ;;
	endpoint)
		[[ $# -eq 1 ]] || usage
		locked start_locked >/dev/null
		set_endpoint "$1"
		;;
	stop) locked uwsgi_stop "$DIR" "$STOP_TIMEOUT_S" ;;
	python) exec "$PYTHON" "$@" ;;
	*) usage ;;
	esac
}

main "$@"
