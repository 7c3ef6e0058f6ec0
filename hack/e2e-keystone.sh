#!/usr/bin/env bash
# e2e-keystone.sh puts a real bin/keymanager behind the real test Keystone (hack/keystone.sh) and drives it
# with the clients OpenStack reaches Barbican with: the openstack CLI with password auth through the catalog,
# and castellan (hack/e2e/castellan_flows.py) in barbican_endpoint mode and in catalog mode. It then runs a
# second server with --auth token-file and drives it with the openstack CLI's admin_token auth.
#
# Environment: KEYMANAGER_BIN (default bin/keymanager, built if absent or when KEYMANAGER_E2E_BUILD=1),
# CI=true turns a missing Keystone, openstack CLI or castellan into a failure.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=hack/e2e/lib.sh
. "${REPO_ROOT}/hack/e2e/lib.sh"
cd "$REPO_ROOT"

KEYMANAGER_BIN="${KEYMANAGER_BIN:-${KM_BIN_DIR}/keymanager}"
# Debian's interpreter: castellan, keystoneauth and oslo.config live in its dist-packages, not pyenv's.
PYTHON=/usr/bin/python3
WORK="$(mktemp -d)"
export KEYSTONE_TEST_PASSWORD="${KEYSTONE_TEST_PASSWORD:-keymanager-test}"

cleanup() {
	local rc=$?
	stop_server
	if [[ $rc -ne 0 ]]; then
		[[ -f "${WORK}/server.log" ]] && {
			warn "last lines of the server log:"
			tail -n 30 "${WORK}/server.log" >&2 || true
		}
		[[ -f "${WORK}/cli.log" ]] && {
			warn "last lines of the openstack CLI's stderr:"
			tail -n 15 "${WORK}/cli.log" >&2 || true
		}
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT

# status prints the HTTP status of GET $1 sent with the headers that follow, and the WWW-Authenticate header.
status() {
	"$PYTHON" - "$@" <<'PY'
import sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1], headers=dict(h.split(": ", 1) for h in sys.argv[2:]))
try:
    r = urllib.request.urlopen(req, timeout=10)
    print(r.status, r.headers.get("WWW-Authenticate", ""))
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("WWW-Authenticate", ""))
except OSError:
    print("000 nothing listens")
PY
}

# os runs the openstack CLI as user $1 of project km-a (password auth; the key manager from the catalog).
os() {
	local user="$1"
	shift
	OS_AUTH_URL="$KEYSTONE_URL" OS_IDENTITY_API_VERSION=3 OS_AUTH_TYPE=password OS_USERNAME="$user" \
		OS_PASSWORD="$KEYSTONE_TEST_PASSWORD" OS_PROJECT_NAME=km-a OS_USER_DOMAIN_ID=default \
		OS_PROJECT_DOMAIN_ID=default OS_REGION_NAME=RegionOne OS_INTERFACE=public \
		openstack "$@" 2>>"${OS_STDERR:-${WORK}/cli.log}"
}

check_openstack_cli() {
	log "openstack CLI, password auth, key-manager endpoint from the catalog"
	local ref meta order order_ref container acl
	ref="$(os km-creator secret store --name e2e-ks --payload 'hello keystone' -f value -c 'Secret href')"
	[[ "$ref" == "${ENDPOINT}/v1/secrets/"* ]] || fail "secret href '${ref}' is not under ${ENDPOINT}/v1/secrets/"
	ok "secret store"
	meta="$(os km-creator secret get "$ref" -f json)"
	expect_eq "secret get name" "$(field Name <<<"$meta")" "e2e-ks"
	expect_eq "secret get payload" "$(os km-creator secret get --payload "$ref" -f value -c Payload)" "hello keystone"
	os km-creator secret list -f value -c 'Secret href' | grep -qx "$ref" || fail "secret list lacks ${ref}"
	ok "secret list"

	order_ref="$(os km-creator secret order create --name e2e-order --algorithm aes --bit-length 256 \
		--mode cbc key -f value -c 'Order href')"
	order="$(os km-creator secret order get "$order_ref" -f json)"
	expect_eq "order status" "$(field Status <<<"$order")" "ACTIVE"

	container="$(os km-creator secret container create --name e2e-container --type generic \
		--secret "one=${ref}" -f value -c 'Container href')"
	[[ "$container" == "${ENDPOINT}/v1/containers/"* ]] || fail "container href '${container}'"
	ok "secret container create"

	# ACLs name Keystone user ids; any id will do for the round trip.
	local reader_id=e2e-reader-user-id
	os km-creator acl user add --user "$reader_id" "$ref" >/dev/null
	acl="$(os km-creator acl get "$ref" -f json)"
	[[ "$acl" == *"$reader_id"* ]] || fail "acl get lacks ${reader_id}: ${acl}"
	ok "acl user add and get"

	# 403: a user with only the member role under Barbican's default (legacy) policy.
	if OS_STDERR="${WORK}/member.log" os km-member secret list >/dev/null; then
		fail "km-member (member role only) listed secrets; the legacy policy refuses it"
	fi
	# barbicanclient words a 403 as "4xx Client error: Forbidden: …".
	grep -q "Forbidden: Secret(s) retrieval attempt not allowed" "${WORK}/member.log" ||
		fail "the refusal of km-member was not a 403: $(cat "${WORK}/member.log")"
	ok "403 for a member-only user"

	os km-creator secret delete "$ref"
	if os km-creator secret get "$ref" >/dev/null; then
		fail "deleted secret still readable"
	fi
	ok "secret delete"

	local got
	got="$(status "${ENDPOINT}/v1/secrets")"
	expect_eq "401 without a token" "$got" "401 Keystone uri=\"${KEYSTONE_URL}\""
	got="$(status "${ENDPOINT}/v1/secrets" "X-Auth-Token: not-a-token")"
	expect_eq "401 for a bad token" "${got%% *}" "401"
}

check_castellan() {
	log "castellan in barbican_endpoint mode"
	"$PYTHON" hack/e2e/castellan_flows.py endpoint "$KEYSTONE_URL" "$ENDPOINT"
	log "castellan in catalog mode"
	"$PYTHON" hack/e2e/castellan_flows.py catalog "$KEYSTONE_URL"
}

check_token_file() {
	log "openstack CLI with admin_token against --auth token-file"
	local token ref
	token="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')"
	printf 'sha256:%s e2e-project e2e-user admin\n' "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" \
		>"${WORK}/tokens"
	local port
	port="$(free_port)"
	start_server_on "$port" --host-href "http://127.0.0.1:${port}" --auth token-file --token-file "${WORK}/tokens"
	local at=(--os-auth-type admin_token --os-token "$token" --os-endpoint "${ENDPOINT}/v1")
	ref="$(openstack "${at[@]}" secret store --name e2e-static --payload static -f value -c 'Secret href' 2>>"${WORK}/cli.log")"
	expect_eq "admin_token secret get payload" \
		"$(openstack "${at[@]}" secret get --payload "$ref" -f value -c Payload 2>>"${WORK}/cli.log")" "static"
	openstack "${at[@]}" secret list -f value -c 'Secret href' 2>>"${WORK}/cli.log" | grep -qx "$ref" ||
		fail "admin_token secret list lacks ${ref}"
	ok "admin_token secret list"
	expect_eq "token-file: 401 for an unknown token" \
		"$(status "${ENDPOINT}/v1/secrets" "X-Auth-Token: wrong")" "401 "
	stop_server
}

main() {
	if ! bash hack/keystone.sh check >/dev/null 2>&1; then
		missing "Keystone" "run hack/deps/keystone.sh (hack/test-deps.sh)" || exit 0
	fi
	if ! have openstack || ! "$PYTHON" -c 'import castellan' 2>/dev/null; then
		missing "openstack CLI or castellan" "install python3-openstackclient python3-castellan (hack/test-deps.sh)" || exit 0
	fi
	if [[ ! -x "$KEYMANAGER_BIN" || "${KEYMANAGER_E2E_BUILD:-0}" == 1 ]]; then
		log "building ${KEYMANAGER_BIN}"
		CGO_ENABLED=1 go build -o "$KEYMANAGER_BIN" .
	fi
	KEYSTONE_URL="$(bash hack/keystone.sh start)"
	local port
	port="$(free_port)"
	bash hack/keystone.sh endpoint "http://127.0.0.1:${port}"
	log "starting keymanager behind Keystone ${KEYSTONE_URL}"
	KEYMANAGER_KEYSTONE_PASSWORD="$KEYSTONE_TEST_PASSWORD" start_server_on "$port" \
		--host-href "http://127.0.0.1:${port}" --auth keystone --keystone-auth-url "$KEYSTONE_URL" \
		--keystone-username km-service --keystone-project-name service
	check_openstack_cli
	check_castellan
	stop_server
	rm -rf "${WORK}/data"
	check_token_file
	log "e2e-keystone: all checks passed"
}

main "$@"
