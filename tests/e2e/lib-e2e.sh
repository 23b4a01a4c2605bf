#!/bin/bash
# shellcheck shell=bash
# Helpers shared by the tests/e2e/[1-4]*.sh scripts. Source it instead of
# tests/lib/tap.sh (it sources that); it then cd's into $TAP_TMP.
#
# What tests compare is computed here from the files themselves (jq,
# sha256sum, tar), not from ferry's own opinion of them, so a ferry that
# writes the wrong thing and reads it back consistently still fails.

# shellcheck disable=SC2034 # variables here are used by the scripts that source it
# shellcheck source=tests/lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

SAMPLE=$FERRY_FIXTURES/sample.tar

# What fixtures/sample.tar holds (see fixtures/README.md): image IDs
# (config digests) and the layers' diff_ids, fixed since the fixture was made.
ID_BASE=sha256:5903f26fa5d8cf0bf9ebf7348a05457a3f47a0dbd543d970c2e16058a7549045
ID_APP=sha256:8befa585efbe0a9772fc5c9cb0d6c535e0302b6a097623fd640b80e93cbf4c5e
ID_TOOL=sha256:76c01a1165a4f346efe43c4fb04d5530f3f5ed6a11489b685383aa5063669e9c
L_BASE=sha256:34e67471b1e0e573054a9d4bf8a7b4d036ee70fc92430b7c91d9cf9563b972a9
L_APP=sha256:86e47294ae439aaae202db9dd745ac2764666931b378c3592e0855591aa54d04
L_TOOL=sha256:978c1c4d96afb86636fe17662a831dba0d9a8c73296637ea6298c372eb8cc972
L_TOOLV=sha256:3b072f899edc4bf67512694eb3fae9e53c7176b7f80ce9755b4a62737b050faf
SAMPLE_TAGS="example/app:13 example/base:1.0 example/tool:2.1"
SAMPLE_NAMES="docker.io/example/app:13 docker.io/example/base:1.0 docker.io/example/tool:2.1"
# image_facts output for the sample: "CONFIG DIFF_ID,..." sorted.
SAMPLE_FACTS=$(printf '%s\n' \
	"$ID_APP $L_BASE,$L_APP" \
	"$ID_BASE $L_BASE" \
	"$ID_TOOL $L_BASE,$L_TOOL,$L_TOOLV" | LC_ALL=C sort)

cd "$TAP_TMP" || exit 1

# Every script gets its own blob-info cache and docker config: nothing of the
# user's, nor of another script, is read or written.
export XDG_CACHE_HOME=$TAP_TMP/cache DOCKER_CONFIG=$TAP_TMP/docker-config
mkdir -p "$DOCKER_CONFIG"

# sha256 hex of a file (or stdin with no argument).
sha() {
	sha256sum "$@" | cut -d' ' -f1
}

# tree_sums DIR: "sha256  ./path" for every file under DIR, sorted.
tree_sums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# ---- what ferry says ----------------------------------------------------

# ferry_names LOC: all names ferry ls --json reports, sorted, one line.
ferry_names() {
	"$FERRY" ls --json "$1" 2>/dev/null | jq -r '.images[].names[]' 2>/dev/null |
		LC_ALL=C sort | xargs
}

# ferry_map LOC FIELD: "NAME VALUE" per name (FIELD: digest, config,
# layers, mediaType), sorted, one per line.
ferry_map() {
	"$FERRY" ls --json "$1" 2>/dev/null |
		jq -r --arg f "$2" '.images[] | .[$f] as $v | .names[] | "\(.) \($v)"' 2>/dev/null |
		LC_ALL=C sort
}

# ferry_field LOC NAME FIELD: FIELD of the image called NAME.
ferry_field() {
	"$FERRY" ls --json "$1" 2>/dev/null |
		jq -r --arg n "$2" --arg f "$3" \
			'[.images[] | select(.names | index($n))][0][$f] // empty' 2>/dev/null
}

# ---- what the files say --------------------------------------------------

# _facts_oci DIR: facts of every manifest in an OCI layout's index.json
# (following nested indexes). Checks each config blob hashes to its digest.
_facts_oci() {
	local dir=$1 d m
	_oci_manifests "$dir" "$dir/index.json" | while read -r m; do
		d=$(jq -r '.config.digest' "$dir/blobs/sha256/${m#sha256:}")
		_facts_config "$d" "$dir/blobs/sha256/${d#sha256:}"
	done
}

_oci_manifests() {	# DIR INDEXFILE: manifest digests, depth first
	local dir=$1 mt dg
	jq -r '.manifests[] | "\(.mediaType) \(.digest)"' "$2" | while read -r mt dg; do
		case $mt in
		*index*|*manifest.list*)
			_oci_manifests "$dir" "$dir/blobs/sha256/${dg#sha256:}" ;;
		*)
			echo "$dg" ;;
		esac
	done
}

# _facts_config DIGEST FILE: "DIGEST diffid,diffid" or a BAD line.
_facts_config() {
	if [ "sha256:$(sha "$2")" != "$1" ]; then
		echo "BAD-CONFIG $1"
		return
	fi
	echo "$1 $(jq -r '.rootfs.diff_ids | join(",")' "$2")"
}

# plain_sha FILE: sha256 hex of FILE's content uncompressed (gzip and zstd
# found by their magic bytes, as docker load does; anything else as it is).
plain_sha() {
	case $(head -c 4 "$1" | od -An -tx1 | tr -d ' \n') in
	1f8b*) gzip -dc "$1" | sha ;;
	28b52ffd) zstd -qdc "$1" | sha ;;
	*) sha "$1" ;;
	esac
}

# _facts_docker DIR: facts of an extracted docker-save tarball. Checks
# each layer file, uncompressed, hashes to its diff_id.
_facts_docker() {
	local dir=$1 n i cfg d ids
	n=$(jq length "$dir/manifest.json")
	for ((i = 0; i < n; i++)); do
		cfg=$dir/$(jq -r ".[$i].Config" "$dir/manifest.json")
		d=sha256:$(sha "$cfg")
		_facts_config "$d" "$cfg"
		ids=$(jq -r '.rootfs.diff_ids[]' "$cfg")
		paste -d' ' <(echo "$ids") <(jq -r ".[$i].Layers[]" "$dir/manifest.json") |
			while read -r id path; do
				[ "sha256:$(plain_sha "$dir/$path")" = "$id" ] ||
					echo "BAD-LAYER $path"
			done
	done
}

# image_facts LOC: "CONFIG_DIGEST DIFF_IDS" per image, sorted and unique,
# for an OCI layout, an OCI archive or a docker-save tarball (GNU tar
# undoes gzip/zstd/xz/bzip2). Name-independent, so any two formats compare.
image_facts() {
	local loc=$1 x
	if [ -d "$loc" ]; then
		_facts_oci "$loc"
	else
		x=$(mktemp -d "$TAP_TMP/.facts.XXXXXX")
		if tar xf "$loc" -C "$x" 2>/dev/null; then
			if [ -f "$x/manifest.json" ]; then
				_facts_docker "$x"
			else
				_facts_oci "$x"
			fi
		else
			echo "UNREADABLE $loc"
		fi
		rm -rf "$x"
	fi 2>&1 | LC_ALL=C sort -u
}

# facts_sane FACTS: non-empty, and every line a good "CONFIG DIFF_IDS" one.
facts_sane() {
	[ -n "$1" ] &&
		! grep -Evq '^sha256:[0-9a-f]{64} sha256:[0-9a-f]{64}(,sha256:[0-9a-f]{64})*$' <<<"$1"
}

# oci_refs DIR: every org.opencontainers.image.ref.name in index.json.
oci_refs() {
	jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' \
		"$1/index.json" 2>/dev/null | LC_ALL=C sort | xargs
}

# oci_digest_of DIR REFNAME: manifest digest for a ref.name.
oci_digest_of() {
	jq -r --arg r "$2" \
		'[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r)][0].digest // empty' \
		"$1/index.json" 2>/dev/null
}

# blob_count DIR: number of files under blobs/sha256.
blob_count() {
	find "$1/blobs/sha256" -type f 2>/dev/null | wc -l
}

# ---- what the real tools say ----------------------------------------------

# check_oci_tools LABEL DIR REF [FILE CONTENT-REGEX]: skopeo inspect (digest
# must match index.json), skopeo copy to dir:, umoci unpack; if FILE is
# given, the unpacked rootfs must have it, matching CONTENT-REGEX.
check_oci_tools() {
	local label=$1 dir=$2 ref=$3 file=${4:-} re=${5:-} want
	want=$(oci_digest_of "$dir" "$ref")
	if ! peers_checked_elsewhere "$label: skopeo"; then
		tap_ok "$label: skopeo inspect oci:$ref" skopeo inspect "oci:$dir:$ref"
		tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "${want:-no ref $ref}" \
			"$label: skopeo sees the digest index.json has for $ref"
		rm -rf "$TAP_TMP/.copy"
		tap_ok "$label: skopeo copy oci:$ref dir:" \
			skopeo copy -q "oci:$dir:$ref" "dir:$TAP_TMP/.copy"
	fi
	# umoci runs in both passes: callers read the unpacked bundle.
	rm -rf "$TAP_TMP/.copy" "$TAP_TMP/.bundle"
	tap_ok "$label: umoci unpack $ref" \
		umoci unpack --rootless --image "$dir:$ref" "$TAP_TMP/.bundle"
	if [ -n "$file" ]; then
		tap_like "$(cat "$TAP_TMP/.bundle/rootfs/$file" 2>&1)" "$re" \
			"$label: unpacked $ref has /$file"
	fi
}

# peers_checked_elsewhere LABEL: true (after one SKIP line) in the sanitizer
# pass, where a real peer's verdict on the same bytes was already taken in
# the first pass; ferry's own checks still run under ASan.
peers_checked_elsewhere() {
	[ -n "${FERRY_TEST_SAN:-}" ] || return 1
	tap_skip "$1" "real peers checked in the normal-build pass"
	return 0
}

# docker_reset: remove every image from the private dockerd, so a load
# has to bring its layers itself.
docker_reset() {
	local ids
	ids=$(docker images -aq | sort -u) || return 1
	# shellcheck disable=SC2086
	[ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1
	ids=$(docker images -aq) && [ -z "$ids" ]
}

# docker_id REF: the image ID docker has for REF (empty if none).
docker_id() {
	docker image inspect --format '{{.Id}}' "$1" 2>/dev/null
}

# docker_tags: every REPO:TAG docker has, sorted, one line.
docker_tags() {
	docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
		grep -v '<none>' | LC_ALL=C sort | xargs
}

# check_docker_load LABEL ARCHIVE TAG=ID...: empty the daemon, docker load
# ARCHIVE, then docker must have exactly these tags with these IDs.
check_docker_load() {
	local label=$1 archive=$2 pair want tags=()
	shift 2
	peers_checked_elsewhere "$label: docker load" && return 0
	tap_ok "$label: docker daemon emptied first" docker_reset
	tap_ok "$label: docker load" docker load -i "$archive"
	for pair in "$@"; do
		tags+=("${pair%%=*}")
		want=${pair#*=}
		# An empty expectation is a broken test, never a match.
		[[ $want == sha256:* ]] || want="(not a digest: '$want')"
		tap_is "$(docker_id "${pair%%=*}")" "$want" \
			"$label: docker has ${pair%%=*} with image ID $want"
	done
	tap_is "$(docker_tags)" "$(printf '%s\n' "${tags[@]}" | LC_ALL=C sort | xargs)" \
		"$label: docker has exactly the expected tags"
}

# sample_ids: TAG=ID arguments for check_docker_load for the whole sample.
sample_ids() {
	echo "example/app:13=$ID_APP example/base:1.0=$ID_BASE example/tool:2.1=$ID_TOOL"
}

# ---- making small images ----------------------------------------------------

# make_image LAYOUT TAG TEXT: add to an OCI layout (created if needed) a
# one-layer linux/amd64 image named TAG whose /extra/TAG.txt holds TEXT.
make_image() {
	local layout=$1 tag=$2 text=$3 b
	b=$(mktemp -d "$TAP_TMP/.bundle.XXXXXX") || return 1
	rmdir "$b"
	{
		[ -d "$layout" ] || umoci init --layout "$layout"
		umoci new --image "$layout:$tag" &&
		umoci unpack --rootless --image "$layout:$tag" "$b" &&
		mkdir -p "$b/rootfs/extra" &&
		printf '%s\n' "$text" >"$b/rootfs/extra/$tag.txt" &&
		umoci repack --image "$layout:$tag" "$b" &&
		umoci config --image "$layout:$tag" --os linux --architecture amd64 \
			--config.cmd cat --config.cmd "/extra/$tag.txt" &&
		umoci gc --layout "$layout"
	} >/dev/null 2>&1
	local rc=$?
	rm -rf "$b"
	return $rc
}

# no_temp_files DIR: nothing called .*.ferry-* (or *.ferry-tmp*) in DIR.
ferry_temp_files() {
	find "$1" -maxdepth 1 \( -name '.*ferry-*' -o -name '*.ferry-tmp*' \) -printf '%f\n' 2>/dev/null |
		LC_ALL=C sort | xargs
}

# ---- run directly: check the helpers themselves -----------------------------
# (tests/run-tests.sh runs every tests/e2e/*.sh, this file included; run as a
# program it checks that the constants above and the fact extraction agree
# with fixtures/sample.tar and with skopeo, without using ferry.)
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	tap_is "$(image_facts "$SAMPLE")" "$SAMPLE_FACTS" \
		"lib: image IDs and diff_ids of sample.tar are the ones the tests expect"
	tap_is "$(tar xOf "$SAMPLE" manifest.json | jq -r '.[].RepoTags[]' | LC_ALL=C sort | xargs)" \
		"$SAMPLE_TAGS" "lib: sample.tar has the tags the tests expect"
	skopeo copy -q "docker-archive:$SAMPLE:example/app:13" oci:lib-oci:app >/dev/null 2>&1
	skopeo copy -q "docker-archive:$SAMPLE:example/base:1.0" oci:lib-oci:base >/dev/null 2>&1
	tap_is "$(image_facts lib-oci | cut -d' ' -f2 | LC_ALL=C sort | xargs)" "$L_BASE $L_BASE,$L_APP" \
		"lib: image_facts reads the diff_ids of a skopeo-made OCI layout"
	tap_is "$(oci_refs lib-oci)" "app base" "lib: oci_refs lists ref.name annotations"
	tap_is "$(blob_count lib-oci)" 6 "lib: blob_count: 2 manifests, 2 configs, 2 layers (base shared)"
	cp -r lib-oci lib-bad
	cfg=$(jq -r .config.digest "lib-bad/blobs/sha256/$(oci_digest_of lib-bad app | cut -d: -f2)")
	echo ' ' >>"lib-bad/blobs/sha256/${cfg#sha256:}"
	tap_like "$(image_facts lib-bad)" "BAD-CONFIG $cfg" "lib: image_facts notices a config that does not match its digest"
	mkdir lib-da && tar xf "$SAMPLE" -C lib-da
	layer=$(jq -r '.[0].Layers[-1]' lib-da/manifest.json)
	printf 'X' | dd of="lib-da/$layer" bs=1 seek=700 conv=notrunc status=none
	(cd lib-da && tar cf ../lib-da.tar ./*)
	tap_like "$(image_facts lib-da.tar)" "BAD-LAYER $layer" \
		"lib: image_facts notices a docker-archive layer that does not match its diff_id"
	tap_ok "lib: make_image builds an image with umoci" make_image lib-made one "one"
	tap_is "$(oci_refs lib-made)" one "lib: the made image is tagged"
	tap_done
fi
