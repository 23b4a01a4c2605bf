#!/bin/bash
# Reading: ferry ls / verify / convert on what real tools write.
#  a) fixtures/sample.tar (docker 20.10 save, legacy layout, symlinked layer)
#  b) a fresh `docker save` of several images from the private dockerd
#  c) skopeo-made docker-archive, oci:DIR:TAG (bare tags), oci-archive, and
#     an OCI layout with zstd layers
#  d) docker-archives compressed as a whole (gzip, zstd, xz, bzip2), from a
#     file and from a pipe; '-' as destination (stdout)
# shellcheck disable=SC2016 # single-quoted scripts for bash -c, on purpose
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

# read_checks LABEL LOC NAMES-REGEX FACTS: ls, verify and convert LOC to an
# OCI layout and a docker-archive; both must hold exactly FACTS.
read_checks() {
	local label=$1 loc=$2 names_re=$3 facts=$4 out
	out=out-$(echo "$label" | tr -c 'a-zA-Z0-9\n' -)
	tap_ok "$label: precondition: expected configs and diff_ids are known" facts_sane "$facts" ||
		tap_diag "$facts"
	tap_ok "$label: ferry ls" "$FERRY" ls "$loc"
	tap_like "$(ferry_names "$loc")" "$names_re" "$label: ferry ls --json names"
	tap_ok "$label: ferry verify" "$FERRY" verify "$loc"
	tap_ok "$label: convert to an OCI layout" "$FERRY" convert -q "$loc" "$out-oci/"
	tap_is "$(image_facts "$out-oci")" "$facts" "$label: OCI copy has the same configs and diff_ids"
	tap_ok "$label: convert to a docker-archive" "$FERRY" convert -q "$loc" "$out.tar"
	tap_is "$(image_facts "$out.tar")" "$facts" "$label: docker-archive copy has the same configs and diff_ids"
}

all_names_re="^${SAMPLE_NAMES//./\\.}\$"

# ---- a) the fixture --------------------------------------------------------
read_checks "sample.tar" "$SAMPLE" "$all_names_re" "$SAMPLE_FACTS"
tap_is "$(ferry_map "$SAMPLE" config | xargs)" \
	"docker.io/example/app:13 $ID_APP docker.io/example/base:1.0 $ID_BASE docker.io/example/tool:2.1 $ID_TOOL" \
	"sample.tar: ferry ls reports each image's ID as its config digest"
tap_is "$(ferry_map "$SAMPLE" layers | xargs)" \
	"docker.io/example/app:13 2 docker.io/example/base:1.0 1 docker.io/example/tool:2.1 3" \
	"sample.tar: layer counts 2, 1, 3"
tap_is "$("$FERRY" ls --json "$SAMPLE" 2>/dev/null | jq -r .format)" docker-archive \
	"sample.tar: recognised as docker-archive"

# ---- b) a fresh docker save -----------------------------------------------------
tap_ok "docker: daemon emptied" docker_reset
tap_ok "docker: load sample.tar" docker load -i "$SAMPLE"
mkdir -p imp && printf 'imported by docker\n' >imp/hello.txt && tar cf imp.tar -C imp hello.txt
tap_ok "docker: import a one-layer image" \
	docker import -c 'CMD ["cat","/hello.txt"]' imp.tar example/imported:0.1
id_imp=$(docker_id example/imported:0.1)
tap_like "$id_imp" '^sha256:[0-9a-f]{64}$' "docker: the imported image has an ID"
tap_ok "docker: save 3 images" \
	docker save -o dsave.tar example/app:13 example/imported:0.1 example/tool:2.1
tap_is "$(image_facts dsave.tar | wc -l)" 3 "docker save: precondition: 3 configs and all layers check out"
read_checks "docker save" dsave.tar \
	'^docker\.io/example/app:13 docker\.io/example/imported:0\.1 docker\.io/example/tool:2\.1$' \
	"$(image_facts dsave.tar)"
tap_is "$(ferry_field dsave.tar docker.io/example/imported:0.1 config)" "$id_imp" \
	"docker save: the imported image's config digest is its docker image ID"
tap_is "$(ferry_field dsave.tar docker.io/example/app:13 config)" "$ID_APP" \
	"docker save: example/app:13 keeps its image ID"
check_docker_load "docker save -> docker-archive" out-docker-save.tar \
	"example/app:13=$ID_APP" "example/imported:0.1=$id_imp" "example/tool:2.1=$ID_TOOL"

# ---- c) skopeo-made inputs -----------------------------------------------------
tap_ok "skopeo: copy example/tool:2.1 to a docker-archive" \
	skopeo copy -q "docker-archive:$SAMPLE:example/tool:2.1" docker-archive:sk-da.tar:example/tool:2.1
tool_facts=$(grep "^$ID_TOOL " <<<"$SAMPLE_FACTS")
tap_is "$(image_facts sk-da.tar)" "$tool_facts" "skopeo docker-archive: precondition: same image as the sample's"
read_checks "skopeo docker-archive" sk-da.tar '^docker\.io/example/tool:2\.1$' "$tool_facts"

tap_ok "skopeo: copy app and tool to oci:DIR:app13 / :tool21" \
	bash -c "skopeo copy -q docker-archive:$SAMPLE:example/app:13 oci:sk-oci:app13 &&
		skopeo copy -q docker-archive:$SAMPLE:example/tool:2.1 oci:sk-oci:tool21"
tap_is "$(oci_refs sk-oci)" "app13 tool21" "skopeo oci: precondition: bare tags app13 and tool21"
sk_oci_facts=$(image_facts sk-oci)
read_checks "skopeo oci" sk-oci '^:?app13 :?tool21$' "$sk_oci_facts"
tap_is "$(ferry_map sk-oci digest | cut -d' ' -f2 | LC_ALL=C sort | xargs)" \
	"$(jq -r '.manifests[].digest' sk-oci/index.json | LC_ALL=C sort | xargs)" \
	"skopeo oci: ferry ls reports index.json's manifest digests"
tap_is "$(grep -c "$L_BASE" <<<"$sk_oci_facts")" 2 "skopeo oci: both images keep the base diff_id"

tap_ok "skopeo: copy example/app:13 to oci-archive:" \
	skopeo copy -q "docker-archive:$SAMPLE:example/app:13" oci-archive:sk-oa.tar:app13
read_checks "skopeo oci-archive" sk-oa.tar '^:?app13$' "$(image_facts sk-oa.tar)"
tap_is "$(image_facts sk-oa.tar | cut -d' ' -f2)" "$L_BASE,$L_APP" "skopeo oci-archive: diff_ids as in the sample"
tap_is "$("$FERRY" ls --json sk-oa.tar 2>/dev/null | jq -r .format)" oci-archive \
	"skopeo oci-archive: recognised as oci-archive"

tap_ok "skopeo: copy example/tool:2.1 to oci: with zstd layers" \
	skopeo copy -q --dest-compress-format zstd "docker-archive:$SAMPLE:example/tool:2.1" oci:sk-zst:tool21
m=$(oci_digest_of sk-zst tool21)
tap_is "$(jq -r '.layers[].mediaType' "sk-zst/blobs/sha256/${m#sha256:}" 2>/dev/null | sort -u)" \
	application/vnd.oci.image.layer.v1.tar+zstd "skopeo zstd: precondition: layers are tar+zstd"
zst_facts=$(image_facts sk-zst)
tap_is "$(cut -d' ' -f2 <<<"$zst_facts")" "$L_BASE,$L_TOOL,$L_TOOLV" "skopeo zstd: diff_ids as in the sample"
read_checks "skopeo zstd" sk-zst '^:?tool21$' "$zst_facts"
tap_ok "skopeo zstd: convert to docker-archive with --repository" \
	"$FERRY" convert -q --repository example/zst sk-zst zst.tar
check_docker_load "skopeo zstd -> docker-archive" zst.tar "example/zst:tool21=${zst_facts%% *}"

# ---- d) archives compressed as a whole -------------------------------------------
for c in gzip zstd xz bzip2; do
	$c -c "$SAMPLE" >"sample.tar.$c"
	tap_is "$(ferry_names "sample.tar.$c")" "$SAMPLE_NAMES" "$c: ferry ls reads the file"
	tap_ok "$c: ferry verify reads the file" "$FERRY" verify "sample.tar.$c"
	tap_ok "$c: convert from the file" "$FERRY" convert -q "sample.tar.$c" "from-file-$c/"
	tap_is "$(image_facts "from-file-$c")" "$SAMPLE_FACTS" "$c: converted from the file, same images"
	tap_ok "$c: convert from a pipe (SRC -)" \
		bash -o pipefail -c 'cat "$1" | "$FERRY" convert -q - "$2"' _ "sample.tar.$c" "from-pipe-$c/"
	tap_is "$(image_facts "from-pipe-$c")" "$SAMPLE_FACTS" "$c: converted from a pipe, same images"
	tap_is "$(bash -c 'cat "$1" | "$FERRY" ls --json - | jq -r ".images[].names[]" | LC_ALL=C sort | xargs' _ "sample.tar.$c" 2>/dev/null)" \
		"$SAMPLE_NAMES" "$c: ferry ls - reads a pipe"
done

# (no -q: progress must go to stderr, never into the archive on stdout)
tap_ok "stdout: ferry convert sample.tar - > x.tar" \
	bash -c '"$FERRY" convert "$1" - >"$2"' _ "$SAMPLE" to-stdout.tar
tap_is "$(image_facts to-stdout.tar)" "$SAMPLE_FACTS" "stdout: a docker-archive with the same images"
# shellcheck disable=SC2046
check_docker_load "stdout" to-stdout.tar $(sample_ids)
tap_ok "pipe to pipe: zstd-compressed archive on stdin, '-' as destination" \
	bash -o pipefail -c 'cat "$1" | "$FERRY" convert - - >"$2"' _ sample.tar.zstd pipe-pipe.tar
tap_is "$(image_facts pipe-pipe.tar)" "$SAMPLE_FACTS" "pipe to pipe: same images"
tap_is "$(ferry_names pipe-pipe.tar)" "$SAMPLE_NAMES" "pipe to pipe: same names"

tap_done
