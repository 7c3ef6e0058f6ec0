#!/usr/bin/env bash
# controller-gen.sh provides bin/controller-gen at the pinned version, built
# from the Go module proxy and cached outside the checkout keyed by version,
# like golangci-lint.sh. Prints the binary's path on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

want="v${CONTROLLER_TOOLS_VERSION}"
dst="${KM_BIN_DIR}/controller-gen"
cached="${KM_CACHE_DIR}/controller-gen/${CONTROLLER_TOOLS_VERSION}-$(go_os_arch)/controller-gen"

# controller-gen reports the module version it was built from ("Version: v0.23.0")
# when built with go install pkg@version, so a stale bin/ copy is rebuilt.
version_ok() {
	local out
	[[ -x "$1" ]] && out="$("$1" --version 2>/dev/null)" && [[ "$out" == *"${want}"* ]]
}

if ! version_ok "$dst"; then
	if ! version_ok "$cached"; then
		log "building controller-gen ${want} from the Go module proxy"
		tmp="$(mktemp -d)"
		trap 'rm -rf "$tmp"' EXIT
		# go install pkg@version builds with the tool's own go.mod, never ours.
		(cd "$tmp" && GOWORK=off GOFLAGS='' GOBIN="$tmp" go install -trimpath -ldflags="-s -w" \
			"sigs.k8s.io/controller-tools/cmd/controller-gen@${want}")
		install_cached "${tmp}/controller-gen" "$cached"
	fi
	install_cached "$cached" "$dst"
fi
ok "controller-gen ${want}: ${dst}"
printf '%s\n' "$dst"
