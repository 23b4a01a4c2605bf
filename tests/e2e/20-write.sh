#!/bin/bash
# Writing: what ferry writes is accepted by the real tools.
#  - OCI layouts: skopeo inspect oci:DIR:TAG (same digest as index.json),
#    skopeo copy oci:DIR:TAG dir:..., umoci unpack --rootless (and the
#    unpacked files are right: contents, symlink, whiteout applied)
#  - docker-archives: docker load gives the source's image IDs and tags,
#    skopeo inspect docker-archive:PATH:TAG
#  - oci-archives: skopeo inspect / copy oci-archive:PATH:TAG
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

# sample_oci_tools LABEL DIR: the three sample images in DIR pass the tools
# and unpack to the right files.
sample_oci_tools() {
	local label=$1 dir=$2
	tap_is "$(oci_refs "$dir")" "1.0 13 2.1" "$label: ref.name annotations are the tags"
	check_oci_tools "$label" "$dir" 13 app/app.conf 'listen = 127\.0\.0\.1:8080'
	check_oci_tools "$label" "$dir" 1.0 etc/motd '^Welcome to the example base image\.$'
	tap_is "$(readlink .bundle/rootfs/usr/share/example/latest.txt)" base.txt \
		"$label: base keeps its symlink latest.txt -> base.txt"
	check_oci_tools "$label" "$dir" 2.1 opt/tool/VERSION '^2\.1$'
	tap_ok "$label: tool's whiteout removed /etc/motd" \
		bash -c 'test -f .bundle/rootfs/opt/tool/VERSION && test ! -e .bundle/rootfs/etc/motd'
	tap_ok "$label: tool.sh is executable" test -x .bundle/rootfs/opt/tool/bin/tool.sh
}

# ---- OCI layouts ---------------------------------------------------------------
tap_ok "sample.tar -> OCI layout" "$FERRY" convert -q "$SAMPLE" oci/
sample_oci_tools "oci from sample" oci
tap_is "$(jq -r .imageLayoutVersion oci/oci-layout 2>/dev/null)" 1.0.0 "oci from sample: oci-layout file"
tap_is "$(jq -r '[.manifests[].mediaType] | unique | join(" ")' oci/index.json 2>/dev/null)" \
	application/vnd.oci.image.manifest.v1+json "oci from sample: OCI image manifests"

tap_ok "sample.tar -> OCI layout with --compress gzip" "$FERRY" convert -q --compress gzip "$SAMPLE" oci-gz/
sample_oci_tools "oci gzip" oci-gz
m=$(oci_digest_of oci-gz 13)
tap_is "$(jq -r '.layers[].mediaType' "oci-gz/blobs/sha256/${m#sha256:}" 2>/dev/null | sort -u)" \
	application/vnd.oci.image.layer.v1.tar+gzip "oci gzip: layers are tar+gzip"
tap_is "$(image_facts oci-gz)" "$SAMPLE_FACTS" "oci gzip: same configs and diff_ids"

# An OCI layout converted from ferry's own docker-archive.
tap_ok "sample.tar -> docker-archive" "$FERRY" convert -q "$SAMPLE" da.tar
tap_ok "docker-archive -> OCI layout" "$FERRY" convert -q da.tar oci-from-da/
sample_oci_tools "oci from docker-archive" oci-from-da

# zstd layers: umoci 0.4.7 cannot unpack zstd at all, so it gets the image
# after skopeo has read every zstd layer and recompressed it to gzip.
tap_ok "sample.tar -> OCI layout with --compress zstd" "$FERRY" convert -q --compress zstd "$SAMPLE" oci-zst/
tap_is "$(oci_refs oci-zst)" "1.0 13 2.1" "oci zstd: ref.name annotations"
for ref in 13 1.0 2.1; do
	tap_ok "oci zstd: skopeo inspect oci:$ref" skopeo inspect "oci:oci-zst:$ref"
	tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "$(oci_digest_of oci-zst "$ref")" \
		"oci zstd: skopeo sees index.json's digest for $ref"
	tap_ok "oci zstd: skopeo recompresses $ref to gzip" \
		skopeo copy -q --dest-compress --dest-compress-format gzip "oci:oci-zst:$ref" "oci:zst-regz:$ref"
done
check_oci_tools "oci zstd, regzipped by skopeo" zst-regz 2.1 opt/tool/VERSION '^2\.1$'
tap_is "$(image_facts zst-regz)" "$SAMPLE_FACTS" "oci zstd: skopeo got the same configs and diff_ids out"

# ---- docker-archives -------------------------------------------------------------
# shellcheck disable=SC2046
check_docker_load "docker-archive from sample" da.tar $(sample_ids)
tap_ok "OCI layout -> docker-archive" "$FERRY" convert -q oci-gz da-from-oci.tar
# shellcheck disable=SC2046
check_docker_load "docker-archive from gzip OCI" da-from-oci.tar $(sample_ids)
for t in $SAMPLE_TAGS; do
	tap_ok "docker-archive from OCI: skopeo inspect $t" skopeo inspect "docker-archive:da-from-oci.tar:$t"
	case $t in
	*app*) want="$L_BASE $L_APP" ;;
	*base*) want="$L_BASE" ;;
	*tool*) want="$L_BASE $L_TOOL $L_TOOLV" ;;
	esac
	tap_is "$(jq -r '.Layers[]' "$TAP_OUT" 2>/dev/null | xargs)" "$want" \
		"docker-archive from OCI: skopeo sees $t's layers, by their diff_ids"
done
tap_ok "docker-archive: skopeo copy example/tool:2.1 to oci:" \
	skopeo copy -q docker-archive:da-from-oci.tar:example/tool:2.1 oci:skopeo-back:tool
tap_is "$(image_facts skopeo-back | cut -d' ' -f2)" "$L_BASE,$L_TOOL,$L_TOOLV" \
	"docker-archive: skopeo reads the right diff_ids back"

# docker-archive written from a skopeo OCI layout (its config bytes differ from
# the sample's, so the image ID is the skopeo config's digest).
skopeo copy -q "docker-archive:$SAMPLE:example/app:13" oci:sk-oci:app13 >/dev/null 2>&1
sk_cfg=$(image_facts sk-oci | cut -d' ' -f1)
tap_ok "skopeo OCI -> docker-archive with --repository" \
	"$FERRY" convert -q --repository example/sk sk-oci sk.tar
check_docker_load "docker-archive from skopeo OCI" sk.tar "example/sk:app13=$sk_cfg"
# (skopeo finds an image in a docker-archive by its RepoTags entry)
tap_ok "docker-archive from skopeo OCI: skopeo inspect by tag" \
	skopeo inspect docker-archive:sk.tar:example/sk:app13
tap_is "$(jq -r '.Layers | join(" ")' "$TAP_OUT" 2>/dev/null)" "$L_BASE $L_APP" \
	"docker-archive from skopeo OCI: skopeo sees the uncompressed layers"

# ---- oci-archives ------------------------------------------------------------------
tap_ok "sample.tar -> oci-archive" "$FERRY" convert -q --format oci-archive "$SAMPLE" oa.tar
for ref in 13 1.0 2.1; do
	tap_ok "oci-archive: skopeo inspect oci-archive:$ref" skopeo inspect "oci-archive:oa.tar:$ref"
	name=$(jq -r --arg r "$ref" \
		'.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) |
		 .annotations["io.containerd.image.name"]' oci/index.json 2>/dev/null)
	tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "$(ferry_field oa.tar "$name" digest)" \
		"oci-archive: skopeo and ferry agree on $ref's digest"
done
tap_ok "oci-archive: skopeo copy to an OCI layout" skopeo copy -q oci-archive:oa.tar:2.1 oci:oa-copy:2.1
check_oci_tools "oci-archive, copied out by skopeo" oa-copy 2.1 opt/tool/VERSION '^2\.1$'
tap_is "$(image_facts oa.tar)" "$SAMPLE_FACTS" "oci-archive: same configs and diff_ids"
tap_is "$(tar tf oa.tar | grep -Ec '^(\./)?(oci-layout|index\.json)$')" 2 \
	"oci-archive: has oci-layout and index.json at its top"

# ==== store_tar: a layer's copy into the archive fails in the background =========
# (--compress none: gzip layers are kept as they are in a docker-archive otherwise.)
# A decompressed layer is spooled, then copied into the archive on a thread of
# its own while the next layer is decoded.  Under a file size limit that every
# spool stays below but the archive crosses inside a layer's bytes, that copy
# fails (EFBIG): the error must still reach the user, naming the entry, and
# nothing may be left behind.  One case per layer, so the call that learns of
# the failure is another layer's end or, after the last, a config's start.
mkdir -p bgcopy
"$FERRY" convert -q --compress gzip "$SAMPLE" bgcopy/gz/ >/dev/null 2>&1
"$FERRY" convert -q --compress none bgcopy/gz/ bgcopy/ref.tar >/dev/null 2>&1
# "KIB ENTRY" per layer: a limit in KiB that falls inside the layer's bytes in
# the archive and is above every layer's size (so no spool reaches it).  The
# archive is written unblocked, so the write that crosses it is that layer's.
bg_cases=$(python3 - bgcopy/ref.tar <<'EOF' 2>/dev/null
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
layers = [l for m in json.load(t.extractfile("manifest.json")) for l in m["Layers"]]
members = {m.name: m for m in t.getmembers()}
biggest = max(members[l].size for l in layers)
for l in dict.fromkeys(layers):
    m = members[l]
    k = max(biggest, m.offset_data) // 1024 + 1
    if k * 1024 < m.offset_data + m.size:
        print(k, l)
EOF
)
tap_like "$(grep -c . <<<"$bg_cases")" '^[2-9]$' "background copy: file size limits that fall inside layers' copies"
while read -r kib entry; do
	[ -n "$kib" ] || continue
	rm -f bgcopy/out.tar
	# SIGXFSZ ignored: over the limit, write fails with EFBIG instead of killing ferry.
	# shellcheck disable=SC2016 # expanded by the inner bash
	rc=$(bash -c 'trap "" XFSZ; ulimit -f "$1"; shift; "$@" >bgcopy/err 2>&1 </dev/null; echo $?' \
		_ "$kib" "$FERRY" convert -q --compress none bgcopy/gz/ bgcopy/out.tar)
	tap_is "$rc" 1 "background copy fails in $entry (limit $kib KiB): exit 1"
	# shellcheck disable=SC2016 # expanded by the inner bash
	if ! tap_ok "background copy fails in $entry: one line naming the entry and the cause" \
		bash -c '[ "$(wc -l <bgcopy/err)" = 1 ] && grep -qF "$1: File too large" bgcopy/err' _ "$entry"; then
		tap_diag "stderr: $(cat bgcopy/err)"
	fi
	tap_is "$(find bgcopy -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | xargs)" "err gz ref.tar" \
		"background copy fails in $entry: nothing left, no archive, no temporary file"
done <<<"$bg_cases"
# ==== end of store_tar's block ======================================================

tap_done
