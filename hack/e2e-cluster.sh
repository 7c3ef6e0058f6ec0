#!/usr/bin/env bash
# e2e-cluster.sh runs the product on the real cluster of hack/cluster.sh, the way its users run it: the CRDs
# and the operator from config/ with the locally built image, then
#   - a KeyManager with a simple_crypto store on MariaDB: Available with its probes, non-root, a read-only
#     root filesystem and the KEK mounted 0400; the barbican CLI stores and reads through its Service;
#   - a KeyManager on the same database with a wrong KEK: its server refuses to start, and the KeyManager is
#     Degraded (PodsFailing) with the server's error line, at once;
#   - an HSMBackend of vendor softhsm whose token lives on a claim every pod shares, its client (a tarball of
#     libsofthsm2.so) served over HTTPS with basic auth and a private CA, checked by sha256 and installed by
#     the init containers; the ensure-keys Job creates the master keys;
#   - a pkcs11 KeyManager asking for more workers than the backend's maxConnections: capped, and the sessions
#     its pods hold never exceed the cap through a rollout under load (sampled from their metrics);
#   - 1,000 secrets in 10 projects, then a KeyRotation committed as YAML: new keys, a rollout, the rewrap Job
#     and verification, with the operator's pod deleted mid-rotation; every secret still reads;
#   - a rotation whose rewrap Job fails (one project key's HMAC damaged in the database) ends Failed with the
#     Job's reason;
#   - the operator moves from config/ to the Helm chart (charts/keymanager), which then reconciles: a new KEK
#     in the KEK Secret rolls the pods (as the config field did before); deleting a KeyManager collects what it
#     owned and keeps the data.
# The MariaDB of hack/test-deps.sh listens on loopback only; pods reach it through a socat relay on the
# bridge address (there is no cluster DNS, so the KeyManagers name an IP).
#
# Needs a running cluster (make cluster-up) and root. With CI=true a missing cluster fails the run.
# KM_E2E_KEEP=true keeps the namespace and databases for a look afterwards.
set -Eeuo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A failure is told again after the dump of the cluster's state, in a few lines: the step, the last warning
# and the command that failed. CI shows only the end of a run's output, and the dump is long. With
# KM_E2E_FAILURE_FILE set (hack/test-cluster.sh sets it) the same lines go there, for its caller to repeat
# after the cluster's teardown.
STEP="" LAST_WARN="" FAILED_AT=""
log() {
	STEP="$*"
	printf '==> %s\n' "$*" >&2
}
warn() {
	LAST_WARN="$*"
	printf '!!! %s\n' "$*" >&2
}
trap 'FAILED_AT="line ${LINENO}: ${BASH_COMMAND}"' ERR

NODE_IP=10.244.0.1
BUNDLE_PORT=8443
NS="km-e2e"
DB=km_e2e
DB_HSM=km_e2e_hsm
PIN=e2e-user-pin
# The pods' user and group (config/manager and the KeyManager pods run as 65532).
POD_UID=65532
KUBECTL="${KM_BIN_DIR}/k8s/${K8S_VERSION}-$(go_os_arch)/kubectl"
HELM="${KEYMANAGER_TEST_HELM:-${KM_BIN_DIR}/helm}"
HELM_NS=keymanager-helm
export KUBECONFIG="${KM_BIN_DIR}/kubeconfig"
E2E="${REPO_ROOT}/hack/e2e"
WORK="$(mktemp -d)"
# The token directory is a hostPath volume: outside WORK's 0700 so that the kubelet's bind mount is the only
# way in, and removed at the end like WORK.
TOKENS=/var/lib/keymanager-e2e-softhsm
PIDS=()
# STARTED is set once the cluster answered; before that there is nothing to show or clean.
STARTED=

k() { "$KUBECTL" "$@"; }

cleanup() {
	local rc=$?
	if [[ -z "$STARTED" ]]; then
		rm -rf "$WORK"
		exit "$rc"
	fi
	if [[ $rc -ne 0 ]]; then
		printf "!!! e2e failed; state of %s and the operator:\n" "$NS" >&2
		k -n "$NS" get keymanagers.keymanager.io,hsmbackend,keyrotation,deploy,sts,job,pod,pvc -o wide >&2 || true
		k -n "$NS" get keymanagers.keymanager.io,hsmbackend,keyrotation -o yaml 2>/dev/null | sed -n '/^  status:/,/^- apiVersion/p' >&2 || true
		for p in $(k -n "$NS" get pod -o name 2>/dev/null); do
			k -n "$NS" describe "$p" 2>/dev/null | tail -n 12 >&2 || true
			k -n "$NS" logs --all-containers --tail 20 "$p" >&2 || true
		done
		# The leader's log: the other replica only waits for the lease.
		operator_logs keymanager-system app.kubernetes.io/component=operator
		operator_logs "$HELM_NS" app.kubernetes.io/instance=km
		local summary
		summary="$(printf 'e2e-cluster FAILED during: %s\n  last warning: %s\n  failed command: %s\n' \
			"${STEP:-setup}" "${LAST_WARN:-none}" "${FAILED_AT:-none}")"
		printf '\n%s\n' "$summary" >&2
		if [[ -n "${KM_E2E_FAILURE_FILE:-}" ]]; then printf '%s\n' "$summary" >"$KM_E2E_FAILURE_FILE"; fi
	fi
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	if [[ "${KM_E2E_KEEP:-}" == true ]]; then
		warn "KM_E2E_KEEP=true: ${NS}, the databases ${DB} and ${DB_HSM} and ${TOKENS} kept; the relays stopped"
	else
		k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
		"$HELM" uninstall km -n "$HELM_NS" >/dev/null 2>&1 || true
		k delete namespace "$HELM_NS" --wait=false >/dev/null 2>&1 || true
		k delete pv km-e2e-softhsm-tokens --wait=false >/dev/null 2>&1 || true
		mysql -uroot -e "DROP DATABASE IF EXISTS ${DB}; DROP DATABASE IF EXISTS ${DB_HSM}" 2>/dev/null || true
		rm -rf "$TOKENS"
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT

# operator_logs prints the end of the log of the operator pod holding the lease in namespace $1 (pods
# selected by $2), or of every such pod when none is found to hold it; nothing if the namespace is gone.
operator_logs() {
	local ns=$1 selector=$2 holder p
	k get namespace "$ns" >/dev/null 2>&1 || return 0
	holder="$(k -n "$ns" get lease -o jsonpath='{.items[*].spec.holderIdentity}' 2>/dev/null || true)"
	for p in $(k -n "$ns" get pod -l "$selector" -o name 2>/dev/null); do
		[[ -z "$holder" || "$holder" == *"${p#pod/}"* ]] || continue
		printf -- '--- %s/%s\n' "$ns" "$p" >&2
		k -n "$ns" logs --tail 40 "$p" >&2 || true
	done
}

# wait_for waits up to $1 seconds for the command after it to succeed.
wait_for() {
	local timeout=$1 i
	shift
	for ((i = 0; i < timeout; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	"$@"
}

# jp prints a jsonpath of a namespaced object.
jp() { k -n "$NS" get "$1" -o "jsonpath=$2"; }

# phase_is succeeds when KeyRotation $1 is in phase $2.
phase_is() { [[ "$(jp "keyrotation/$1" '{.status.phase}')" == "$2" ]]; }

# service_url prints the base URL of KeyManager $1's Service (its ClusterIP; kube-proxy routes the host's
# connections to the pods).
service_url() { printf 'http://%s:9311' "$(jp "service/$1" '{.spec.clusterIP}')"; }

# bcli runs the barbican CLI as project $2 against the Service of KeyManager $1.
bcli() {
	local km=$1 project=$2
	shift 2
	barbican --no-auth --endpoint "$(service_url "$km")" --os-project-id "$project" "$@" 2>>"${WORK}/cli.log"
}

# cli_roundtrip stores payload $2 with the barbican CLI through KeyManager $1's Service and reads it back.
cli_roundtrip() {
	local href
	href="$(bcli "$1" e2e-cli secret store --name e2e --payload "$2" -f value -c 'Secret href')"
	[[ "$(bcli "$1" e2e-cli secret get --payload -f value -c Payload "$href")" == "$2" ]] ||
		{ warn "the barbican CLI did not read back its secret from $1"; return 1; }
}

# server_selector selects the server pods of KeyManager $1.
server_selector() { printf 'app.kubernetes.io/instance=%s,app.kubernetes.io/component=server' "$1"; }

# rolled_out waits until workload $1 (deploy/NAME or sts/NAME) has every replica updated and available, and
# no old pod left.
rolled_out() {
	k -n "$NS" rollout status "$1" --timeout=300s >/dev/null
	wait_for 120 bash -c "[[ \$('$KUBECTL' -n '$NS' get pods -l '$(server_selector "${1#*/}")' --no-headers | wc -l) -eq \$('$KUBECTL' -n '$NS' get '$1' -o jsonpath='{.spec.replicas}') ]]"
}

# revision prints the template revision of workload $1: a Deployment's counter, a StatefulSet's hash.
revision() {
	case $1 in
	deploy/*) jp "$1" '{.metadata.annotations.deployment\.kubernetes\.io/revision}' ;;
	sts/*) jp "$1" '{.status.updateRevision}' ;;
	esac
}

# revision_changed succeeds once workload $1's revision is no longer $2.
revision_changed() { [[ "$(revision "$1")" != "$2" ]]; }

setup_operator() {
	local ref=$1
	log "operator from config/default with ${ref}"
	# The image's tag is not latest, so the kubelet finds it imported and never pulls.
	k kustomize "${REPO_ROOT}/config/default" |
		sed -e "s|image: keymanager:latest|image: ${ref}\n        imagePullPolicy: IfNotPresent|" >"${WORK}/operator.yaml"
	k apply --server-side --force-conflicts -f "${WORK}/operator.yaml" >/dev/null
	k -n keymanager-system rollout status deploy/keymanager-operator --timeout=180s

	log "MariaDB on ${NODE_IP}:3306 (relay to the loopback server)"
	local d
	for d in "$DB" "$DB_HSM"; do
		mysql -uroot -e "DROP DATABASE IF EXISTS ${d}; CREATE DATABASE ${d}; GRANT ALL ON ${d}.* TO 'keymanager'@'127.0.0.1'; GRANT ALL ON ${d}.* TO 'keymanager'@'localhost'"
	done
	socat "TCP-LISTEN:3306,bind=${NODE_IP},fork,reuseaddr" TCP:127.0.0.1:3306 &
	PIDS+=($!)

	# A previous run deletes its namespace without waiting: recreating it while it is still terminating
	# would fail every create in it.
	k delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
	k delete pv km-e2e-softhsm-tokens --ignore-not-found --wait=true --timeout=60s >/dev/null
	k create namespace "$NS" >/dev/null
	k -n "$NS" create secret generic kms-db --from-literal=username=keymanager --from-literal=password=keymanager >/dev/null
}

# simple_keymanager applies KeyManager $1 (image $2, $3 replicas) on the database ${DB}, with a simple_crypto
# store whose KEK is key "kek" of Secret $1-kek.
simple_keymanager() {
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: keymanager.io/v1alpha1
kind: KeyManager
metadata:
  name: $1
spec:
  image: $2
  imagePullPolicy: IfNotPresent
  replicas: $3
  database:
    host: ${NODE_IP}
    name: ${DB}
    credentialsSecretRef:
      name: kms-db
  secretStores:
  - name: simple
    simpleCrypto:
      kekSecretRef:
        name: $1-kek
        key: kek
YAML
}

# simple_crypto: a KeyManager with a simple_crypto store, its pods' security settings, the barbican CLI.
simple_crypto() {
	local ref=$1 t0=$SECONDS
	log "KeyManager ${NS}/kms, simple_crypto"
	k -n "$NS" create secret generic kms-kek --from-literal=kek="$(head -c32 /dev/urandom | base64 | tr '+/' '-_')" >/dev/null
	simple_keymanager kms "$ref" 2
	wait_for 180 k -n "$NS" get deploy kms
	k -n "$NS" wait deploy/kms --for=condition=Available --timeout=180s >/dev/null
	k -n "$NS" wait keymanagers.keymanager.io/kms --for=condition=Ready --timeout=120s >/dev/null
	ok "KeyManager kms Ready in $((SECONDS - t0))s (migration Job, 2 pods Available)"

	local pod uid mode
	pod="$(k -n "$NS" get pods -l "$(server_selector kms)" -o jsonpath='{.items[0].metadata.name}')"
	[[ "$(jp "pod/${pod}" '{.spec.containers[0].securityContext.readOnlyRootFilesystem}')" == true ]] ||
		{ warn "pod ${pod}: root filesystem not read-only"; return 1; }
	[[ "$(jp "pod/${pod}" '{.spec.securityContext.runAsNonRoot}')" == true ]] ||
		{ warn "pod ${pod}: runAsNonRoot not set"; return 1; }
	# The server's process, seen from the host: its user is the pods' user, not root.
	uid="$(ps -o uid= -C keymanager | sort -u | tr -d ' ' | grep -vx 0 | head -1)"
	[[ "$uid" == "$POD_UID" ]] || { warn "the keymanager processes run as uid ${uid:-?}, want ${POD_UID}"; return 1; }
	# The KEK as the kubelet laid it out: mode 0400 asked, group-readable for the pods' fsGroup.
	uid="$(jp "pod/${pod}" '{.metadata.uid}')"
	mode="$(stat -L -c '%a %g' "/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~secret/kek/kek")"
	[[ "$mode" == "440 ${POD_UID}" ]] ||
		{ warn "the KEK file in pod ${pod} has mode and group ${mode}"; return 1; }
	ok "pods run as uid ${POD_UID}, read-only root filesystem, KEK file mode ${mode%% *}"

	cli_roundtrip kms 'stored through the Service'
	"${E2E}/secrets.py" store "$(service_url kms)" 50 5 "${WORK}/simple.secrets.more" >/dev/null
	ok "barbican CLI: secret store and get through Service kms ($(service_url kms))"
}

# degraded_by succeeds when KeyManager $1 is Degraded for reason $2.
degraded_by() {
	[[ "$(jp "keymanagers.keymanager.io/$1" '{.status.conditions[?(@.type=="Degraded")].status}')" == True &&
		"$(jp "keymanagers.keymanager.io/$1" '{.status.conditions[?(@.type=="Degraded")].reason}')" == "$2" ]]
}

# failing_pods starts a KeyManager on kms's database with a KEK that wrapped none of its project keys: the server
# refuses to start and crash-loops, and the KeyManager must say why at once (Degraded, PodsFailing, the server's
# own error line from its termination message) — without the KEK. Then it is deleted.
failing_pods() {
	local ref=$1 t0=$SECONDS bad
	log "KeyManager ${NS}/kmbad on kms's database with a wrong KEK: its pods fail, and it says why"
	bad="$(head -c32 /dev/urandom | base64 | tr '+/' '-_')"
	k -n "$NS" create secret generic kmbad-kek --from-literal=kek="$bad" >/dev/null
	simple_keymanager kmbad "$ref" 1
	wait_for 180 degraded_by kmbad PodsFailing ||
		{ warn "kmbad never became Degraded (PodsFailing): $(jp keymanagers.keymanager.io/kmbad '{.status.conditions}')"; return 1; }
	local msg
	msg="$(jp keymanagers.keymanager.io/kmbad '{.status.conditions[?(@.type=="Degraded")].message}')"
	grep -q 'ERROR: the configured Software Only Crypto KEKs do not unwrap' <<<"$msg" ||
		{ warn "kmbad is Degraded without the server's reason: ${msg}"; return 1; }
	if [[ "$msg" == *"$bad"* ]]; then
		warn "kmbad's Degraded message carries its KEK"
		return 1
	fi
	ok "kmbad Degraded (PodsFailing) in $((SECONDS - t0))s: ${msg:0:160}…"
	k -n "$NS" delete keymanagers.keymanager.io kmbad --wait=true --timeout=120s >/dev/null
	k -n "$NS" delete secret kmbad-kek >/dev/null
}

# softhsm_backend: the shared token, the client bundle over HTTPS, the HSMBackend and its keys Job.
softhsm_backend() {
	log "SoftHSM2 token on a claim every pod shares; its client as an HTTPS bundle"
	rm -rf "$TOKENS" && mkdir -p "$TOKENS"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$TOKENS" >"${WORK}/softhsm2.conf"
	SOFTHSM2_CONF="${WORK}/softhsm2.conf" softhsm2-util --init-token --free --label keymanager \
		--pin "$PIN" --so-pin e2e-so-pin >/dev/null
	chown -R "${POD_UID}:${POD_UID}" "$TOKENS"

	# The bundle: SoftHSM2's module as a vendor tarball would carry it, under lib/.
	local module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so} sha
	mkdir -p "${WORK}/bundle/lib"
	cp "$module" "${WORK}/bundle/lib/libsofthsm2.so"
	tar -C "${WORK}/bundle" -czf "${WORK}/softhsm.tar.gz" lib
	sha="$(sha256sum "${WORK}/softhsm.tar.gz" | cut -d' ' -f1)"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=e2e-bundles \
		-addext "subjectAltName=IP:${NODE_IP}" -keyout "${WORK}/bundle.key" -out "${WORK}/bundle.crt" 2>/dev/null
	local password
	password="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
	printf 'e2e:%s' "$password" >"${WORK}/bundle.creds"
	"${E2E}/bundle-server.py" "$NODE_IP" "$BUNDLE_PORT" "${WORK}/bundle.crt" "${WORK}/bundle.key" \
		"${WORK}/softhsm.tar.gz" "${WORK}/bundle.creds" 2>"${WORK}/bundle-server.log" &
	PIDS+=($!)
	wait_for 10 curl -sf --cacert "${WORK}/bundle.crt" -u "e2e:${password}" -o /dev/null "https://${NODE_IP}:${BUNDLE_PORT}/softhsm.tar.gz"

	k -n "$NS" create secret generic softhsm-pin --from-literal=pin="$PIN" >/dev/null
	k -n "$NS" create secret generic bundle-download --from-literal=username=e2e --from-literal=password="$password" >/dev/null
	k -n "$NS" create secret generic bundle-ca --from-file=ca.crt="${WORK}/bundle.crt" >/dev/null
	k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolume
metadata:
  name: km-e2e-softhsm-tokens
spec:
  capacity: {storage: 64Mi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: ${NS}, name: softhsm-tokens}
  hostPath: {path: ${TOKENS}, type: Directory}
YAML
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: softhsm-tokens
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: km-e2e-softhsm-tokens
  resources: {requests: {storage: 64Mi}}
---
apiVersion: keymanager.io/v1alpha1
kind: HSMBackend
metadata:
  name: softhsm
spec:
  vendor: softhsm
  libraryPath: /opt/hsm-client/lib/libsofthsm2.so
  # 8 sessions, 2 of them kept for the Jobs: 6 for the servers.
  maxConnections: 8
  reservedSessions: 2
  token:
    labels: [keymanager]
  loginPINSecretRef: {name: softhsm-pin, key: pin}
  softHSM:
    tokenClaimName: softhsm-tokens
  client:
    bundle:
      url: https://${NODE_IP}:${BUNDLE_PORT}/softhsm.tar.gz
      sha256: ${sha}
      format: tar.gz
      credentialsSecretRef: {name: bundle-download}
      caSecretRef: {name: bundle-ca, key: ca.crt}
YAML
	ok "bundle ${sha:0:12}… served on https://${NODE_IP}:${BUNDLE_PORT} with basic auth"
}

# pkcs11: a KeyManager on the softhsm backend, capped; the keys Job; the barbican CLI.
pkcs11() {
	local ref=$1 t0=$SECONDS
	log "KeyManager ${NS}/kmh, pkcs11 on the softhsm backend, 2 replicas asking for 8 workers each"
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: keymanager.io/v1alpha1
kind: KeyManager
metadata:
  name: kmh
spec:
  image: ${ref}
  imagePullPolicy: IfNotPresent
  replicas: 2
  workers: 8
  database:
    host: ${NODE_IP}
    name: ${DB_HSM}
    credentialsSecretRef:
      name: kms-db
  secretStores:
  - name: hsm
    globalDefault: true
    pkcs11:
      hsmBackendRef: {name: softhsm}
YAML
	k -n "$NS" wait hsmbackend/softhsm --for=condition=KeysReady --timeout=300s >/dev/null
	ok "ensure-keys Job created the master keys on the shared token in $((SECONDS - t0))s"
	wait_for 180 k -n "$NS" get sts kmh
	k -n "$NS" rollout status sts/kmh --timeout=300s >/dev/null
	k -n "$NS" wait keymanagers.keymanager.io/kmh --for=condition=Ready --timeout=120s >/dev/null
	local granted
	granted="$(jp keymanagers.keymanager.io/kmh '{.status.workers.granted}')"
	[[ "$granted" == 3 ]] || { warn "kmh: granted ${granted} workers, want 3 ((8-2)/2 replicas)"; return 1; }
	[[ "$(jp keymanagers.keymanager.io/kmh '{.status.conditions[?(@.type=="WorkersCapped")].status}')" == True ]] ||
		{ warn "kmh: WorkersCapped is not True"; return 1; }
	ok "kmh Ready in $((SECONDS - t0))s: 8 workers asked, 3 granted per pod, a StatefulSet (bundle installed by the init containers)"

	cli_roundtrip kmh 'through the HSM'
	ok "barbican CLI: secret store and get through Service kmh, project key wrapped by the SoftHSM2 MKEK"
}

# budget_rollout changes a config field of kmh (which rolls its pods) under load and samples the sessions
# its pods hold at the token: never more than the 6 the budget grants the servers.
budget_rollout() {
	log "a config field rolls kmh under load; sampling the sessions its pods hold"
	local stop="${WORK}/stop-load" rs_before peak load_pid sample_pid
	rm -f "$stop"
	rs_before="$(revision sts/kmh)"
	"${E2E}/secrets.py" load "$(service_url kmh)" "$stop" >"${WORK}/load.out" 2>&1 &
	load_pid=$!
	PIDS+=("$load_pid")
	"${E2E}/secrets.py" sessions "$KUBECTL" "$NS" "$(server_selector kmh)" 3 "$stop" >"${WORK}/peak.out" 2>"${WORK}/sessions.log" &
	sample_pid=$!
	PIDS+=("$sample_pid")
	sleep 5
	k -n "$NS" patch keymanagers.keymanager.io kmh --type merge -p '{"spec":{"hostHref":"http://kmh.e2e.example"}}' >/dev/null
	wait_for 60 revision_changed sts/kmh "$rs_before"
	rolled_out sts/kmh
	sleep 3
	touch "$stop"
	local load_rc=0
	wait "$load_pid" || load_rc=$?
	if ! wait "$sample_pid"; then
		tail -5 "${WORK}/sessions.log" >&2
		warn "the session sampler failed"
		return 1
	fi
	peak="$(head -1 "${WORK}/peak.out")"
	cat "${WORK}/load.out" >&2
	if ((load_rc != 0)); then
		warn "requests failed while kmh rolled: a rolling update must not refuse clients"
		return 1
	fi
	grep -E 'peak' "${WORK}/sessions.log" | tail -3 >&2
	if ((peak > 6)); then
		warn "the pods of kmh held ${peak} sessions at the token during the rollout: more than the 6 granted"
		return 1
	fi
	if ((peak < 1)); then
		warn "no session was ever seen open: the sampler measured nothing"
		return 1
	fi
	ok "rollout done (revision ${rs_before} → $(revision sts/kmh)); peak ${peak} sessions ≤ 6 granted"
	# The new hostHref is in the answers: the config change reached the new pods. The list is read whole
	# before it is looked at: `| head -1` could end the CLI with SIGPIPE, and pipefail would call that a failure.
	local hrefs
	hrefs="$(bcli kmh e2e-cli secret list -f value -c 'Secret href')"
	[[ "${hrefs%%$'\n'*}" == http://kmh.e2e.example/* ]] ||
		{ warn "kmh does not answer with the new hostHref: ${hrefs%%$'\n'*}"; return 1; }
}

# rotation: 1,000 secrets in 10 projects, a KeyRotation as YAML, the operator's pod deleted mid-way.
rotation() {
	log "1,000 secrets in 10 projects on kmh, then a KeyRotation committed as YAML"
	"${E2E}/secrets.py" store "$(service_url kmh)" 1000 10 "${WORK}/hsm.secrets" >&2
	local t0=$SECONDS killed=
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: keymanager.io/v1alpha1
kind: KeyRotation
metadata:
  name: rotate-1
spec:
  hsmBackendRef: {name: softhsm}
YAML
	local phase last="" i
	for ((i = 0; i < 900; i++)); do
		phase="$(jp keyrotation/rotate-1 '{.status.phase}')"
		if [[ "$phase" != "$last" ]]; then
			printf '    %4ds %s\n' $((SECONDS - t0)) "${phase:-<none>}" >&2
			last=$phase
		fi
		# Kill the operator once the rotation is past its first Job: it must resume where it was.
		if [[ -z "$killed" && ("$phase" == RollingOut || "$phase" == Rewrapping) ]]; then
			k -n keymanager-system delete pod -l app.kubernetes.io/component=operator --wait=false >/dev/null
			killed=$phase
			printf '    %4ds operator pod deleted during %s\n' $((SECONDS - t0)) "$phase" >&2
		fi
		[[ "$phase" == Succeeded || "$phase" == Failed ]] && break
		sleep 1
	done
	[[ "$phase" == Succeeded ]] || { warn "rotate-1 ended ${phase}: $(jp keyrotation/rotate-1 '{.status.message}')"; return 1; }
	[[ -n "$killed" ]] || { warn "the rotation never passed RollingOut or Rewrapping while watched"; return 1; }
	local took=$((SECONDS - t0))
	[[ "$(jp hsmbackend/softhsm '{.status.activeKeys.mkekLabel}')" == barbican_mkek_1 ]] ||
		{ warn "the backend's active MKEK is not barbican_mkek_1"; return 1; }
	local left
	left="$(mysql -uroot -N -e "SELECT COUNT(*) FROM ${DB_HSM}.kek_data WHERE plugin_name LIKE '%p11_crypto%' AND JSON_VALUE(plugin_meta, '\$.mkek_label') <> 'barbican_mkek_1'")"
	[[ "$left" == 0 ]] || { warn "${left} project keys are not under barbican_mkek_1"; return 1; }
	ok "rotate-1 Succeeded in ${took}s (1,000 secrets, 10 projects, operator restarted during ${killed})"
	"${E2E}/secrets.py" check "$(service_url kmh)" "${WORK}/hsm.secrets" >&2
	printf '    figure: rotation of 1,000 secrets in 10 projects: %ds\n' "$took" >&2
}

# failed_rotation damages one project key's HMAC: its rewrap fails, the Job fails, the rotation says why.
failed_rotation() {
	log "a rotation whose rewrap Job fails"
	local id meta
	id="$(mysql -uroot -N -e "SELECT id FROM ${DB_HSM}.kek_data WHERE project_id = (SELECT id FROM ${DB_HSM}.projects WHERE external_id = 'e2e-project-03') LIMIT 1")"
	meta="$(mysql -uroot -N -e "SELECT plugin_meta FROM ${DB_HSM}.kek_data WHERE id = '${id}'")"
	mysql -uroot -e "UPDATE ${DB_HSM}.kek_data SET plugin_meta = JSON_SET(plugin_meta, '\$.hmac', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=') WHERE id = '${id}'"
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: keymanager.io/v1alpha1
kind: KeyRotation
metadata:
  name: rotate-2
spec:
  hsmBackendRef: {name: softhsm}
YAML
	wait_for 900 phase_is rotate-2 Failed
	local msg
	msg="$(jp keyrotation/rotate-2 '{.status.message}')"
	# Put the row back: the point was the rotation's report, not the data.
	mysql -uroot -e "UPDATE ${DB_HSM}.kek_data SET plugin_meta = '${meta}' WHERE id = '${id}'"
	grep -qi 'rewrap' <<<"$msg" || { warn "rotate-2 failed without naming the rewrap Job: ${msg}"; return 1; }
	ok "rotate-2 Failed: ${msg}"
}

# helm_operator replaces the operator from config/ by the one of the Helm chart, in a namespace of its own.
# The CRDs stay (Helm leaves existing ones alone), and the KeyManagers keep running; the steps after this
# one are reconciled by the chart's operator.
helm_operator() {
	local ref=$1
	log "the operator from the Helm chart instead of config/"
	[[ -x "$HELM" ]] || { missing "helm" "${HELM} (make deps builds it)" || true; return 1; }
	k -n keymanager-system scale deploy/keymanager-operator --replicas=0 >/dev/null
	wait_for 120 bash -c "[[ -z \$('$KUBECTL' -n keymanager-system get pods -l app.kubernetes.io/component=operator -o name) ]]"
	"$HELM" uninstall km -n "$HELM_NS" >/dev/null 2>&1 || true
	"$HELM" install km "${REPO_ROOT}/charts/keymanager" -n "$HELM_NS" --create-namespace --wait --timeout 180s \
		--set image.repository="${ref%:*}" --set image.tag="${ref##*:}" --set image.pullPolicy=IfNotPresent >/dev/null
	k -n "$HELM_NS" rollout status deploy/km-keymanager-operator --timeout=120s >/dev/null
	ok "helm install: $(k -n "$HELM_NS" get deploy km-keymanager-operator -o jsonpath='{.status.readyReplicas}') operator pods ready in ${HELM_NS}"
}

# kek_change: a new KEK in front of the old one in the KEK Secret rolls kms; what was stored still reads.
kek_change() {
	log "a new KEK in kms's KEK Secret rolls its pods"
	local before old new
	before="$(revision deploy/kms)"
	old="$(k -n "$NS" get secret kms-kek -o jsonpath='{.data.kek}' | base64 -d)"
	new="$(head -c32 /dev/urandom | base64 | tr '+/' '-_')"
	k -n "$NS" create secret generic kms-kek --from-literal=kek="$(printf '%s\n%s' "$new" "$old")" \
		--dry-run=client -o yaml | k replace -f - >/dev/null
	wait_for 60 revision_changed deploy/kms "$before"
	rolled_out deploy/kms
	"${E2E}/secrets.py" check "$(service_url kms)" "${WORK}/simple.secrets.more" >&2
	ok "kms rolled (revision ${before} → $(revision deploy/kms)) and reads what the old KEK wrapped"
}

# kek_rotation rotates kms's simple_crypto KEK with a KeyRotation applied as YAML: the operator writes a new
# KEK in front of the others, the pods roll, the rewrap Job moves every project key under it, verification
# finds none left; the counts land in status and every secret still reads.
kek_rotation() {
	log "a KeyRotation of kms's simple_crypto KEK"
	local t0=$SECONDS lines
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: keymanager.io/v1alpha1
kind: KeyRotation
metadata:
  name: kms-kek
spec:
  keyManagerRef: {name: kms}
  secretStore: simple
YAML
	wait_for 600 bash -c "[[ \$('$KUBECTL' -n '$NS' get keyrotations.keymanager.io kms-kek -o jsonpath='{.status.phase}') =~ ^(Succeeded|Failed)\$ ]]"
	[[ "$(jp keyrotation/kms-kek '{.status.phase}')" == Succeeded ]] ||
		{ warn "kms-kek ended $(jp keyrotation/kms-kek '{.status.phase}'): $(jp keyrotation/kms-kek '{.status.message}')"; return 1; }
	local counts
	counts="$(jp keyrotation/kms-kek '{.status.counts.rewrapped}/{.status.counts.total}, {.status.counts.remaining} remaining')"
	[[ "$counts" =~ ^[1-9][0-9]*/[1-9][0-9]*,\ 0\ remaining$ ]] || { warn "kms-kek counts: ${counts}"; return 1; }
	# Three KEKs now: the rotation's, the one added by hand, the first; comment lines do not count.
	lines="$(k -n "$NS" get secret kms-kek -o jsonpath='{.data.kek}' | base64 -d | grep -cv '^#')"
	[[ "$lines" == 3 ]] || { warn "the KEK Secret holds ${lines} KEKs, want 3 (none removed)"; return 1; }
	rolled_out deploy/kms
	"${E2E}/secrets.py" check "$(service_url kms)" "${WORK}/simple.secrets.more" >&2
	ok "kms-kek Succeeded in $((SECONDS - t0))s: project keys rewrapped ${counts}; 3 KEKs kept"
}

# deletion: deleting kms collects its Deployment, Service, ConfigMap and Jobs; its database keeps the data.
deletion() {
	log "deleting KeyManager kms"
	local before after
	before="$(mysql -uroot -N -e "SELECT COUNT(*) FROM ${DB}.secrets WHERE deleted = 0")"
	k -n "$NS" delete keymanagers.keymanager.io kms --wait=true --timeout=120s >/dev/null
	wait_for 120 bash -c "[[ -z \$('$KUBECTL' -n '$NS' get deploy,sts,svc,cm,job,pdb,sa -l app.kubernetes.io/instance=kms -o name) ]]"
	after="$(mysql -uroot -N -e "SELECT COUNT(*) FROM ${DB}.secrets WHERE deleted = 0")"
	[[ "$before" == "$after" && "$after" -gt 0 ]] || { warn "secrets in ${DB}: ${before} before, ${after} after"; return 1; }
	ok "its objects collected; ${after} secrets kept in ${DB}"
}

main() {
	if ! bash "${REPO_ROOT}/hack/cluster.sh" status >/dev/null 2>&1; then
		missing "the e2e cluster" "not running (make cluster-up)" || true
		exit 1
	fi
	# socat relays MariaDB to the pods, curl and openssl serve the HSM client bundle, mysql checks and damages
	# rows, ps finds the pods' user, python3 runs hack/e2e: none of them is in a minimal Debian.
	apt_install socat curl openssl procps mariadb-client python3 || exit 1
	STARTED=1
	local ref t0=$SECONDS
	ref="$(bash "${REPO_ROOT}/hack/image.sh")"
	setup_operator "$ref"
	simple_crypto "$ref"
	failing_pods "$ref"
	softhsm_backend
	pkcs11 "$ref"
	budget_rollout
	rotation
	failed_rotation
	helm_operator "$ref"
	kek_change
	kek_rotation
	deletion
	ok "cluster e2e passed in $((SECONDS - t0))s"
}

main "$@"
