#!/usr/bin/env bash
# barbican.sh installs the reference Barbican (Debian bookworm ships 15.0.1)
# and uWSGI, so that compatibility tests can run the real server beside
# keymanager through hack/reference-barbican.sh.
#
# Only python3-barbican (the code) and barbican-common (barbican-manage and the
# stock paste pipeline) are installed, with uwsgi-core and its python3 plugin.
# Debian's barbican-api package is left out on purpose: its postinst asks
# debconf about Keystone endpoint registration and starts an init/systemd
# service, neither of which a test machine wants. barbican-common's own
# debconf questions default to "do not configure a database", so it installs
# with no stdin, and none of these packages ships a service, so no policy-rc.d
# is needed. Nothing is cached: apt is the cache.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PACKAGES=(python3-barbican barbican-common uwsgi-core uwsgi-plugin-python3)
UWSGI_PYTHON_PLUGIN=/usr/lib/uwsgi/plugins/python3_plugin.so
PASTE_INI=/usr/share/barbican-common/barbican-api-paste.ini
# Debian's interpreter, not whichever python3 comes first on PATH (pyenv and
# virtualenvs do not see Debian's dist-packages).
PYTHON=/usr/bin/python3

# usable reports why the installed reference cannot be run, or nothing. The
# import also parses barbican's default configuration, which is what a start
# would trip over first.
usable() {
	have barbican-manage || {
		echo "barbican-manage is not on PATH (Debian package barbican-common)"
		return
	}
	have uwsgi || {
		echo "uwsgi is not on PATH (Debian package uwsgi-core)"
		return
	}
	[[ -f "$UWSGI_PYTHON_PLUGIN" ]] || {
		echo "${UWSGI_PYTHON_PLUGIN} is missing (Debian package uwsgi-plugin-python3)"
		return
	}
	[[ -f "$PASTE_INI" ]] || {
		echo "${PASTE_INI} is missing (Debian package barbican-common)"
		return
	}
	local err
	if ! err="$("$PYTHON" -c 'import barbican.api.app, barbican.plugin.crypto.simple_crypto' 2>&1)"; then
		echo "${PYTHON} cannot import barbican: ${err##*$'\n'}"
	fi
}

main() {
	log "reference Barbican"
	local why
	why="$(usable)"
	if [[ -n "$why" ]]; then
		apt_install "${PACKAGES[@]}" || return 1
		why="$(usable)"
	fi
	if [[ -n "$why" ]]; then
		missing "reference Barbican" "$why"
		return 1
	fi
	ok "barbican $("$PYTHON" -c 'import barbican.version as v; print(v.version_info.release_string())' 2>/dev/null || echo '?') with $(uwsgi --version) (uWSGI)"
}

main "$@"
