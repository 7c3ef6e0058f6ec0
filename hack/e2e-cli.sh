#!/usr/bin/env bash
# e2e-cli.sh drives a real bin/keymanager with the real barbican CLI
# (python3-barbicanclient) and compares every value it gets back. It is the
# proof that unmodified OpenStack clients work against keymanager.
#
# Environment: KEYMANAGER_BIN (default bin/keymanager, built if absent or
# when KEYMANAGER_E2E_BUILD=1), CI=true turns a missing CLI into a failure.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=hack/e2e/lib.sh
. "${REPO_ROOT}/hack/e2e/lib.sh"
cd "$REPO_ROOT"

KEYMANAGER_BIN="${KEYMANAGER_BIN:-${KM_BIN_DIR}/keymanager}"
PROJECT_A="e2e-project-a-$$"
PROJECT_B="e2e-project-b-$$"
WORK="$(mktemp -d)"

cleanup() {
	local rc=$?
	stop_server
	if [[ $rc -ne 0 && -f "${WORK}/server.log" ]]; then
		warn "last lines of the server log:"
		tail -n 30 "${WORK}/server.log" >&2 || true
		warn "last lines of the barbican CLI's stderr:"
		tail -n 15 "${WORK}/cli.log" >&2 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT

# bcli runs the barbican CLI as project $1 against the server under test.
# Its deprecation warning goes to stderr, which we keep for diagnostics.
bcli() {
	local project="$1"
	shift
	barbican --no-auth --endpoint "$ENDPOINT" --os-project-id "$project" "$@" 2>>"${WORK}/cli.log"
}

# hrefs prints the "Secret href" of each entry of a JSON list on stdin. JSON,
# because cliff's value format rejects -c on an empty list.
hrefs() {
	python3 -c 'import json, sys; [print(s["Secret href"]) for s in json.load(sys.stdin)]'
}

now_ms() { date +%s%3N; }

check_text_secret() {
	local payload='hello wörld ✓ 42' t0 t1 got
	log "store and read a text secret"
	t0="$(now_ms)"
	REF_TEXT="$(bcli "$PROJECT_A" secret store --name e2e-text --payload "$payload" \
		--payload-content-type text/plain -f value -c 'Secret href')"
	t1="$(now_ms)"
	[[ "$REF_TEXT" == "${ENDPOINT}/v1/secrets/"* ]] || fail "secret href '${REF_TEXT}' is not under ${ENDPOINT}/v1/secrets/"
	printf '    timing: barbican secret store round-trip (CLI process included) %d ms\n' $((t1 - t0)) >&2

	local meta
	meta="$(bcli "$PROJECT_A" secret get "$REF_TEXT" -f json)"
	expect_eq "text secret href" "$(field 'Secret href' <<<"$meta")" "$REF_TEXT"
	expect_eq "text secret name" "$(field Name <<<"$meta")" "e2e-text"
	expect_eq "text secret status" "$(field Status <<<"$meta")" "ACTIVE"
	expect_eq "text secret type" "$(field 'Secret type' <<<"$meta")" "opaque"
	[[ "$(field 'Content types' <<<"$meta")" == *text/plain* ]] ||
		fail "text secret content types lack text/plain: $(field 'Content types' <<<"$meta")"
	got="$(bcli "$PROJECT_A" secret get --payload "$REF_TEXT" -f value -c Payload)"
	expect_eq "text secret payload" "$got" "$payload"
}

check_binary_secret() {
	log "store and read a binary secret"
	head -c 48 /dev/urandom >"${WORK}/key.bin"
	printf '\000\377\n' >>"${WORK}/key.bin" # NUL, 0xff and a newline must survive.
	REF_BIN="$(bcli "$PROJECT_A" secret store --name e2e-binary --secret-type symmetric \
		--algorithm aes --bit-length 256 --mode cbc \
		--payload "$(base64 -w0 "${WORK}/key.bin")" \
		--payload-content-type application/octet-stream --payload-content-encoding base64 \
		-f value -c 'Secret href')"
	local meta
	meta="$(bcli "$PROJECT_A" secret get "$REF_BIN" -f json)"
	expect_eq "binary secret type" "$(field 'Secret type' <<<"$meta")" "symmetric"
	expect_eq "binary secret algorithm" "$(field Algorithm <<<"$meta")" "aes"
	expect_eq "binary secret bit length" "$(field 'Bit length' <<<"$meta")" "256"
	bcli "$PROJECT_A" secret get --payload_content_type application/octet-stream \
		--file "${WORK}/got.bin" "$REF_BIN" >/dev/null
	cmp -s "${WORK}/key.bin" "${WORK}/got.bin" || fail "binary payload differs from what was stored"
	ok "binary secret payload (byte for byte)"
}

check_list() {
	log "list secrets per project"
	local list_a list_b
	list_a="$(bcli "$PROJECT_A" secret list --limit 100 -f json | hrefs)"
	grep -qxF "$REF_TEXT" <<<"$list_a" || fail "project A's list lacks ${REF_TEXT}"
	grep -qxF "$REF_BIN" <<<"$list_a" || fail "project A's list lacks ${REF_BIN}"
	ok "project A lists its secrets"
	list_b="$(bcli "$PROJECT_B" secret list --limit 100 -f json | hrefs)"
	[[ -z "$list_b" ]] || fail "project B sees secrets it does not own: ${list_b}"
	ok "project B lists none of project A's secrets"
	if bcli "$PROJECT_B" secret get "$REF_TEXT" -f json >/dev/null; then
		fail "project B can read project A's secret ${REF_TEXT}"
	fi
	if bcli "$PROJECT_B" secret get --payload "$REF_TEXT" -f value -c Payload >/dev/null; then
		fail "project B can read project A's payload"
	fi
	ok "project B cannot read project A's secret or payload"
}

check_update() {
	log "store without payload, then update"
	local ref meta got
	ref="$(bcli "$PROJECT_A" secret store --name e2e-later -f value -c 'Secret href')"
	meta="$(bcli "$PROJECT_A" secret get "$ref" -f json)"
	[[ "$(field 'Content types' <<<"$meta")" != *text/plain* ]] ||
		fail "a secret stored without payload already has content types"
	bcli "$PROJECT_A" secret update "$ref" "filled in later" >/dev/null
	got="$(bcli "$PROJECT_A" secret get --payload "$ref" -f value -c Payload)"
	expect_eq "updated payload" "$got" "filled in later"
	if bcli "$PROJECT_A" secret update "$ref" "second write" >/dev/null; then
		fail "a second payload update was accepted"
	fi
	ok "a second payload update is refused"
}

# bcli_error runs a barbican CLI command that must fail and prints the
# client's last error line ("<title>: <description>").
bcli_error() {
	local out
	if out="$(bcli_stderr "$@")"; then
		fail "barbican $* succeeded, an error was expected"
	fi
	tail -n 1 <<<"$out"
}

# bcli_stderr runs the barbican CLI as bcli does but returns its stderr.
bcli_stderr() {
	local project="$1"
	shift
	barbican --no-auth --endpoint "$ENDPOINT" --os-project-id "$project" "$@" 2>&1 >/dev/null
}

check_containers() {
	log "secret containers"
	local pub priv extra rsa generic got
	pub="$(bcli "$PROJECT_A" secret store --name e2e-pub --payload pub -f value -c 'Secret href')"
	priv="$(bcli "$PROJECT_A" secret store --name e2e-priv --payload priv -f value -c 'Secret href')"
	extra="$(bcli "$PROJECT_A" secret store --name e2e-extra --payload extra -f value -c 'Secret href')"

	rsa="$(bcli "$PROJECT_A" secret container create --name e2e-rsa --type rsa \
		--secret "public_key=${pub}" --secret "private_key=${priv}" -f value -c 'Container href')"
	[[ "$rsa" == "${ENDPOINT}/v1/containers/"* ]] || fail "container href '${rsa}' is not under ${ENDPOINT}/v1/containers/"
	# -f json cannot print the client's datetime; read the fields one by one.
	expect_eq "rsa container name" "$(bcli "$PROJECT_A" secret container get "$rsa" -f value -c Name)" "e2e-rsa"
	expect_eq "rsa container type" "$(bcli "$PROJECT_A" secret container get "$rsa" -f value -c Type)" "rsa"
	expect_eq "rsa container status" "$(bcli "$PROJECT_A" secret container get "$rsa" -f value -c Status)" "ACTIVE"
	expect_eq "rsa container public key" "$(bcli "$PROJECT_A" secret container get "$rsa" -f value -c 'Public Key')" "$pub"
	expect_eq "rsa container private key" "$(bcli "$PROJECT_A" secret container get "$rsa" -f value -c 'Private Key')" "$priv"
	expect_eq "rsa container passphrase" "$(bcli "$PROJECT_A" secret container get "$rsa" -f value -c 'PK Passphrase')" "None"

	generic="$(bcli "$PROJECT_A" secret container create --name e2e-generic \
		--secret "b=${extra}" --secret "a=${pub}" -f value -c 'Container href')"
	got="$(bcli "$PROJECT_A" secret container get "$generic" -f value -c Secrets)"
	expect_eq "generic container secrets" "$got" "a=${pub}"$'\n'"b=${extra}"

	got="$(bcli "$PROJECT_A" secret container list --type rsa -f value -c 'Container href')"
	expect_eq "container list filtered by type" "$got" "$rsa"
	got="$(bcli "$PROJECT_A" secret container list --name 'e2e-g%' -f value -c Name)"
	expect_eq "container list filtered by name pattern" "$got" "e2e-generic"
	# JSON, because cliff's value format rejects -c on an empty list.
	got="$(bcli "$PROJECT_B" secret container list -f json)"
	expect_eq "project B lists none of project A's containers" "$got" "[]"

	expect_eq "duplicate secrets are refused" \
		"$(bcli_error "$PROJECT_A" secret container create --name dup --secret "a=${pub}" --secret "b=${pub}")" \
		"Bad Request: Provided object does not match schema 'Container': Duplicate secret ids are not allowed. Invalid property: 'secret_refs'"
	expect_eq "an rsa container needs both keys" \
		"$(bcli_error "$PROJECT_A" secret container create --name half --type rsa --secret "public_key=${pub}")" \
		"Bad Request: Provided object does not match schema 'Container': The minimum required reference names are 'public_key' and'private_key' for RSA type. Invalid property: 'secret_refs'"
	expect_eq "another project's secret cannot be referenced" \
		"$(bcli_error "$PROJECT_B" secret container create --name theft --secret "x=${pub}")" \
		"Not Found: Secret provided for 'x' doesn't exist."
	expect_eq "project B cannot read project A's container" \
		"$(bcli_error "$PROJECT_B" secret container get "$rsa")" \
		"Forbidden: Container retrieval attempt not allowed - please review your user/project privileges"

	# Container consumers through python-barbicanclient's own API (the CLI has no command for them), run by
	# the interpreter the barbican CLI runs on.
	local py
	py="$(sed -n '1s/^#! *//p' "$(command -v barbican)")"
	got="$(${py:-python3} - "$ENDPOINT" "$PROJECT_A" "$rsa" <<'PY'
import sys
from barbicanclient import client
endpoint, project, ref = sys.argv[1:]
c = client.Client(endpoint=endpoint, project_id=project)
registered = c.containers.register_consumer(ref, "e2e-lb", "https://lb.example/1")
c.containers.register_consumer(ref, "e2e-lb", "https://lb.example/1")
print(type(registered).__name__, registered.consumers)
c.containers.remove_consumer(ref, "e2e-lb", "https://lb.example/1")
print(c.containers.get(ref).consumers)
PY
	)"
	expect_eq "container consumers registered and removed" "$got" \
		"RSAContainer [{'name': 'e2e-lb', 'URL': 'https://lb.example/1'}]"$'\n'"[]"

	bcli "$PROJECT_B" secret container delete "$generic" >/dev/null 2>&1 &&
		fail "project B could delete project A's container"
	bcli "$PROJECT_A" secret container delete "$generic" >/dev/null
	expect_eq "a deleted container is gone" "$(bcli_error "$PROJECT_A" secret container get "$generic")" \
		"Not Found: Secrets container not found."
	expect_eq "its secrets stay" "$(bcli "$PROJECT_A" secret get "$extra" -f value -c Name)" "e2e-extra"
	CONTAINER_REF="$rsa"
}

# acl_row prints the ACL of $2 as seen by project $1: project access, users, and whether it has timestamps.
acl_row() {
	local fields
	fields="$(bcli "$1" acl get "$2" -f value -c 'Project Access' -c Users -c Created)"
	# The Created column is None for the implicit ACL and a timestamp once an ACL is stored.
	sed -E 's/ [0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+$/ stored/' <<<"$fields"
}

check_acls() {
	local ref kind
	for ref in "$REF_BIN" "$CONTAINER_REF"; do
		kind=secret
		[[ "$ref" == */containers/* ]] && kind=container
		log "${kind} ACLs"
		expect_eq "${kind}: the implicit ACL" "$(acl_row "$PROJECT_A" "$ref")" "True [] None"
		bcli "$PROJECT_A" acl submit "$ref" --user u1 --user u2 --user u1 --no-project-access >/dev/null
		expect_eq "${kind}: acl submit (PUT)" "$(acl_row "$PROJECT_A" "$ref")" "False ['u1', 'u2'] stored"
		bcli "$PROJECT_A" acl user add "$ref" --user u3 >/dev/null
		expect_eq "${kind}: acl user add" "$(acl_row "$PROJECT_A" "$ref")" "False ['u1', 'u2', 'u3'] stored"
		bcli "$PROJECT_A" acl user remove "$ref" --user u1 --project-access >/dev/null
		expect_eq "${kind}: acl user remove" "$(acl_row "$PROJECT_A" "$ref")" "True ['u2', 'u3'] stored"
		bcli "$PROJECT_A" acl submit "$ref" --no-project-access >/dev/null
		expect_eq "${kind}: acl submit without users clears them" "$(acl_row "$PROJECT_A" "$ref")" "False [] stored"
		expect_eq "${kind}: another project cannot read the ACL" \
			"$(bcli_error "$PROJECT_B" acl get "$ref")" \
			"Forbidden: ${kind^}ACL(s) retrieval attempt not allowed - please review your user/project privileges"
		bcli "$PROJECT_A" acl delete "$ref" >/dev/null
		expect_eq "${kind}: acl delete" "$(acl_row "$PROJECT_A" "$ref")" "True [] None"
	done
}

check_delete() {
	log "delete"
	bcli "$PROJECT_B" secret delete "$REF_TEXT" >/dev/null &&
		fail "project B could delete project A's secret"
	bcli "$PROJECT_A" secret delete "$REF_TEXT" >/dev/null
	if bcli "$PROJECT_A" secret get "$REF_TEXT" -f json >/dev/null; then
		fail "deleted secret ${REF_TEXT} can still be read"
	fi
	ok "deleted secret is gone"
}

# wait_order polls an order as castellan does (the CLI, once every 0.2 s, at most 150 times) until it
# leaves PENDING, and prints its JSON.
wait_order() {
	local project="$1" href="$2" i out
	for ((i = 0; i < 150; i++)); do
		out="$(bcli "$project" secret order get "$href" -f json)"
		[[ "$(field Status <<<"$out")" != PENDING ]] && {
			printf '%s\n' "$out"
			return 0
		}
		sleep 0.2
	done
	fail "order ${href} is still PENDING"
}

check_orders() {
	log "order a key, a key pair and an unsupported key"
	local key_href pair_href bad_href out secret_href err
	key_href="$(bcli "$PROJECT_A" secret order create key --name e2e-key --algorithm aes --bit-length 256 \
		--mode cbc --payload-content-type application/octet-stream -f value -c 'Order href')"
	[[ "$key_href" == "${ENDPOINT}/v1/orders/"* ]] || fail "order href '${key_href}' is not under ${ENDPOINT}/v1/orders/"
	out="$(wait_order "$PROJECT_A" "$key_href")"
	expect_eq "key order status" "$(field Status <<<"$out")" "ACTIVE"
	expect_eq "key order type" "$(field Type <<<"$out")" "Key"
	expect_eq "key order error code" "$(field 'Error code' <<<"$out")" "None"
	secret_href="$(field 'Secret href' <<<"$out")"
	[[ "$secret_href" == "${ENDPOINT}/v1/secrets/"* ]] || fail "key order's secret href '${secret_href}'"
	out="$(bcli "$PROJECT_A" secret get "$secret_href" -f json)"
	expect_eq "ordered key's type" "$(field 'Secret type' <<<"$out")" "symmetric"
	expect_eq "ordered key's name" "$(field Name <<<"$out")" "e2e-key"
	expect_eq "ordered key's bit length" "$(field 'Bit length' <<<"$out")" "256"
	bcli "$PROJECT_A" secret get --payload_content_type application/octet-stream \
		--file "${WORK}/ordered.bin" "$secret_href" >/dev/null
	expect_eq "ordered key's payload length" "$(wc -c <"${WORK}/ordered.bin")" "32"

	pair_href="$(bcli "$PROJECT_A" secret order create asymmetric --name e2e-pair --algorithm rsa \
		--bit-length 2048 -f value -c 'Order href')"
	out="$(wait_order "$PROJECT_A" "$pair_href")"
	expect_eq "key pair order status" "$(field Status <<<"$out")" "ACTIVE"
	expect_eq "key pair order type" "$(field Type <<<"$out")" "Asymmetric"
	[[ "$(field 'Container href' <<<"$out")" == "${ENDPOINT}/v1/containers/"* ]] ||
		fail "key pair order's container href '$(field 'Container href' <<<"$out")'"
	out="$(bcli "$PROJECT_A" secret list --name e2e-pair --limit 100 -f json)"
	expect_eq "key pair secrets" "$(python3 -c 'import json, sys
print(",".join(sorted(s["Secret type"] for s in json.load(sys.stdin))))' <<<"$out")" "private,public"

	bad_href="$(bcli "$PROJECT_A" secret order create key --algorithm ec --bit-length 256 -f value -c 'Order href')"
	out="$(wait_order "$PROJECT_A" "$bad_href")"
	expect_eq "unsupported key order status" "$(field Status <<<"$out")" "ERROR"
	expect_eq "unsupported key order error code" "$(field 'Error code' <<<"$out")" "400"
	expect_eq "unsupported key order error message" "$(field 'Error message' <<<"$out")" \
		"Process TypeOrder issue seen - Requested algorithm is not supported."
	if err="$(barbican --no-auth --endpoint "$ENDPOINT" --os-project-id "$PROJECT_A" \
		secret order create key --bit-length 12 2>&1)"; then
		fail "an order of 12 bits was accepted"
	fi
	[[ "$err" == *"Bad Request: Provided field value is not supported"* ]] ||
		fail "a 12-bit order should be refused with the reference's message, got: ${err}"
	ok "a 12-bit key order is refused with the reference's message"

	log "list and delete orders"
	out="$(bcli "$PROJECT_A" secret order list --limit 100 -f json)"
	expect_eq "orders listed" "$(python3 -c 'import json, sys
print(" ".join(o["Order href"] for o in json.load(sys.stdin)))' <<<"$out")" "${key_href} ${pair_href} ${bad_href}"
	out="$(bcli "$PROJECT_B" secret order list -f json)"
	expect_eq "project B's orders" "$out" "[]"
	if bcli "$PROJECT_B" secret order get "$key_href" -f json >/dev/null; then
		fail "project B can read project A's order"
	fi
	ok "project B cannot read project A's order"
	bcli "$PROJECT_A" secret order delete "$key_href" >/dev/null
	if err="$(barbican --no-auth --endpoint "$ENDPOINT" --os-project-id "$PROJECT_A" \
		secret order get "$key_href" 2>&1)"; then
		fail "deleted order ${key_href} can still be read"
	fi
	[[ "$err" == *"Not Found: Order not found."* ]] || fail "a deleted order should be 'Order not found.', got: ${err}"
	ok "deleted order is gone"
	bcli "$PROJECT_A" secret get "$secret_href" -f json >/dev/null
	ok "the deleted order's secret stays"
}

# time_store_http times the store round-trip without the CLI's ~0.5 s Python
# start-up: 20 POSTs from one process, median and worst in ms. It reports; it
# does not judge.
time_store_http() {
	python3 - "$ENDPOINT" "$PROJECT_A" <<'PY'
import json, statistics, sys, time, urllib.request
endpoint, project = sys.argv[1], sys.argv[2]
body = json.dumps({"name": "e2e-timing", "payload": "timing",
                   "payload_content_type": "text/plain"}).encode()
ms = []
for _ in range(20):
    req = urllib.request.Request(endpoint + "/v1/secrets", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-Project-Id": project})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
        assert r.status == 201, r.status
    ms.append((time.perf_counter() - t0) * 1000)
print("    timing: POST /v1/secrets over HTTP, 20 runs: median %.1f ms, max %.1f ms"
      % (statistics.median(ms), max(ms)), file=sys.stderr)
PY
}

# check_hsm_store runs the secret checks again on the PKCS#11 store: a fresh SoftHSM2 token whose master keys
# `manage hsm ensure-keys` makes, and the server restarted on a new database with p11_crypto as its store.
check_hsm_store() {
	local lib="${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}" out secret_href
	if [[ ! -f "$lib" ]] || ! have softhsm2-util; then
		missing "SoftHSM2" "install softhsm2 (hack/test-deps.sh)" || return 0
	fi
	log "the PKCS#11 store on a fresh SoftHSM2 token"
	stop_server
	rm -rf "${WORK}/data" "${WORK}/got.bin"
	mkdir -p "${WORK}/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "${WORK}/tokens" >"${WORK}/softhsm2.conf"
	export SOFTHSM2_CONF="${WORK}/softhsm2.conf" KEYMANAGER_P11_PIN="e2e-pin-$$"
	softhsm2-util --init-token --free --label e2e --pin "$KEYMANAGER_P11_PIN" --so-pin "e2e-so-$$" >/dev/null
	local p11=(--p11-library-path "$lib" --p11-token-labels e2e --p11-os-locking-ok
		--p11-mkek-label mkek_0 --p11-hmac-label hmac_0 --p11-hmac-key-type CKK_GENERIC_SECRET
		--p11-hmac-keygen-mechanism CKM_GENERIC_SECRET_KEY_GEN --p11-key-wrap-mechanism CKM_AES_KEY_WRAP_PAD
		--p11-key-wrap-generate-iv=false)
	"$KEYMANAGER_BIN" manage hsm ensure-keys "${p11[@]}" >"${WORK}/keys.log"
	expect_eq "master keys generated" "$(grep -c 'successfully generated' "${WORK}/keys.log")" "2"
	start_server --secret-store name=hsm,plugin=p11_crypto,global_default "${p11[@]}" --p11-encryption-mechanism CKM_AES_GCM
	check_text_secret
	check_binary_secret
	out="$(wait_order "$PROJECT_A" "$(bcli "$PROJECT_A" secret order create key --name e2e-hsm-key --algorithm aes \
		--bit-length 256 --mode cbc --payload-content-type application/octet-stream -f value -c 'Order href')")"
	expect_eq "HSM key order status" "$(field Status <<<"$out")" "ACTIVE"
	secret_href="$(field 'Secret href' <<<"$out")"
	bcli "$PROJECT_A" secret get --payload_content_type application/octet-stream \
		--file "${WORK}/hsm-ordered.bin" "$secret_href" >/dev/null
	expect_eq "HSM-generated key's payload length" "$(wc -c <"${WORK}/hsm-ordered.bin")" "32"
	# p11_crypto generates no key pairs: the order fails as the reference's does.
	out="$(wait_order "$PROJECT_A" "$(bcli "$PROJECT_A" secret order create asymmetric --name e2e-hsm-pair \
		--algorithm rsa --bit-length 2048 -f value -c 'Order href')")"
	expect_eq "HSM key pair order status" "$(field Status <<<"$out")" "ERROR"
	expect_eq "HSM key pair order error code" "$(field 'Error code' <<<"$out")" "500"
}

main() {
	if ! have barbican; then
		missing "barbican CLI" "install python3-barbicanclient (hack/test-deps.sh)" || exit 0
	fi
	if [[ ! -x "$KEYMANAGER_BIN" || "${KEYMANAGER_E2E_BUILD:-0}" == 1 ]]; then
		log "building ${KEYMANAGER_BIN}"
		CGO_ENABLED=1 go build -o "$KEYMANAGER_BIN" .
	fi
	start_server
	check_text_secret
	check_binary_secret
	check_list
	check_update
	check_containers
	check_acls
	check_delete
	check_orders
	time_store_http
	check_hsm_store
	log "e2e-cli: all checks passed"
}

main "$@"
