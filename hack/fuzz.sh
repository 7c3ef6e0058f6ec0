#!/usr/bin/env bash
# fuzz.sh runs each fuzz target for FUZZ_TIME. Targets are "pkgdir:FuzzName"
# arguments; without arguments every Fuzz* function in the module is run.
# go test -fuzz accepts one target per run, hence the loop.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

FUZZ_TIME="${FUZZ_TIME:-15s}"
targets=("$@")

if [[ ${#targets[@]} -eq 0 ]]; then
	# `go test -list` prints matching names, then "ok <import path>" per package.
	names=()
	while read -r first second _; do
		case "$first" in
		Fuzz*) names+=("$first") ;;
		ok)
			for n in "${names[@]}"; do
				targets+=("${second}:${n}")
			done
			names=()
			;;
		esac
	done < <(go test -list '^Fuzz' ./... 2>/dev/null || true)
fi

if [[ ${#targets[@]} -eq 0 ]]; then
	log "no fuzz targets yet"
	exit 0
fi
for t in "${targets[@]}"; do
	log "fuzzing ${t} for ${FUZZ_TIME}"
	go test -run '^$' -fuzz "^${t##*:}\$" -fuzztime "$FUZZ_TIME" "${t%:*}"
done
