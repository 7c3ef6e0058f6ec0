#!/usr/bin/env bash
# controller-gen.sh provides bin/controller-gen at the pinned version, built
# from the Go module proxy and cached outside the checkout keyed by version
# (go_tool in lib.sh). Prints the binary's path on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# controller-gen reports the module version it was built from ("Version: v0.23.0")
# when built with go install pkg@version, so a stale bin/ copy is rebuilt.
version_ok() {
	local out
	[[ -x "$1" ]] && out="$("$1" --version 2>/dev/null)" && [[ "$out" == *"v${CONTROLLER_TOOLS_VERSION}"* ]]
}

go_tool controller-gen "$CONTROLLER_TOOLS_VERSION" sigs.k8s.io/controller-tools/cmd/controller-gen "-s -w"
printf '%s\n' "${KM_BIN_DIR}/controller-gen"
