#!/usr/bin/env bash
# envtest.sh provides the kube-apiserver and etcd binaries that
# controller-runtime's envtest starts. Both are built from source through the
# Go module proxy (the only network we may use) and cached twice: under bin/
# for this checkout and under the user cache dir, keyed by version, because CI
# clones afresh and a cold kube-apiserver build takes minutes.
#
# Prints the assets directory (the value for KUBEBUILDER_ASSETS) on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OS_ARCH="$(go_os_arch)"
ASSETS_DIR="${KM_BIN_DIR}/k8s/${K8S_VERSION}-${OS_ARCH}"
APISERVER_CACHE="${KM_CACHE_DIR}/k8s/${K8S_VERSION}-${OS_ARCH}/kube-apiserver"
ETCD_CACHE="${KM_CACHE_DIR}/etcd/${ETCD_VERSION}-${OS_ARCH}/etcd"

# shellcheck source=hack/deps/k8s-build.sh
. "$(dirname "${BASH_SOURCE[0]}")/k8s-build.sh"

build_apiserver() {
	k8s_module_dir
	build_into "$NEW_DIR" k8s.io/kubernetes/cmd/kube-apiserver "$APISERVER_CACHE" "$(k8s_version_ldflags)"
}

build_etcd() {
	local dir
	new_build_dir
	dir="$NEW_DIR"
	new_build_module "$dir" go.etcd.io/etcd/server/v3 "v${ETCD_VERSION}"
	build_into "$dir" go.etcd.io/etcd/server/v3 "$ETCD_CACHE" ""
}

# provide makes sure bin/ holds a working $1, filling it from the user cache
# or, failing that, from a fresh build.
provide() {
	local name="$1" cached="$2" want="$3" builder="$4"
	local dst="${ASSETS_DIR}/${name}"
	if binary_ok "$dst" "$want"; then
		ok "${name} ${want} in ${dst}"
		return 0
	fi
	if ! binary_ok "$cached" "$want"; then
		"$builder"
	else
		ok "${name} ${want} from cache ${cached}"
	fi
	install_cached "$cached" "$dst"
}

main() {
	if ! have go; then
		missing "go" "needed to build envtest assets"
		return 1
	fi
	log "envtest assets: kube-apiserver v${K8S_VERSION}, etcd v${ETCD_VERSION} -> ${ASSETS_DIR}"
	mkdir -p "$ASSETS_DIR" "$KM_CACHE_DIR"
	# Serialise concurrent runs (a person plus an editor hook, say) so they do
	# not both spend ten minutes building the same binary.
	if have flock; then
		exec 9>"${KM_CACHE_DIR}/.envtest.lock"
		flock 9
	fi
	provide kube-apiserver "$APISERVER_CACHE" "v${K8S_VERSION}" build_apiserver
	provide etcd "$ETCD_CACHE" "${ETCD_VERSION}" build_etcd
	printf '%s\n' "$ASSETS_DIR"
}

main "$@"
