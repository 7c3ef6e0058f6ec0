#!/usr/bin/env bash
# cluster-bins.sh provides the binaries of a single-node Kubernetes cluster
# (hack/cluster.sh): kube-apiserver and etcd through envtest.sh, then
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl,
# built from k8s.io/kubernetes through the Go module proxy exactly like the
# envtest kube-apiserver (so the build cache it left is reused), and the pause
# binary compiled with gcc -static from the same module's source. Everything is
# cached under the user cache dir keyed by version, and copied into bin/.
#
# Prints the directory holding all of them on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=hack/deps/k8s-build.sh
. "$(dirname "${BASH_SOURCE[0]}")/k8s-build.sh"

OS_ARCH="$(go_os_arch)"
ASSETS_DIR="${KM_BIN_DIR}/k8s/${K8S_VERSION}-${OS_ARCH}"
CACHE_DIR="${KM_CACHE_DIR}/k8s/${K8S_VERSION}-${OS_ARCH}"
NODE_BINS=(kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# build_node builds every missing NODE_BINS binary in one go build: one link
# step per binary but one compile of the packages they share.
build_node() {
	local pkgs=() name start
	for name in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/${name}"); done
	k8s_module_dir
	start=$SECONDS
	log "building $* (cold: several minutes; warm from kube-apiserver's build cache: a few)"
	mkdir -p "${NEW_DIR}/out"
	(cd "$NEW_DIR" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
		go build -trimpath -ldflags="-s -w $(k8s_version_ldflags)" -o "${NEW_DIR}/out/" "${pkgs[@]}")
	for name in "$@"; do install_cached "${NEW_DIR}/out/${name}" "${CACHE_DIR}/${name}"; done
	ok "built $* in $((SECONDS - start))s"
}

# build_pause compiles the pod sandbox's pause process from the kubernetes
# module source: a static C binary, so its image needs nothing else.
build_pause() {
	local src
	src="$(k8s_module_field Dir)/build/pause/linux/pause.c"
	[[ -f "$src" ]] || {
		warn "no pause.c in k8s.io/kubernetes@v${K8S_VERSION}"
		return 1
	}
	new_build_dir
	gcc -Os -static -DVERSION="v${K8S_VERSION}" -o "${NEW_DIR}/pause" "$src"
	install_cached "${NEW_DIR}/pause" "${CACHE_DIR}/pause"
}

# node_bin_ok reports whether $1 runs and is of K8S_VERSION. kubectl has no
# --version flag; it prints "Client Version: v…", the others "Kubernetes v…".
node_bin_ok() {
	local out
	[[ -x "$1" ]] || return 1
	if [[ "$(basename "$1")" == kubectl ]]; then
		out="$("$1" version --client 2>/dev/null)" || return 1
		[[ "$out" == *"v${K8S_VERSION}"* ]]
	else
		binary_ok "$1" "v${K8S_VERSION}"
	fi
}

main() {
	# gcc -static links the pause binary against libc6-dev's libc.a.
	apt_install gcc libc6-dev || return 1
	if ! have go || ! have gcc; then
		missing "go and gcc" "needed to build the cluster's binaries"
		return 1
	fi
	bash "$(dirname "${BASH_SOURCE[0]}")/envtest.sh" >/dev/null
	mkdir -p "$ASSETS_DIR" "$CACHE_DIR"
	if have flock; then
		exec 9>"${KM_CACHE_DIR}/.cluster-bins.lock"
		flock 9
	fi
	local name todo=()
	for name in "${NODE_BINS[@]}"; do
		if ! node_bin_ok "${CACHE_DIR}/${name}"; then todo+=("$name"); fi
	done
	if [[ ${#todo[@]} -gt 0 ]]; then build_node "${todo[@]}"; fi
	[[ -x "${CACHE_DIR}/pause" ]] || build_pause
	for name in "${NODE_BINS[@]}" pause; do
		cmp -s "${CACHE_DIR}/${name}" "${ASSETS_DIR}/${name}" || install_cached "${CACHE_DIR}/${name}" "${ASSETS_DIR}/${name}"
	done
	ok "cluster binaries v${K8S_VERSION} in ${ASSETS_DIR}"
	printf '%s\n' "$ASSETS_DIR"
}

main "$@"
