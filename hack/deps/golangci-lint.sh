#!/usr/bin/env bash
# golangci-lint.sh provides bin/golangci-lint at the pinned version, built from
# the Go module proxy (no release downloads) and cached outside the checkout
# (go_tool in lib.sh). Prints the binary's path on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

version_ok() {
	local out
	[[ -x "$1" ]] && out="$("$1" version 2>/dev/null)" && [[ "$out" == *"version ${GOLANGCI_LINT_VERSION}"* ]]
}

go_tool golangci-lint "$GOLANGCI_LINT_VERSION" github.com/golangci/golangci-lint/v2/cmd/golangci-lint \
	"-s -w -X main.version=${GOLANGCI_LINT_VERSION}"
printf '%s\n' "${KM_BIN_DIR}/golangci-lint"
