#!/usr/bin/env bash
# image.sh builds the keymanager container image without a Docker engine:
# the one keymanager binary, built as the Dockerfile builds it (cgo for SQLite
# and PKCS#11's dlopen), with exactly the shared libraries ldd says it and
# SoftHSM2's module need, a non-root user, written as an OCI archive by
# hack/oci.sh. When the cluster of hack/cluster.sh runs, the image is imported
# into its containerd, where pods with imagePullPolicy IfNotPresent find it.
#
#   hack/image.sh [REF]   default REF: localhost/keymanager:<git describe>, and for a dirty tree
#                         <git describe>-<digest of the binary>: a rebuilt binary gets a new tag, so that
#                         IfNotPresent pods and an applied Deployment never keep running the old one
#
# Prints the image reference on stdout; the archive is bin/image/keymanager.tar.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=hack/oci.sh
. "$(dirname "${BASH_SOURCE[0]}")/oci.sh"

SOFTHSM2_LIB=/usr/lib/softhsm/libsofthsm2.so
# The Dockerfile's user: distroless's nonroot.
UID_GID=65532
VERSION="${VERSION:-$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo dev)}"
# :latest would make the kubelet pull Always, and there is no registry.
REF="${1:-localhost/keymanager:${VERSION}}"
[[ "${REF##*:}" != latest ]] || {
	warn "the tag latest forces imagePullPolicy Always; pick another"
	exit 2
}
OUT="${KM_BIN_DIR}/image"
ARCHIVE="${OUT}/keymanager.tar"

# copy_libs ROOTFS FILE… copies every shared library FILE links against (and
# the dynamic loader) to the same path under ROOTFS.
copy_libs() {
	local rootfs="$1" lib
	shift
	for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
		install -D -m 0755 "$(readlink -f "$lib")" "${rootfs}${lib}"
	done
}

ROOTFS=
trap 'rm -rf "$ROOTFS"' EXIT

main() {
	local start=$SECONDS rootfs
	mkdir -p "$OUT"
	log "building keymanager ${VERSION} (cgo, as the Dockerfile does)"
	(cd "$REPO_ROOT" && CGO_ENABLED=1 go build -trimpath \
		-ldflags "-s -w -X github.com/keymanager-io/keymanager/server.Version=${VERSION}" -o "${OUT}/keymanager" .)
	if [[ -z "${1:-}" && "$VERSION" == *-dirty ]]; then
		REF="localhost/keymanager:${VERSION}-$(sha256sum "${OUT}/keymanager" | cut -c1-8)"
	fi
	ROOTFS="$(mktemp -d)"
	rootfs="$ROOTFS"
	# mktemp makes 0700 directories; the image's / must be 0755.
	chmod 0755 "$rootfs"
	install -D -m 0755 "${OUT}/keymanager" "${rootfs}/usr/local/bin/keymanager"
	copy_libs "$rootfs" "${OUT}/keymanager"
	if [[ -f "$SOFTHSM2_LIB" ]]; then
		install -D -m 0644 "$SOFTHSM2_LIB" "${rootfs}${SOFTHSM2_LIB}"
		copy_libs "$rootfs" "$SOFTHSM2_LIB"
	else
		missing "SoftHSM2" "${SOFTHSM2_LIB} not found; the image would lack it" || true
	fi
	# CA certificates for outbound TLS (Keystone, a MariaDB over TLS).
	[[ -f /etc/ssl/certs/ca-certificates.crt ]] &&
		install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "${rootfs}/etc/ssl/certs/ca-certificates.crt"
	mkdir -p "${rootfs}/etc" "${rootfs}/tmp" "${rootfs}/var/lib/keymanager" "${rootfs}/home/nonroot"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' \
		"$UID_GID" "$UID_GID" >"${rootfs}/etc/passwd"
	printf 'root:x:0:\nnonroot:x:%s:\n' "$UID_GID" >"${rootfs}/etc/group"
	chown -R 0:0 "$rootfs"
	chmod 1777 "${rootfs}/tmp"
	chown "${UID_GID}:${UID_GID}" "${rootfs}/var/lib/keymanager" "${rootfs}/home/nonroot"
	oci_image "$rootfs" "$REF" "$ARCHIVE" "$(printf '{"User":"%s:%s","Entrypoint":["/usr/local/bin/keymanager"],"Cmd":["serve","--data-dir","/var/lib/keymanager"],"Env":["KEYMANAGER_LISTEN=0.0.0.0:9311","PATH=/usr/local/bin:/usr/bin:/bin"],"ExposedPorts":{"9311/tcp":{}},"WorkingDir":"/home/nonroot"}' "$UID_GID" "$UID_GID")"
	ok "image ${REF}: ${ARCHIVE} ($(du -h "$ARCHIVE" | cut -f1), $(find "$rootfs" -type f | wc -l) files) in $((SECONDS - start))s"
	if [[ -S /run/containerd/containerd.sock ]] && have ctr; then
		ctr -n k8s.io images import "$ARCHIVE" >/dev/null
		ok "imported into the cluster's containerd (k8s.io namespace)"
	else
		warn "no cluster containerd running: not imported (hack/cluster.sh up, then make image again)"
	fi
	printf '%s\n' "$REF"
}

main "$@"
