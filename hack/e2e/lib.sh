# shellcheck shell=bash
# e2e/lib.sh holds what hack/e2e-cli.sh and hack/e2e-keystone.sh share: failing with the reason, comparing
# values, and running bin/keymanager on a free loopback port. Source it after hack/lib.sh; the script
# defines KEYMANAGER_BIN and WORK (server data in WORK/data, its log in WORK/server.log).

SERVER_PID=""

# Name the failing command: under set -e a failed CLI call would otherwise end
# the run with nothing but the CLI's own stderr.
trap 'printf "\nE2E FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

fail() {
	printf '\nE2E FAILED: %s\n\n' "$*" >&2
	exit 1
}

# expect_eq fails the run unless $2 (got) equals $3 (want).
expect_eq() {
	[[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
	ok "$1"
}

# field prints one key of the JSON object on stdin.
field() {
	/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server_on PORT FLAGS... runs KEYMANAGER_BIN serve on 127.0.0.1:PORT with FLAGS added, sets ENDPOINT
# and SERVER_PID, and waits for /healthcheck to answer 200.
start_server_on() {
	local port="$1" i
	shift
	ENDPOINT="http://127.0.0.1:${port}"
	mkdir -p "${WORK}/data"
	log "starting ${KEYMANAGER_BIN} serve $* on 127.0.0.1:${port}"
	"$KEYMANAGER_BIN" serve --listen "127.0.0.1:${port}" --data-dir "${WORK}/data" "$@" \
		</dev/null >"${WORK}/server.log" 2>&1 &
	SERVER_PID=$!
	for ((i = 0; i < 150; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited during start-up"
		[[ "$(http_status "${ENDPOINT}/healthcheck")" == 200 ]] && {
			ok "server healthy at ${ENDPOINT}"
			return 0
		}
		sleep 0.2
	done
	fail "server did not answer /healthcheck within 30s"
}

# start_server FLAGS... is start_server_on a free port.
start_server() {
	start_server_on "$(free_port)" "$@"
}

stop_server() {
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=""
}
