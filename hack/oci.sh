# shellcheck shell=bash
# oci.sh writes OCI image archives with tar and sha256sum alone: no Docker
# engine, buildah or registry exists here, and containerd imports an OCI image
# layout tarball directly (`ctr -n k8s.io images import`). Sourced, not run.

# oci_sha prints the sha256 of file $1.
oci_sha() { sha256sum "$1" | cut -d' ' -f1; }

# oci_blob moves file $1 into layout $2's blob store and prints its digest.
oci_blob() {
	local sum
	sum="$(oci_sha "$1")"
	mkdir -p "$2/blobs/sha256"
	mv "$1" "$2/blobs/sha256/${sum}"
	printf '%s' "$sum"
}

# oci_image ROOTFS REF OUT CONFIG writes the image REF, one layer holding
# directory ROOTFS, as an OCI layout tarball OUT. CONFIG is the JSON object of
# the image config's "config" field (Entrypoint, User, Env, …). The layer is
# reproducible: sorted names, the numeric owners ROOTFS has (so a directory can
# belong to the image's non-root user), and every mtime at the epoch, so an
# unchanged binary gives an unchanged digest.
oci_image() {
	local rootfs="$1" ref="$2" out="$3" config="$4" work layout layer_sum layer_size cfg_sum cfg_size man_sum man_size
	work="$(mktemp -d)"
	layout="${work}/layout"
	mkdir -p "$layout"
	tar --sort=name --numeric-owner --mtime=@0 -C "$rootfs" -cf "${work}/layer.tar" .
	layer_size="$(stat -c %s "${work}/layer.tar")"
	layer_sum="$(oci_blob "${work}/layer.tar" "$layout")"
	printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$(go env GOARCH)" "$config" "$layer_sum" >"${work}/config.json"
	cfg_size="$(stat -c %s "${work}/config.json")"
	cfg_sum="$(oci_blob "${work}/config.json" "$layout")"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$cfg_sum" "$cfg_size" "$layer_sum" "$layer_size" >"${work}/manifest.json"
	man_size="$(stat -c %s "${work}/manifest.json")"
	man_sum="$(oci_blob "${work}/manifest.json" "$layout")"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
		"$man_sum" "$man_size" "$ref" "${ref##*:}" >"${layout}/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"${layout}/oci-layout"
	mkdir -p "$(dirname "$out")"
	tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$layout" -cf "${out}.tmp.$$" .
	mv -f "${out}.tmp.$$" "$out"
	rm -rf "$work"
}
