# shellcheck shell=bash
# k8s-build.sh holds the helpers that build Kubernetes binaries from the Go
# module proxy: a throw-away module requiring k8s.io/kubernetes with every
# staging module replaced by its published release. envtest.sh (kube-apiserver)
# and cluster-bins.sh (the node and the rest of the control plane) share it, so
# both builds hit the same module and build cache. Sourced, not executed.

# binary_ok reports whether $1 runs and its --version output mentions $2; a
# truncated or foreign binary is rebuilt instead of trusted.
binary_ok() {
	local out
	# Capture first: with pipefail, grep -q closing the pipe early would make
	# the binary die of SIGPIPE and the check fail at random.
	[[ -x "$1" ]] && out="$("$1" --version 2>/dev/null)" && [[ "$out" == *"$2"* ]]
}

# k8s_module_field prints FIELD (Dir, GoMod) of k8s.io/kubernetes@vK8S_VERSION in the module cache,
# downloading it first if needed.
k8s_module_field() {
	(cd / && GOFLAGS='' go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}") |
		sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"
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
	gomod="$(k8s_module_field GoMod)"
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

# k8s_module_dir sets NEW_DIR to a build module for k8s.io/kubernetes.
k8s_module_dir() {
	local dir
	new_build_dir
	dir="$NEW_DIR"
	new_build_module "$dir" k8s.io/kubernetes "v${K8S_VERSION}"
	staging_replaces "$dir" >>"${dir}/go.mod"
	NEW_DIR="$dir"
}

# k8s_version_ldflags prints the -X flags that make --version report K8S_VERSION.
k8s_version_ldflags() {
	local v="k8s.io/component-base/version" cv="k8s.io/client-go/pkg/version" x=""
	local major="${K8S_VERSION%%.*}" minor
	minor="${K8S_VERSION#*.}"
	minor="${minor%%.*}"
	for p in "$v" "$cv"; do
		x+=" -X ${p}.gitVersion=v${K8S_VERSION} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
		x+=" -X ${p}.gitTreeState=clean"
	done
	printf '%s' "$x"
}

