#!/usr/bin/env bash
# reference-barbican.sh runs the reference Barbican (installed by
# hack/deps/barbican.sh) for compatibility tests: no-auth, simple_crypto,
# orders processed inside the request, under uWSGI on 127.0.0.1.
#
#   reference-barbican.sh check
#   reference-barbican.sh db-upgrade DIR DB_URL
#   reference-barbican.sh start [--db-upgrade] DIR DB_URL PORT
#   reference-barbican.sh stop DIR
#   reference-barbican.sh python [ARGS...]
#
# check      exits 0 when everything a start needs is installed, else says what is not.
# db-upgrade writes DIR's configuration and runs `barbican-manage db upgrade` on DB_URL.
# start      writes DIR/barbican.conf, DIR/paste.ini and DIR/uwsgi.ini, optionally upgrades the
#            database first, starts uWSGI in the background (log DIR/uwsgi.log, pid DIR/uwsgi.pid)
#            and returns once `GET /` answers 300. host_href is http://127.0.0.1:PORT.
# stop       stops the server started in DIR (SIGTERM, then SIGKILL) and waits for it to exit.
# python     runs Debian's python3, which can import barbican (e.g. its simple_crypto plugin).
#
# DB_URL is a keymanager database URL: mysql://user:pass@host:port/db (given to Barbican as
# mysql+pymysql://…) or sqlite:///abs/path (given as sqlite:////abs/path).
# Environment: REFERENCE_BARBICAN_KEK, the simple_crypto master KEK (url-safe base64 of 32 bytes;
# a fresh one is generated when unset); REFERENCE_BARBICAN_PROCESSES, uWSGI processes (default 1).
# The KEK and the database password end up in DIR/barbican.conf, which is created mode 0600.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON=/usr/bin/python3
PASTE_INI=/usr/share/barbican-common/barbican-api-paste.ini
UWSGI_PYTHON_PLUGIN=/usr/lib/uwsgi/plugins/python3_plugin.so
# Generous: a cold start on a busy 2-core machine imports a few hundred Python
# modules. This bounds a hang; it never decides a test's outcome.
START_TIMEOUT_S=90
STOP_TIMEOUT_S=30

die() {
	printf 'reference-barbican: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

check() {
	local missing_parts=()
	have barbican-manage || missing_parts+=("barbican-manage (barbican-common)")
	have uwsgi || missing_parts+=("uwsgi (uwsgi-core)")
	[[ -f "$UWSGI_PYTHON_PLUGIN" ]] || missing_parts+=("${UWSGI_PYTHON_PLUGIN} (uwsgi-plugin-python3)")
	[[ -f "$PASTE_INI" ]] || missing_parts+=("${PASTE_INI} (barbican-common)")
	[[ -x "$PYTHON" ]] || missing_parts+=("${PYTHON} (python3)")
	if [[ ${#missing_parts[@]} -gt 0 ]]; then
		die "not installed: ${missing_parts[*]}; run hack/deps/barbican.sh"
	fi
}

# sqlalchemy_url translates a keymanager database URL into the SQLAlchemy URL
# Barbican expects.
sqlalchemy_url() {
	local url="$1"
	case "$url" in
	mysql://*) printf 'mysql+pymysql://%s' "${url#mysql://}" ;;
	mysql+pymysql://*) printf '%s' "$url" ;;
	sqlite:////*) printf '%s' "$url" ;;
	# keymanager reads three slashes before an absolute path as that path;
	# SQLAlchemy needs four.
	sqlite:///*) printf 'sqlite:////%s' "${url#sqlite:///}" ;;
	/*) printf 'sqlite:///%s' "$url" ;;
	*) die "unsupported database URL scheme in ${url%%://*}://… (want mysql:// or sqlite:///)" ;;
	esac
}

new_kek() {
	"$PYTHON" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'
}

# configure writes DIR/barbican.conf and DIR/paste.ini. Barbican reads no
# command-line arguments in the WSGI app and finds its configuration through
# oslo.config's default search path, whose first entries are under $HOME: every
# process here runs with HOME=DIR so that ~/barbican.conf is ours and
# /etc/barbican/barbican.conf is never read.
configure() {
	local dir="$1" db_url="$2" port="$3" kek
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	kek="${REFERENCE_BARBICAN_KEK:-}"
	[[ -n "$kek" ]] || kek="$(new_kek)"
	(
		umask 077
		cat >"${dir}/barbican.conf" <<EOF
# Written by hack/reference-barbican.sh.
[DEFAULT]
host_href = http://127.0.0.1:${port}
sql_connection = $(sqlalchemy_url "$db_url")
# Tables come from barbican-manage db upgrade, as in a real deployment.
db_auto_create = False
use_stderr = True

[queue]
# Orders are processed inside the request, without a worker or message bus.
enable = False

[secretstore]
enabled_secretstore_plugins = store_crypto

[crypto]
enabled_crypto_plugins = simple_crypto

[simple_crypto_plugin]
kek = ${kek}
EOF
	)
	# Debian's stock pipelines, with /v1 on the no-auth one (unauthenticated-
	# context: X-Project-Id/X-Roles headers) instead of Keystone's authtoken.
	sed -e 's|^/v1:.*|/v1: barbican_api|' "$PASTE_INI" >"${dir}/paste.ini"
	grep -q '^/v1: barbican_api$' "${dir}/paste.ini" ||
		die "${PASTE_INI} has no /v1 route to point at the barbican_api pipeline"
	grep -q '^\[pipeline:barbican_api\]' "${dir}/paste.ini" ||
		die "${PASTE_INI} has no barbican_api (no-auth) pipeline"
	CONF_DIR="$dir"
}

db_upgrade() {
	local dir="$1"
	if ! HOME="$dir" barbican-manage db upgrade >>"${dir}/manage.log" 2>&1; then
		tail -n 20 "${dir}/manage.log" >&2
		die "barbican-manage db upgrade failed (log: ${dir}/manage.log)"
	fi
}

start() {
	local upgrade=false
	if [[ "${1:-}" == "--db-upgrade" ]]; then
		upgrade=true
		shift
	fi
	[[ $# -eq 3 ]] || usage
	local dir="$1" db_url="$2" port="$3"
	[[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got ${port}"
	check
	configure "$dir" "$db_url" "$port"
	dir="$CONF_DIR"
	if uwsgi_pid "$dir" >/dev/null; then
		die "a server started in ${dir} is still running (pid $(uwsgi_pid "$dir")); stop it first"
	fi
	rm -f "${dir}/uwsgi.pid"
	if $upgrade; then
		db_upgrade "$dir"
	fi
	cat >"${dir}/uwsgi.ini" <<EOF
# Written by hack/reference-barbican.sh.
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:${port}
paste = config:${dir}/paste.ini
chdir = ${dir}
master = true
processes = ${REFERENCE_BARBICAN_PROCESSES:-1}
threads = 1
# Fail at start, not at the first request, when the app cannot load.
need-app = true
# Debian's barbican-api-uwsgi.ini raises the 4 KiB default so that large
# headers (long X-Project-Id, Keystone tokens) reach Barbican at all.
buffer-size = 65535
# uWSGI's http-socket does not keep connections alive reliably: a client
# reusing one gets "connection reset" on its next request. Debian's
# barbican-api-uwsgi.ini closes every connection for the same reason.
add-header = Connection: close
die-on-term = true
no-orphans = true
pidfile = ${dir}/uwsgi.pid
daemonize = ${dir}/uwsgi.log
EOF
	HOME="$dir" uwsgi --ini "${dir}/uwsgi.ini" </dev/null >>"${dir}/uwsgi.log" 2>&1 ||
		die "uwsgi did not start (log: ${dir}/uwsgi.log)"
	local url="http://127.0.0.1:${port}/" code pid=""
	code="$(uwsgi_wait "$dir" "$url" 300 "$START_TIMEOUT_S" "$STOP_TIMEOUT_S")" ||
		die "GET ${url} answered '${code}', want 300 (log: ${dir}/uwsgi.log)"
	pid="$(uwsgi_pid "$dir" || true)"
	ok "reference Barbican on http://127.0.0.1:${port} (pid ${pid:-?}, log ${dir}/uwsgi.log)"
}

stop() {
	[[ $# -eq 1 ]] || usage
	uwsgi_stop "$1" "$STOP_TIMEOUT_S"
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$cmd" in
	check) check ;;
	db-upgrade)
		[[ $# -eq 2 ]] || usage
		check
		configure "$1" "$2" 0
		db_upgrade "$CONF_DIR"
		;;
	start) start "$@" ;;
	stop) stop "$@" ;;
	python) exec "$PYTHON" "$@" ;;
	*) usage ;;
	esac
}

main "$@"
