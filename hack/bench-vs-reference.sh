#!/usr/bin/env bash
# bench-vs-reference.sh measures keymanager against the reference Barbican in one window, the way the
# performance targets are stated: the 8-client mix (create / payload get / list / metadata get) from
# hack/loadgen, a process of its own, against each server on its shipped defaults, rounds interleaved so that
# both see the same machine. It prints each run and the ratios.
#
#   hack/bench-vs-reference.sh [SECONDS] [ROUNDS]
#
# Servers: the reference (Debian's Barbican 15 under uWSGI, 2 processes, no-auth, simple_crypto, MariaDB),
# keymanager on SQLite (synchronous=FULL) and keymanager on MariaDB. Needs the test environment
# (hack/test-deps.sh): MariaDB at KEYMANAGER_TEST_DB_URL and the reference Barbican.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SECONDS_PER_RUN="${1:-20}"
ROUNDS="${2:-2}"
: "${KEYMANAGER_TEST_DB_URL:?run with the test environment: set -a; . bin/test-env.sh; set +a}"

work="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	bash hack/reference-barbican.sh stop "$work/ref" >/dev/null 2>&1 || true
	for db in ref km; do mysql_exec "DROP DATABASE IF EXISTS keymanager_bench_${db}" || true; done
	rm -rf "$work"
}
trap cleanup EXIT

base="${KEYMANAGER_TEST_DB_URL%/*}"
hostport="${base#*@}"
userpass="${base#mysql://}"
userpass="${userpass%@*}"
mysql_exec() {
	mysql -h "${hostport%:*}" -P "${hostport#*:}" -u "${userpass%:*}" -p"${userpass#*:}" -e "$1"
}
for db in ref km; do
	mysql_exec "DROP DATABASE IF EXISTS keymanager_bench_${db}; CREATE DATABASE keymanager_bench_${db}"
done

log "building keymanager and the load generator"
go build -o "$work/keymanager" .
go build -o "$work/loadgen" ./hack/loadgen

log "starting the reference Barbican (2 uWSGI processes)"
REFERENCE_BARBICAN_PROCESSES=2 bash hack/reference-barbican.sh start --db-upgrade "$work/ref" \
	"${base}/keymanager_bench_ref" 19411 >/dev/null

start_km() { # name port db-url
	mkdir -p "$work/$1"
	"$work/keymanager" manage db upgrade --data-dir "$work/$1" --db-url "$3" >/dev/null 2>&1
	"$work/keymanager" serve --data-dir "$work/$1" --db-url "$3" --listen "127.0.0.1:$2" \
		>"$work/$1.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 100); do
		[[ "$(http_status "http://127.0.0.1:$2/healthcheck")" == 200 ]] && return 0
		sleep 0.1
	done
	cat "$work/$1.log" >&2
	return 1
}
log "starting keymanager on SQLite and on MariaDB"
start_km sqlite 19412 "sqlite://$work/sqlite/keymanager.db"
start_km mariadb 19413 "${base}/keymanager_bench_km"

run() { # name url
	local out
	out="$("$work/loadgen" -url "$2" -duration "${SECONDS_PER_RUN}s" -json)"
	printf '%-12s %s\n' "$1" "$out" | tee -a "$work/runs"
}
for r in $(seq "$ROUNDS"); do
	log "round $r of $ROUNDS, ${SECONDS_PER_RUN}s per server"
	run reference http://127.0.0.1:19411
	run km-sqlite http://127.0.0.1:19412
	run km-mariadb http://127.0.0.1:19413
done

log "summary (mean over rounds)"
/usr/bin/python3 - "$work/runs" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    name, data = line.split(None, 1)
    runs.setdefault(name, []).append(json.loads(data))
mean = {}
for name, rs in runs.items():
    mean[name] = {k: sum(r[k] for r in rs) / len(rs) for k in ("requests_per_second", "p50_ms", "p99_ms")}
    errors = sum(r["errors"] for r in rs)
    m = mean[name]
    print(f"  {name:<12} {m['requests_per_second']:8.1f} req/s  p50 {m['p50_ms']:7.2f} ms  p99 {m['p99_ms']:7.2f} ms  errors {errors}")
ref = mean["reference"]
for name, m in mean.items():
    if name != "reference":
        print(f"  {name:<12} {m['requests_per_second'] / ref['requests_per_second']:5.1f}x the reference's throughput, "
              f"p99 {m['p99_ms'] / ref['p99_ms']:.3f} of its")
PY
