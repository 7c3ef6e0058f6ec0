#!/usr/bin/env bash
# helm.sh provides bin/helm at the pinned version, built from the Go module proxy
# and cached outside the checkout keyed by version (go_tool in lib.sh). The chart
# tests lint and render charts/keymanager with it. Prints the binary's path on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# helm reports what -X internal/version.version says; go install alone leaves
# the source's "v4.3", so the build stamps the full version and checks it.
version_ok() {
	local out
	[[ -x "$1" ]] && out="$("$1" version --template '{{.Version}}' 2>/dev/null)" && [[ "$out" == "v${HELM_VERSION}" ]]
}

go_tool helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm \
	"-s -w -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION}"
printf '%s\n' "${KM_BIN_DIR}/helm"
