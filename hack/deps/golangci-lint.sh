#!/usr/bin/env bash
# golangci-lint.sh provides bin/golangci-lint at the pinned version, built from
# the Go module proxy (no release downloads) and cached outside the checkout.
# Prints the binary's path on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

want="v${GOLANGCI_LINT_VERSION}"
dst="${KM_BIN_DIR}/golangci-lint"
cached="${KM_CACHE_DIR}/golangci-lint/${GOLANGCI_LINT_VERSION}-$(go_os_arch)/golangci-lint"

version_ok() {
	local out
	[[ -x "$1" ]] && out="$("$1" version 2>/dev/null)" && [[ "$out" == *"version ${want#v}"* ]]
}

if ! version_ok "$dst"; then
	if ! version_ok "$cached"; then
		log "building golangci-lint ${want} from the Go module proxy"
		tmp="$(mktemp -d)"
		trap 'rm -rf "$tmp"' EXIT
		# go install pkg@version builds with the tool's own go.mod, never ours.
		(cd "$tmp" && GOWORK=off GOFLAGS='' GOBIN="$tmp" go install -trimpath \
			-ldflags="-s -w -X main.version=${want#v}" \
			"github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${want}")
		install_cached "${tmp}/golangci-lint" "$cached"
	fi
	install_cached "$cached" "$dst"
fi
ok "golangci-lint ${want}: ${dst}"
printf '%s\n' "$dst"
