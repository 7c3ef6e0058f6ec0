#!/usr/bin/env bash
# keystone.sh installs Keystone (Debian bookworm ships 22.0.2) and uWSGI, and starts it through
# hack/keystone.sh, so that the tests that put keymanager behind Keystone run against the real server.
#
# Only python3-keystone (the code, keystone-manage and keystone-wsgi-public) is installed: Debian's
# keystone package asks dbconfig/debconf questions at install and starts a service, neither of which a
# test machine wants. python3-castellan is the client library nova, cinder and glance reach Barbican with.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PACKAGES=(python3-keystone python3-keystoneclient python3-castellan uwsgi-core uwsgi-plugin-python3)

main() {
	log "Keystone"
	if ! bash "${REPO_ROOT}/hack/keystone.sh" check 2>/dev/null; then
		apt_install "${PACKAGES[@]}" || return 1
	fi
	local why
	if ! why="$(bash "${REPO_ROOT}/hack/keystone.sh" check 2>&1)"; then
		missing "Keystone" "$why"
		return 1
	fi
	local url
	if ! url="$(bash "${REPO_ROOT}/hack/keystone.sh" start)"; then
		missing "Keystone" "hack/keystone.sh start failed (see above)"
		return 1
	fi
	ok "Keystone $(dpkg-query -W -f='${Version}' python3-keystone 2>/dev/null || echo '?') on ${url}"
}

main "$@"
