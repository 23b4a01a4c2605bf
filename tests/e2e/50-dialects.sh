#!/bin/bash
# ferry against every docker-archive dialect and OCI naming convention in
# fixtures/dialects/ (made by fixtures/make-dialects.py, described in
# fixtures/README.md): what `ferry ls` sees in each, that `ferry verify`
# accepts them (and flags the lying media type), and that converting each to
# an OCI layout and to a docker archive gives outputs that verify, with the
# names, configs and layer digests that must survive.
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

D=$FERRY_FIXTURES/dialects
T=$TAP_TMP

# The values fixtures/make-dialects.py prints.
BASE=sha256:3f0041985ddf1772740f8bd2a8bbfeb090ff1f5fcec1b2f1c2a24983f42e046d
WEB=sha256:6c6765ad80a4462081feecd41a01b1c6503e3b8102349a7430d4448c0745e6c1
WORKER=sha256:ad7eefd85c3b99d119ab932f8d0ec95cc27132edbc896b81a1366db04ac5cace
BASE_GZ=sha256:c7b5df1eb6f68242460edaa2ce4820819b0035270e27dcc03c25f5e02f8d5a65
WEB_GZ=sha256:b977bcc1e3f0e73b46f745c329c89ca0634bc7eca5ca1acef027edd92e82f51e
WORKER_GZ=sha256:8d6ccfddde885b4bb21c8e78d4aca232a5eab475a6f645f8ed931b540a509292
CFG_WEB=sha256:e501a05a04f289c673da6d32795e14fed72944001fd429bf025d3901fcd6089c
CFG_WORKER=sha256:acfbc2366069f0efa911a31e90f6a38e0dc67969e2c4a08498054b228d4bc449
# Docker 25's own OCI manifests in docker25.tar (from its index.json).
MAN_WEB=sha256:b2f1a60184a3f07d795660a693d4c4dd2478501e4e9abe06df403c9ec8d05fbb
MAN_WORKER=sha256:c4098127cb39dcb83f4746f144be073bdd2d6436824b7dbfeca8c581df23ce03
# legacy-dup.tar
DUP_EXTRA=sha256:d108c136112bbb207613256704c79766419f1ac5b50616e8b582afa918b10855
DUP_NOEOF=sha256:0ac01c242fd35094aaf228fed86167f19fca444d105428b2a19e86fb06284799
CFG_DUP_ONE=sha256:d2e3e653a839208ca770165f23e6a76da4c9b649f19562b38dd717cb1086a2c6
CFG_DUP_TWO=sha256:caba4dafad506f3064e743b01da85519ea7f0e147bfcc280204cc40dd3c90cb1
# oci-multi/ index.json entries (the artifact entry is not an image)
MULTI=sha256:0277c4ddd62b29ba643553774695db11a7af8bb1eb677ed0c01b0e477ede0ab6
CRANE=sha256:97203c2d7bbf4ce3f717dd2f331d1a709b90f9e517a177a808c0e92aec9a171f
SKOPEO=sha256:7b4d8a418f8bdb5018940c6d1a710742bccfadbf0ba861b86b60d8bfd337d65c
NONAME=sha256:28292d3e16423dc4e4264b6973ffa3883db2a34f8eacf70d20025de42fd92516
# lying-mediatype/
LIAR_MAN=sha256:81afdc87dacbcf8c06c2be0dd9e9d294169202dd2bd6943204f9bd20268e7405
LIAR=sha256:75ab3e1d8f9d83b644827fb1415c85ffcd0a0ed9760ff10a1ffb1aa154f20580

have_skopeo=0
need_tool skopeo && have_skopeo=1
need_tool jq || {
	tap_ok "jq is installed" false
	tap_done
}

# One line per entry of `ferry ls --json LOC` (LOC may be "-" with STDIN set):
# "names digest config platforms layers", absent values as "-".
# (Run in $(...): the JSON stays in $T/ls.json, stderr in $T/ls.err.)
ls_lines() {
	local out=$T/ls.json
	if [ "$1" = - ]; then
		"$FERRY" ls --json - <"$STDIN" >"$out" 2>"$T/ls.err"
	else
		"$FERRY" ls --json "$1" >"$out" 2>"$T/ls.err"
	fi
	jq -r '.images[] | [(.names | join(",")), (.digest // "-"), (.config // "-"),
		(.platforms | join(",")), (.layers | tostring)] | join(" ")' "$out" 2>/dev/null
}

ls_format() {
	jq -r .format "$T/ls.json" 2>/dev/null
}

# ferry verify LOC: exit status in $V_RC, messages in $T/verify.out
verify() {
	"$FERRY" verify "$1" >"$T/verify.out" 2>&1
	V_RC=$?
}

# The manifest of an OCI layout's index.json entry N (0-based), or of a digest.
oci_manifest() {	# DIR N
	local d
	d=$(jq -r ".manifests[$2].digest" "$1/index.json" 2>/dev/null) || return 1
	cat "$1/blobs/sha256/${d#sha256:}" 2>/dev/null
}

# Layer digests of an OCI layout's entry N, space separated.
oci_layers() {	# DIR N
	oci_manifest "$1" "$2" | jq -r '[.layers[].digest] | join(" ")' 2>/dev/null
}

oci_layer_types() {	# DIR N
	oci_manifest "$1" "$2" | jq -r '[.layers[].mediaType] | unique | join(" ")' 2>/dev/null
}

# manifest.json of a docker archive, as "RepoTags|Layers" lines.
da_manifest() {
	tar xOf "$1" manifest.json 2>/dev/null |
		jq -r '.[] | [(.RepoTags // [] | join(",")), (.Layers | join(" "))] | join("|")' 2>/dev/null
}

blob() {	# "blobs/sha256/HEX" for sha256:HEX
	echo "blobs/sha256/${1#sha256:}"
}

# convert SRC to an OCI layout and a docker archive under $T/NAME-oci and
# $T/NAME.tar, and check that both verify.
convert_both() {	# SRC NAME [ferry convert options...]
	local src=$1 name=$2
	shift 2
	tap_ok "$name: convert to an OCI layout" "$FERRY" convert -q "$@" "$src" "oci:$T/$name-oci"
	verify "$T/$name-oci"
	tap_is "$V_RC" 0 "$name: the OCI layout verifies"
	[ "$V_RC" = 0 ] || tap_diag "$(cat "$T/verify.out")"
	tap_ok "$name: convert to a docker archive" "$FERRY" convert -q "$@" "$src" "docker-archive:$T/$name.tar"
	verify "$T/$name.tar"
	tap_is "$V_RC" 0 "$name: the docker archive verifies"
	[ "$V_RC" = 0 ] || tap_diag "$(cat "$T/verify.out")"
}

# ferry convert from a pipe: the source is read in one pass.
# shellcheck disable=SC2317 # called through tap_ok
convert_pipe() {	# FILE DEST
	"$FERRY" convert -q - "$2" <"$1"
}

skopeo_layers() {	# TRANSPORT:LOC:REF -> its layer digests, space separated
	skopeo inspect "$1" 2>/dev/null | jq -r '.Layers | join(" ")' 2>/dev/null
}

# ---- docker25.tar: Docker 25+ (OCI layout inside, uncompressed layers) ----
f=$D/docker25.tar
want="docker.io/example/web:1.0 $MAN_WEB $CFG_WEB linux/amd64 2
docker.io/example/worker:2 $MAN_WORKER $CFG_WORKER linux/amd64 2"
tap_is "$(ls_lines "$f")" "$want" "docker25: ls shows both images with Docker's manifest digests"
tap_is "$(ls_format)" docker-archive "docker25: read as a docker archive"
verify "$f"
tap_is "$V_RC" 0 "docker25: verify finds no problem"
STDIN=$f
tap_is "$(ls_lines -)" "$want" "docker25: ls from a pipe (one pass) sees the same"
gzip -c <"$f" >"$T/docker25.tar.gz"
tap_is "$(ls_lines "$T/docker25.tar.gz")" "$want" "docker25: ls of the gzipped archive sees the same"
if [ $have_skopeo = 1 ]; then
	tap_is "$(skopeo_layers "docker-archive:$f:example/worker:2")" "$BASE $WORKER" \
		"docker25: skopeo reads example/worker:2 with the shared base layer"
else
	tap_skip "docker25: skopeo reads example/worker:2" "no skopeo"
fi

convert_both "$f" docker25
tap_is "$(ls_lines "$T/docker25-oci")" "$want" \
	"docker25 -> OCI: Docker's manifests are kept byte for byte (same digests)"
tap_is "$(jq -c '[.manifests[].annotations]' "$T/docker25-oci/index.json" 2>/dev/null)" \
	'[{"io.containerd.image.name":"docker.io/example/web:1.0","org.opencontainers.image.ref.name":"1.0"},{"io.containerd.image.name":"docker.io/example/worker:2","org.opencontainers.image.ref.name":"2"}]' \
	"docker25 -> OCI: index.json names each image both ways"
tap_is "$(oci_layers "$T/docker25-oci" 1)" "$BASE $WORKER" "docker25 -> OCI: uncompressed layers kept (digest = diff_id)"
tap_is "$(ls_lines "$T/docker25.tar")" "$want" "docker25 -> docker archive: same manifests and names"
tap_is "$(da_manifest "$T/docker25.tar")" \
	"example/web:1.0|$(blob $BASE) $(blob $WEB)
example/worker:2|$(blob $BASE) $(blob $WORKER)" \
	"docker25 -> docker archive: manifest.json has the familiar tags and the layers"
tap_is "$(tar tf "$T/docker25.tar" | grep -c "^$(blob $BASE)\$")" 1 \
	"docker25 -> docker archive: the shared layer is stored once"
tap_ok "docker25 -> OCI from a pipe (one pass)" convert_pipe "$f" "oci:$T/docker25-pipe"
tap_is "$(ls_lines "$T/docker25-pipe")" "$want" "docker25 -> OCI from a pipe: same manifests"

# ---- containerd.tar: registry blobs (gzip layers), sorted, manifest.json last ----
f=$D/containerd.tar
want="docker.io/example/web:1.0 - $CFG_WEB linux/amd64 2
docker.io/example/worker:2 - $CFG_WORKER linux/amd64 2"
tap_is "$(ls_lines "$f")" "$want" "containerd: ls shows both images and their configs"
verify "$f"
tap_is "$V_RC" 0 "containerd: verify finds no problem (gzip layers against their diff_ids)"
STDIN=$f
tap_is "$(ls_lines -)" "$want" "containerd: ls from a pipe (manifest.json comes last)"
if [ $have_skopeo = 1 ]; then
	tap_is "$(skopeo_layers "docker-archive:$f:example/web:1.0")" "$BASE $WEB" \
		"containerd: skopeo reads example/web:1.0"
else
	tap_skip "containerd: skopeo reads example/web:1.0" "no skopeo"
fi
convert_both "$f" containerd
tap_is "$(oci_layers "$T/containerd-oci" 0)" "$BASE_GZ $WEB_GZ" \
	"containerd -> OCI: the gzip layers are kept as they are"
tap_is "$(oci_layer_types "$T/containerd-oci" 0)" "application/vnd.oci.image.layer.v1.tar+gzip" \
	"containerd -> OCI: and labelled tar+gzip"
tap_is "$(ls_lines "$T/containerd-oci" | cut -d' ' -f1,3-)" \
	"docker.io/example/web:1.0 $CFG_WEB linux/amd64 2
docker.io/example/worker:2 $CFG_WORKER linux/amd64 2" "containerd -> OCI: names and configs kept"
tap_is "$(da_manifest "$T/containerd.tar")" \
	"example/web:1.0|$(blob $BASE_GZ) $(blob $WEB_GZ)
example/worker:2|$(blob $BASE_GZ) $(blob $WORKER_GZ)" \
	"containerd -> docker archive: the gzip layers are kept as they are (docker load reads them)"
tap_ok "containerd -> docker archive, --compress none" \
	"$FERRY" convert -q --compress none "$f" "docker-archive:$T/containerd-plain.tar"
tap_is "$(da_manifest "$T/containerd-plain.tar")" \
	"example/web:1.0|$(blob $BASE) $(blob $WEB)
example/worker:2|$(blob $BASE) $(blob $WORKER)" \
	"containerd -> docker archive, --compress none: layers decompressed, stored under their diff_ids"
tap_ok "containerd -> OCI from a pipe (one pass)" convert_pipe "$f" "oci:$T/containerd-pipe"
tap_is "$(oci_layers "$T/containerd-pipe" 1)" "$BASE_GZ $WORKER_GZ" "containerd -> OCI from a pipe: same layers"

# ---- crane.tar: config "sha256:<hex>", layers "<hex>.tar.gz" ----
f=$D/crane.tar
want="docker.io/example/web:1.0 - $CFG_WEB linux/amd64 2
registry.example.com:5000/team/worker:2 - $CFG_WORKER linux/amd64 2"
tap_is "$(ls_lines "$f")" "$want" "crane: ls normalises index.docker.io and keeps the registry with a port"
verify "$f"
tap_is "$V_RC" 0 "crane: verify finds no problem"
if [ $have_skopeo = 1 ]; then
	tap_is "$(skopeo_layers "docker-archive:$f:registry.example.com:5000/team/worker:2")" "$BASE $WORKER" \
		"crane: skopeo reads registry.example.com:5000/team/worker:2"
else
	tap_skip "crane: skopeo reads the worker image" "no skopeo"
fi
convert_both "$f" crane
tap_is "$(oci_layers "$T/crane-oci" 1)" "$BASE_GZ $WORKER_GZ" "crane -> OCI: the gzip layers are kept"
tap_is "$(jq -r '.manifests[1].annotations["io.containerd.image.name"]' "$T/crane-oci/index.json" 2>/dev/null)" \
	registry.example.com:5000/team/worker:2 "crane -> OCI: full name in io.containerd.image.name"
tap_is "$(oci_manifest "$T/crane-oci" 0 | sha256sum | cut -c1-64)" \
	"$(oci_manifest "$T/containerd-oci" 0 | sha256sum | cut -c1-64)" \
	"crane and containerd archives of the same image give the same OCI manifest"
tap_is "$(da_manifest "$T/crane.tar" | cut -d'|' -f1)" \
	"example/web:1.0
registry.example.com:5000/team/worker:2" "crane -> docker archive: RepoTags in familiar form"
if [ $have_skopeo = 1 ]; then
	tap_is "$(skopeo_layers "docker-archive:$T/crane.tar:example/web:1.0")" "$BASE $WEB" \
		"crane -> docker archive: skopeo reads the result"
else
	tap_skip "crane -> docker archive: skopeo reads the result" "no skopeo"
fi

# ---- podman.tar: <diffid>.tar layers, <id>/layer.tar symlinks for old loaders ----
f=$D/podman.tar
want="localhost/web:1.0 - $CFG_WEB linux/amd64 2
localhost/worker:2 - $CFG_WORKER linux/amd64 2"
tap_is "$(ls_lines "$f")" "$want" "podman: ls shows the localhost/ names"
verify "$f"
tap_is "$V_RC" 0 "podman: verify finds no problem"
STDIN=$f
tap_is "$(ls_lines -)" "$want" "podman: ls from a pipe sees the same"
convert_both "$f" podman
tap_is "$(oci_layers "$T/podman-oci" 0)" "$BASE $WEB" "podman -> OCI: uncompressed layers, digest = diff_id"
tap_is "$(da_manifest "$T/podman.tar" | cut -d'|' -f1)" "localhost/web:1.0
localhost/worker:2" "podman -> docker archive: RepoTags kept"

# ---- legacy-dup.tar: Docker <= 24, a repeated layer as a symlink, a layer without EOF blocks ----
f=$D/legacy-dup.tar
want="docker.io/example/dup:one - $CFG_DUP_ONE linux/amd64 2
docker.io/example/dup:two - $CFG_DUP_TWO linux/amd64 3"
tap_is "$(ls_lines "$f")" "$want" "legacy-dup: ls shows both images"
verify "$f"
tap_is "$V_RC" 0 "legacy-dup: verify finds no problem (symlinked layer, layer without EOF blocks)"
STDIN=$f
tap_is "$(ls_lines -)" "$want" "legacy-dup: ls from a pipe sees the same"
if [ $have_skopeo = 1 ]; then
	tap_is "$(skopeo_layers "docker-archive:$f:example/dup:two")" "$BASE $DUP_EXTRA $BASE" \
		"legacy-dup: skopeo reads example/dup:two"
else
	tap_skip "legacy-dup: skopeo reads example/dup:two" "no skopeo"
fi
convert_both "$f" legacy-dup
tap_is "$(oci_layers "$T/legacy-dup-oci" 1)" "$BASE $DUP_EXTRA $BASE" \
	"legacy-dup -> OCI: the repeated layer appears twice in the manifest"
tap_is "$(oci_layers "$T/legacy-dup-oci" 0)" "$BASE $DUP_NOEOF" \
	"legacy-dup -> OCI: the layer without EOF blocks keeps its digest"
tap_is "$(stat -c %s "$T/legacy-dup-oci/$(blob $DUP_NOEOF)" 2>/dev/null)" 2048 \
	"legacy-dup -> OCI: and its bytes (2048, no zero blocks added)"
tap_is "$(tar tvf "$T/legacy-dup.tar" 2>/dev/null | grep -c " $(blob $BASE)\$")" 1 \
	"legacy-dup -> docker archive: the repeated layer is stored once"
tap_is "$(da_manifest "$T/legacy-dup.tar" | sed -n 2p)" \
	"example/dup:two|$(blob $BASE) $(blob $DUP_EXTRA) $(blob $BASE)" \
	"legacy-dup -> docker archive: manifest.json keeps the layer order"
tap_ok "legacy-dup -> OCI from a pipe (symlink resolved in one pass)" \
	convert_pipe "$f" "oci:$T/legacy-dup-pipe"
tap_is "$(oci_layers "$T/legacy-dup-pipe" 1)" "$BASE $DUP_EXTRA $BASE" "legacy-dup -> OCI from a pipe: same layers"

# ---- oci-multi/: nested index, four naming conventions, an artifact to skip ----
f=$D/oci-multi
want="docker.io/example/multi:1.0 $MULTI - linux/amd64,linux/arm64/v8 4
registry.example.com/crane/app:v2 $CRANE sha256:322b588111bf26cc88bb9f07f123cba984989363bf3e97bcd63ca00277160825 linux/amd64 2
:v3 $SKOPEO sha256:ae67ead36e4a9b270d383c4ed47e2f214709a29a26c5731731a0d7e2cf31ee86 linux/amd64 2
 $NONAME sha256:050e5be8206a96fd3b47ad75694310c01222470354f2df3f979f63fe7a50ece9 linux/amd64 2"
tap_is "$(ls_lines "$f")" "$want" \
	"oci-multi: docker/containerd, crane, skopeo and unnamed entries; the artifact is skipped"
tap_ok "oci-multi: ls succeeds" "$FERRY" ls "$f"
tap_is "$(ls_format)" oci "oci-multi: read as an OCI layout"
verify "$f"
tap_is "$V_RC" 0 "oci-multi: verify finds no problem"
if [ $have_skopeo = 1 ]; then
	tap_ok "oci-multi: skopeo finds the crane-style name" skopeo inspect "oci:$f:registry.example.com/crane/app:v2"
	tap_ok "oci-multi: skopeo finds the bare tag" skopeo inspect "oci:$f:v3"
	tap_ok "oci-multi: skopeo reads the nested index" skopeo inspect --override-arch arm64 "oci:$f:1.0"
	tap_is "$(jq -r .Architecture "$TAP_OUT" 2>/dev/null)" arm64 "oci-multi: skopeo picks the arm64 image"
else
	for i in 1 2 3 4; do tap_skip "oci-multi: skopeo check $i" "no skopeo"; done
fi
convert_both "$f" oci-multi
tap_is "$(ls_lines "$T/oci-multi-oci")" "$want" \
	"oci-multi -> OCI: same entries, names and digests (index and manifests kept)"
tap_is "$(jq -c '[.manifests[] | .annotations // {} | .["org.opencontainers.image.ref.name"] // "-"]' \
	"$T/oci-multi-oci/index.json" 2>/dev/null)" '["1.0","v2","v3","-"]' \
	"oci-multi -> OCI: ref.name carries the tag (or the bare tag), nothing for the unnamed"
tap_is "$(jq -c '[.manifests[] | .annotations // {} | .["io.containerd.image.name"] // "-"]' \
	"$T/oci-multi-oci/index.json" 2>/dev/null)" \
	'["docker.io/example/multi:1.0","registry.example.com/crane/app:v2","-","-"]' \
	"oci-multi -> OCI: io.containerd.image.name only where there is a repository"
tap_is "$(ls_lines "$T/oci-multi.tar" | cut -d' ' -f1,4,5)" \
	"docker.io/example/multi:1.0 linux/amd64,linux/arm64/v8 4
registry.example.com/crane/app:v2 linux/amd64 2
:v3 linux/amd64 2
 linux/amd64 2" "oci-multi -> docker archive: every entry and platform"
tap_is "$(da_manifest "$T/oci-multi.tar" | cut -d'|' -f1 | paste -sd/ -)" \
	"example/multi:1.0//registry.example.com/crane/app:v2//" \
	"oci-multi -> docker archive: manifest.json has 5 images, tags only where there is a repository"
tap_ok "oci-multi -> docker archive, linux/arm64 only" \
	"$FERRY" convert -q --platform linux/arm64 --image example/multi:1.0 "$f" "$T/multi-arm64.tar"
tap_is "$(ls_lines "$T/multi-arm64.tar" | cut -d' ' -f1,4,5)" "docker.io/example/multi:1.0 linux/arm64/v8 2" \
	"oci-multi -> docker archive, linux/arm64 only: one arm64/v8 image"

# ---- lying-mediatype/: a plain tar labelled tar+gzip ----
f=$D/lying-mediatype
want="docker.io/example/liar:1 $LIAR_MAN sha256:0e0e9be5b91926cb618103ff08c83006037c00883e2f883221b99f92633f6194 linux/amd64 2"
tap_is "$(ls_lines "$f")" "$want" "lying-mediatype: ls reads it"
verify "$f"
tap_is "$V_RC" 0 "lying-mediatype: verify warns only (exit 0): loaders that sniff read it"
tap_like "$(cat "$T/verify.out")" \
	"warning: .*layer $LIAR is labelled application/vnd.oci.image.layer.v1.tar\+gzip but its content is" \
	"lying-mediatype: verify names the mislabelled layer"
"$FERRY" verify --strict "$f" >"$T/verify.out" 2>&1
tap_is "$?" 3 "lying-mediatype: verify --strict reports a problem (exit 3)"
tap_like "$(cat "$T/verify.out")" "1 problem found" "lying-mediatype: verify --strict: and only that one"
tap_ok "lying-mediatype -> docker archive" "$FERRY" convert -q "$f" "$T/liar.tar"
verify "$T/liar.tar"
tap_is "$V_RC" 0 "lying-mediatype -> docker archive: the manifest is kept, mislabel and all (verify: a warning, exit 0)"
tap_is "$(da_manifest "$T/liar.tar")" "example/liar:1|$(blob $BASE_GZ) $(blob $LIAR)" \
	"lying-mediatype -> docker archive: layers kept as they are (the gzip one gzip, the plain one plain)"
tap_ok "lying-mediatype -> OCI" "$FERRY" convert -q "$f" "oci:$T/liar-oci"
tap_is "$(ls_lines "$T/liar-oci" | cut -d' ' -f2)" "$LIAR_MAN" \
	"lying-mediatype -> OCI: layers kept, so the manifest is kept byte for byte"
tap_ok "lying-mediatype -> OCI with --compress gzip" "$FERRY" convert -q --compress gzip "$f" "oci:$T/liar-gz"
verify "$T/liar-gz"
tap_is "$V_RC" 0 "lying-mediatype -> OCI gzip: verifies (the plain layer was compressed, not passed on)"
tap_is "$(oci_layer_types "$T/liar-gz" 0)" "application/vnd.oci.image.layer.v1.tar+gzip" \
	"lying-mediatype -> OCI gzip: every layer labelled tar+gzip"

tap_done
