#!/usr/bin/env bash
# test-cluster.sh is the cluster part of `make test`: it brings up the single-node cluster of
# hack/cluster.sh, runs hack/e2e-cluster.sh on it and tears it down again, whatever the e2e's outcome. A
# cluster that was already running is used and left running (a developer's, between runs).
#
# The cluster needs root. Without root the part is skipped with a warning, except with CI=true, where a
# cluster that cannot run fails the run.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
	if ! is_root; then
		missing "the cluster e2e" "needs root (kubelet, containerd, iptables)" || return 0
		return 1
	fi
	local was_up=false rc=0 t0=$SECONDS
	if bash "${REPO_ROOT}/hack/cluster.sh" status >/dev/null 2>&1; then
		was_up=true
		log "using the cluster already running (left running afterwards)"
	else
		bash "${REPO_ROOT}/hack/cluster.sh" up
	fi
	# The e2e names its failure in this file, told again below after the teardown's output: CI shows only
	# the end of a run.
	local failure
	failure="$(mktemp)"
	KM_E2E_FAILURE_FILE="$failure" bash "${REPO_ROOT}/hack/e2e-cluster.sh" || rc=$?
	if [[ "$was_up" == false ]]; then
		bash "${REPO_ROOT}/hack/cluster.sh" down || rc=1
	fi
	if [[ -s "$failure" ]]; then cat "$failure" >&2; fi
	rm -f "$failure"
	((rc == 0)) && ok "cluster e2e, with the cluster's start and teardown, in $((SECONDS - t0))s"
	return "$rc"
}

main "$@"
