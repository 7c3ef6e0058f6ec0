#!/usr/bin/env bash
# mariadb.sh makes sure a MariaDB server answers on 127.0.0.1:3306 with the
# test database and user the Go tests expect. It works without systemd (CI
# containers) by starting mysqld_safe itself, and it is safe to re-run.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DB_HOST=127.0.0.1
DB_PORT=3306
DB_USER=keymanager
DB_PASS=keymanager
DB_NAME=keymanager_test
# Log outside the checkout: the server outlives this script and `make clean`.
DB_LOG="${KM_CACHE_DIR}/mariadb.log"

# user_ping reports whether the test user can reach the test database over TCP,
# which is exactly what the tests will do.
user_ping() {
	mariadb --protocol=tcp -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -p"$DB_PASS" \
		-e 'SELECT 1' "$DB_NAME" >/dev/null 2>&1
}

# user_ready also checks the grants that let tests create users with fewer
# privileges (a user without TRIGGER, for the schema upgrade's privilege check).
user_ready() {
	user_ping || return 1
	local grants
	grants=$(mariadb --protocol=tcp -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -p"$DB_PASS" \
		-N -e 'SHOW GRANTS' 2>/dev/null) || return 1
	grep -q 'CREATE USER' <<<"$grants" && grep -q 'WITH GRANT OPTION' <<<"$grants"
}

server_ping() {
	mysqladmin --protocol=tcp -h "$DB_HOST" -P "$DB_PORT" ping >/dev/null 2>&1 ||
		mysqladmin ping >/dev/null 2>&1
}

start_server() {
	log "starting MariaDB on ${DB_HOST}:${DB_PORT} (no service manager assumed)"
	install -d -o mysql -g mysql -m 0755 /run/mysqld
	if [[ ! -d /var/lib/mysql/mysql ]]; then
		log "initialising /var/lib/mysql"
		mariadb-install-db --user=mysql --datadir=/var/lib/mysql >&2
	fi
	mkdir -p "$(dirname "$DB_LOG")"
	# setsid plus closed stdio: the server must neither die with this script
	# nor hold make's or CI's output pipe open.
	setsid mysqld_safe --user=mysql --bind-address="$DB_HOST" --port="$DB_PORT" \
		</dev/null >>"$DB_LOG" 2>&1 &
	if poll 60 server_ping; then
		ok "MariaDB is up"
		return 0
	fi
	tail -n 20 "$DB_LOG" >&2 || true
	missing "MariaDB" "server did not answer within 60s (log: ${DB_LOG})"
}

provision() {
	log "creating database ${DB_NAME} and user ${DB_USER}"
	# Root reaches the server over the unix socket (Debian's unix_socket auth),
	# so no root password is ever needed or stored.
	mariadb -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`${DB_NAME}\`;
CREATE USER IF NOT EXISTS '${DB_USER}'@'127.0.0.1' IDENTIFIED BY '${DB_PASS}';
CREATE USER IF NOT EXISTS '${DB_USER}'@'localhost' IDENTIFIED BY '${DB_PASS}';
ALTER USER '${DB_USER}'@'127.0.0.1' IDENTIFIED BY '${DB_PASS}';
ALTER USER '${DB_USER}'@'localhost' IDENTIFIED BY '${DB_PASS}';
GRANT ALL PRIVILEGES ON \`keymanager\\_%\`.* TO '${DB_USER}'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON \`keymanager\\_%\`.* TO '${DB_USER}'@'localhost' WITH GRANT OPTION;
-- Tests create short-lived users with fewer privileges on their own test
-- database (testbed.NewMySQLUser) and drop them when they end.
GRANT CREATE USER ON *.* TO '${DB_USER}'@'127.0.0.1';
GRANT CREATE USER ON *.* TO '${DB_USER}'@'localhost';
FLUSH PRIVILEGES;
SQL
}

main() {
	log "MariaDB"
	if user_ready; then
		ok "MariaDB answers on ${DB_HOST}:${DB_PORT} as ${DB_USER}"
		return 0
	fi
	apt_install mariadb-server mariadb-client || return 1
	if ! have mysqld_safe || ! have mariadb; then
		missing "MariaDB" "mariadb-server is not installed"
		return 1
	fi
	if ! server_ping; then
		if ! is_root; then
			missing "MariaDB" "server not running and starting it needs root"
			return 1
		fi
		start_server || return 1
	fi
	if is_root; then
		provision
	fi
	if ! user_ready; then
		missing "MariaDB" "user ${DB_USER} cannot reach ${DB_NAME} on ${DB_HOST}:${DB_PORT} or lacks CREATE USER / GRANT OPTION; re-run as root"
		return 1
	fi
	ok "MariaDB ready: mysql://${DB_USER}:***@${DB_HOST}:${DB_PORT}/${DB_NAME}"
}

main "$@"
