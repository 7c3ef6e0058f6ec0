# shellcheck shell=bash
# lib.sh holds the logging, policy and path helpers every hack/ script sources.
# It is not meant to be executed on its own.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
. "${REPO_ROOT}/hack/versions.env"

# The cache outside the checkout survives CI's fresh clones; bin/ is the fast
# path for a person re-running in the same tree.
KM_CACHE_DIR="${KM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/keymanager}"
# shellcheck disable=SC2034 # used by the scripts that source this file.
KM_BIN_DIR="${KM_BIN_DIR:-${REPO_ROOT}/bin}"

log() { printf '==> %s\n' "$*" >&2; }
ok() { printf '    ok: %s\n' "$*" >&2; }
warn() { printf '!!! %s\n' "$*" >&2; }

is_ci() { [[ "${CI:-}" == "true" ]]; }
is_root() { [[ "$(id -u)" -eq 0 ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

# missing reports a component that could not be provided. Under CI=true that
# ends the run, because a silently skipped test suite is worse than a red one;
# a person gets a loud banner and the run goes on.
missing() {
	local component="$1" reason="$2"
	if is_ci; then
		printf '\nFATAL (CI=true): %s is missing: %s\n\n' "$component" "$reason" >&2
		exit 1
	fi
	printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
	printf '!!! %s is MISSING: %s\n' "$component" "$reason" >&2
	printf '!!! Tests that need it will be SKIPPED.\n' >&2
	printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
	return 1
}

# apt_install installs Debian packages that are not installed yet. apt-get
# update runs at most once per process tree because it is the slow part.
apt_install() {
	local pkg need=()
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			need+=("$pkg")
		fi
	done
	if [[ ${#need[@]} -eq 0 ]]; then
		ok "apt packages present: $*"
		return 0
	fi
	if ! is_root || ! have apt-get; then
		missing "${need[*]}" "not installed and cannot apt-get install (need root on Debian)"
		return 1
	fi
	if [[ -z "${KM_APT_UPDATED:-}" ]]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		export KM_APT_UPDATED=1
	fi
	log "apt-get install ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# poll runs CMD every half second, its output discarded, until it succeeds (return 0) or SECONDS have passed
# (return 1).
poll() {
	local secs="$1" i
	shift
	for ((i = 0; i < secs * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# go_env_os_arch prints the GOOS-GOARCH pair used to key built binaries.
go_os_arch() { printf '%s-%s' "$(go env GOOS)" "$(go env GOARCH)"; }

# install_cached copies a cached binary into place atomically, so a crashed
# copy never leaves a half-written executable behind.
install_cached() {
	local src="$1" dst="$2"
	mkdir -p "$(dirname "$dst")"
	cp "$src" "${dst}.tmp.$$"
	chmod 0755 "${dst}.tmp.$$"
	mv -f "${dst}.tmp.$$" "$dst"
}

# go_tool NAME VERSION PACKAGE LDFLAGS provides bin/NAME at VERSION: the copy
# already in bin/, else the one cached in KM_CACHE_DIR/NAME/VERSION-os-arch/,
# else one built there by `go install PACKAGE@vVERSION` from the Go module proxy
# (with the tool's own go.mod, never ours; no release downloads). The caller
# defines version_ok PATH, true when the binary at PATH reports VERSION, so a
# stale or foreign copy is replaced.
go_tool() {
	local name="$1" version="$2" pkg="$3" ldflags="$4" tmp cached
	local dst="${KM_BIN_DIR}/${name}"
	cached="${KM_CACHE_DIR}/${name}/${version}-$(go_os_arch)/${name}"
	if ! version_ok "$dst"; then
		if ! version_ok "$cached"; then
			log "building ${name} v${version} from the Go module proxy"
			tmp="$(mktemp -d)"
			if ! (cd "$tmp" && GOWORK=off GOFLAGS='' GOBIN="$tmp" go install -trimpath -ldflags="$ldflags" "${pkg}@v${version}"); then
				rm -rf "$tmp"
				return 1
			fi
			install_cached "${tmp}/${name}" "$cached"
			rm -rf "$tmp"
		fi
		install_cached "$cached" "$dst"
	fi
	ok "${name} v${version}: ${dst}"
}

# uwsgi_pid prints the pid of the uWSGI master started in DIR (DIR/uwsgi.pid) while it runs.
uwsgi_pid() {
	local pidfile="$1/uwsgi.pid" pid
	[[ -s "$pidfile" ]] || return 1
	pid="$(tr -d ' \n' <"$pidfile")"
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	printf '%s' "$pid"
}

# terminate sends NAME's process PID SIGTERM, then SIGKILL if it still runs after TIMEOUT seconds.
terminate() {
	local name="$1" pid="$2" timeout="$3" i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "${name} ${pid} ignored SIGTERM for ${timeout}s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

# uwsgi_stop stops the uWSGI master started in DIR: SIGTERM, then SIGKILL after TIMEOUT seconds.
uwsgi_stop() {
	local dir="$1" timeout="$2" pid
	if pid="$(uwsgi_pid "$dir")"; then
		terminate uwsgi "$pid" "$timeout"
	fi
	rm -f "${dir}/uwsgi.pid"
}

# uwsgi_wait waits up to TIMEOUT seconds for GET URL to answer WANT from the uWSGI master started in DIR.
# When it does not, it shows the log's tail, stops the master (SIGKILL after STOP_TIMEOUT seconds), prints
# what URL answered ("nothing" when nothing listened) and fails.
uwsgi_wait() {
	local dir="$1" url="$2" want="$3" timeout="$4" stop_timeout="$5" code="" i
	for ((i = 0; i < timeout * 10; i++)); do
		code="$(http_status "$url")"
		[[ "$code" == "$want" ]] && return 0
		# The master writes its pidfile at once; once that process is gone,
		# waiting longer cannot help.
		if [[ -s "${dir}/uwsgi.pid" ]] && ! uwsgi_pid "$dir" >/dev/null; then
			break
		fi
		sleep 0.1
	done
	tail -n 30 "${dir}/uwsgi.log" >&2 || true
	uwsgi_stop "$dir" "$stop_timeout" >&2 || true
	printf '%s' "${code:-nothing}"
	return 1
}

# http_status prints the status GET URL answers with, or nothing while nothing listens. It uses Debian's
# python3, which every uWSGI-run component here needs anyway.
http_status() {
	/usr/bin/python3 - "$1" <<'EOF' 2>/dev/null || true
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}
