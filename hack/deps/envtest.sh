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

# binary_ok reports whether $1 runs and its --version output mentions $2; a
# truncated or foreign binary is rebuilt instead of trusted.
binary_ok() {
	local out
	# Capture first: with pipefail, grep -q closing the pipe early would make
	# the binary die of SIGPIPE and the check fail at random.
	[[ -x "$1" ]] && out="$("$1" --version 2>/dev/null)" && [[ "$out" == *"$2"* ]]
}

# Build directories are removed on exit, also when a build fails.
BUILD_DIRS=()
trap 'rm -rf "${BUILD_DIRS[@]}"' EXIT

# new_build_dir sets NEW_DIR to a fresh temporary directory. It assigns a
# global rather than printing, because $(...) would lose the BUILD_DIRS entry.
new_build_dir() {
	NEW_DIR="$(mktemp -d)"
	BUILD_DIRS+=("$NEW_DIR")
}

# new_build_module writes a throw-away Go module in $1 that requires $2@$3.
new_build_module() {
	local dir="$1" mod="$2" ver="$3"
	cat >"${dir}/go.mod" <<GOMOD
module keymanager.invalid/envtest-build

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/').0

require ${mod} ${ver}
GOMOD
}

# staging_replaces prints a replace line for every k8s.io staging module that
# k8s.io/kubernetes points at ./staging. The main kubernetes module requires
# them as v0.0.0, so each must be mapped to a published release. A few
# (sample-*) are never published for a given release; they are not part of
# kube-apiserver, so an empty local stub keeps the module graph loadable.
staging_replaces() {
	local dir="$1" gomod name versions ver
	gomod="$(cd / && GOFLAGS='' go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -f "$gomod" ]] || {
		warn "cannot find go.mod of k8s.io/kubernetes@v${K8S_VERSION}"
		return 1
	}
	# Query versions from outside the half-written build module: inside it the
	# unreplaced v0.0.0 requirements make every go command fail.
	local query
	new_build_dir
	query="$NEW_DIR"
	while read -r name; do
		# shellcheck disable=SC2015 # either failing means "no versions known".
		versions="$(cd "$query" && GOFLAGS='' go list -m -versions "k8s.io/${name}" 2>/dev/null || true)"
		if [[ " ${versions} " == *" v${K8S_STAGING_VERSION} "* ]]; then
			ver="v${K8S_STAGING_VERSION}"
		else
			ver="$(tr ' ' '\n' <<<"$versions" | grep -E "^v${K8S_STAGING_VERSION%.*}\.[0-9]+$" | sort -V | tail -n1 || true)"
		fi
		if [[ -n "$ver" ]]; then
			printf 'replace k8s.io/%s => k8s.io/%s %s\n' "$name" "$name" "$ver"
		else
			warn "k8s.io/${name} has no v${K8S_STAGING_VERSION%.*}.x release; using an empty stub"
			mkdir -p "${dir}/stub/${name}"
			printf 'module k8s.io/%s\n\ngo 1.24\n' "$name" >"${dir}/stub/${name}/go.mod"
			printf 'replace k8s.io/%s => ./stub/%s\n' "$name" "$name"
		fi
	done < <(sed -n -E 's#^[[:space:]]*k8s\.io/([a-z0-9-]+) => \./staging/src/k8s\.io/.*#\1#p' "$gomod")
}

# build_into builds package $2 inside module dir $1 and installs it at $3.
build_into() {
	local dir="$1" pkg="$2" out="$3" ldflags="$4" start
	start=$SECONDS
	log "building ${pkg} (cold builds take minutes; output goes to ${out})"
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
		go build -trimpath -ldflags="-s -w ${ldflags}" -o "${dir}/out.bin" "$pkg")
	install_cached "${dir}/out.bin" "$out"
	ok "built ${pkg} in $((SECONDS - start))s"
}

build_apiserver() {
	local dir
	new_build_dir
	dir="$NEW_DIR"
	new_build_module "$dir" k8s.io/kubernetes "v${K8S_VERSION}"
	staging_replaces "$dir" >>"${dir}/go.mod"
	local v="k8s.io/component-base/version" cv="k8s.io/client-go/pkg/version" x=""
	local major="${K8S_VERSION%%.*}" minor
	minor="${K8S_VERSION#*.}"
	minor="${minor%%.*}"
	for p in "$v" "$cv"; do
		x+=" -X ${p}.gitVersion=v${K8S_VERSION} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
		x+=" -X ${p}.gitTreeState=clean"
	done
	build_into "$dir" k8s.io/kubernetes/cmd/kube-apiserver "$APISERVER_CACHE" "$x"
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
