#!/usr/bin/env bash
# e2e-cluster.sh runs the product on the real cluster of hack/cluster.sh: the
# CRDs and the operator from config/ with the locally built image, then a
# KeyManager with a simple_crypto store on MariaDB, and waits until its
# Deployment is Available with real pods. The MariaDB of hack/test-deps.sh
# listens on loopback only; pods reach it through a socat relay on the
# bridge address (there is no cluster DNS, so the KeyManager names an IP).
#
# Needs a running cluster (make cluster-up) and root. With CI=true a missing
# cluster fails the run. KM_E2E_KEEP=true keeps the namespace and database
# for a look afterwards.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_IP=10.244.0.1
NS=km-e2e
DB=km_e2e
KUBECTL="${KM_BIN_DIR}/k8s/${K8S_VERSION}-$(go_os_arch)/kubectl"
export KUBECONFIG="${KM_BIN_DIR}/kubeconfig"
WORK="$(mktemp -d)"
RELAY_PID=
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
		warn "e2e failed; state of ${NS} and the operator:"
		k -n "$NS" get keymanager,deploy,job,pod -o wide >&2 || true
		k -n "$NS" get keymanager -o yaml 2>/dev/null | sed -n '/^  status:/,$p' >&2 || true
		for p in $(k -n "$NS" get pod -o name 2>/dev/null); do
			k -n "$NS" describe "$p" 2>/dev/null | tail -n 15 >&2 || true
			k -n "$NS" logs --all-containers --tail 30 "$p" >&2 || true
		done
		k -n keymanager-system logs deploy/keymanager-operator --tail 40 >&2 || true
	fi
	if [[ "${KM_E2E_KEEP:-}" == true ]]; then
		warn "KM_E2E_KEEP=true: ${NS} and database ${DB} kept; the MariaDB relay stopped"
	else
		k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
		mysql -uroot -e "DROP DATABASE IF EXISTS ${DB}" 2>/dev/null || true
	fi
	[[ -n "$RELAY_PID" ]] && kill "$RELAY_PID" 2>/dev/null
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT

main() {
	if ! bash "${REPO_ROOT}/hack/cluster.sh" status >/dev/null 2>&1; then
		missing "the e2e cluster" "not running (make cluster-up)" || true
		exit 1
	fi
	STARTED=1
	local ref t0=$SECONDS
	ref="$(bash "${REPO_ROOT}/hack/image.sh")"

	log "operator from config/default with ${ref}"
	# The image's tag is not latest, so the kubelet finds it imported and never pulls.
	k kustomize "${REPO_ROOT}/config/default" |
		sed -e "s|image: keymanager:latest|image: ${ref}\n        imagePullPolicy: IfNotPresent|" >"${WORK}/operator.yaml"
	k apply --server-side --force-conflicts -f "${WORK}/operator.yaml" >/dev/null
	k -n keymanager-system rollout status deploy/keymanager-operator --timeout=180s

	log "MariaDB on ${NODE_IP}:3306 (relay to the loopback server)"
	mysql -uroot -e "CREATE DATABASE IF NOT EXISTS ${DB}; GRANT ALL ON ${DB}.* TO 'keymanager'@'127.0.0.1'; GRANT ALL ON ${DB}.* TO 'keymanager'@'localhost'"
	socat "TCP-LISTEN:3306,bind=${NODE_IP},fork,reuseaddr" TCP:127.0.0.1:3306 &
	RELAY_PID=$!

	log "KeyManager ${NS}/kms, simple_crypto"
	# A previous run deletes its namespace without waiting: recreating it while it is still terminating
	# would fail every create in it.
	k delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
	k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null
	k -n "$NS" create secret generic kms-db --from-literal=username=keymanager --from-literal=password=keymanager \
		--dry-run=client -o yaml | k apply -f - >/dev/null
	k -n "$NS" create secret generic kms-kek --from-literal=kek="$(head -c32 /dev/urandom | base64 | tr '+/' '-_')" \
		--dry-run=client -o yaml | k apply -f - >/dev/null
	k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: keymanager.io/v1alpha1
kind: KeyManager
metadata:
  name: kms
spec:
  image: ${ref}
  imagePullPolicy: IfNotPresent
  replicas: 2
  database:
    host: ${NODE_IP}
    name: ${DB}
    credentialsSecretRef:
      name: kms-db
  secretStores:
  - name: simple
    simpleCrypto:
      kekSecretRef:
        name: kms-kek
        key: kek
YAML
	local i
	for ((i = 0; i < 180; i++)); do
		k -n "$NS" get deploy kms >/dev/null 2>&1 && break
		sleep 1
	done
	k -n "$NS" wait deploy/kms --for=condition=Available --timeout=180s
	k -n "$NS" get pods -o wide
	ok "KeyManager Deployment Available $((SECONDS - t0))s after the image build started"
}

main "$@"
