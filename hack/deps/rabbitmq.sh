#!/usr/bin/env bash
# rabbitmq.sh installs RabbitMQ (Debian's rabbitmq-server) and starts it on 127.0.0.1:5672 without a service
# manager, for the Keystone project-deletion listener: Keystone publishes its notifications there and
# keymanager consumes them. The guest user (loopback only, RabbitMQ's default) is what the tests use.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PORT=5672
LOG="${KM_CACHE_DIR}/rabbitmq.log"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; }

main() {
	log "RabbitMQ"
	if listening; then
		ok "RabbitMQ answers on 127.0.0.1:${PORT}"
		return 0
	fi
	apt_install rabbitmq-server || return 1
	have rabbitmq-server || {
		missing "RabbitMQ" "rabbitmq-server is not installed"
		return 1
	}
	is_root || {
		missing "RabbitMQ" "not running, and starting it needs root"
		return 1
	}
	mkdir -p "$(dirname "$LOG")"
	# setsid and closed stdio: the broker outlives this script and must not hold make's output pipe.
	RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT" HOME=/var/lib/rabbitmq \
		setsid rabbitmq-server </dev/null >>"$LOG" 2>&1 &
	if poll 60 listening; then
		ok "RabbitMQ is up on 127.0.0.1:${PORT}"
		return 0
	fi
	tail -n 20 "$LOG" >&2 || true
	missing "RabbitMQ" "did not listen on 127.0.0.1:${PORT} within 60s (log: ${LOG})"
}

main "$@"
