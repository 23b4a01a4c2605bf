#!/bin/bash
# Faithful across a docker-archive: manifest digests survive it.
#
#  - docker-archive output keeps gzip and plain layers as they are, so OCI
#    (gzip, made by skopeo and by umoci) -> docker-archive -> OCI, registry ->
#    docker-archive -> registry and multi-platform indexes come back with
#    byte-identical manifests; the archive's layer files are the source's
#    blobs, byte for byte
#  - those archives load in the private dockerd (image IDs and tags), load with
#    podman (a private store), skopeo copies out of them, ferry verifies them
#  - zstd layers are decompressed by default and ferry names each image whose
#    digest therefore changes; --keep-zstd keeps them (and the digests);
#    --compress none writes every layer uncompressed, --compress gzip every
#    layer gzip
#  - a gzip layer whose content is not its diff_id is refused for a
#    docker-archive (docker load would refuse it at the far end)
#  - empty archives and layouts are refused (exit 4, "holds no images")
#  - verify: a plain layer labelled tar+gzip (skopeo's
#    --dest-oci-accept-uncompressed-layers) is a warning, an error with --strict
#  - convert --json and push --json give each image's config digest
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"

MULTI=$FERRY_FIXTURES/dialects/oci-multi

reg_dir=
cleanup_registry() {
	[ -z "$reg_dir" ] || registry_stop "$reg_dir"
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_registry; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! tap_ok "tools: skopeo umoci jq zstd docker" need_tool skopeo umoci jq zstd docker; then
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi

# ---- what the files say -------------------------------------------------------------

# entries DIR: "DIGEST" of every index.json entry that is an image or an
# index, sorted, one line.
entries() {
	jq -r '.manifests[] | select(.mediaType | test("manifest|index")) | .digest' "$1/index.json" 2>/dev/null |
		LC_ALL=C sort | xargs
}

# all_manifests DIR: every manifest and index digest reachable from
# index.json (nested ones too), sorted, one line; each blob must hash to its
# name (else BAD-BLOB).
all_manifests() {
	local dir=$1
	_walk() {
		local f=$1 mt d
		jq -r '.manifests[] | "\(.mediaType) \(.digest)"' "$f" | while read -r mt d; do
			case $mt in
			*manifest* | *index*) ;;
			*) continue ;;
			esac
			if [ "sha256:$(sha "$dir/blobs/sha256/${d#sha256:}")" != "$d" ]; then
				echo "BAD-BLOB $d"
				continue
			fi
			echo "$d"
			case $mt in *index* | *manifest.list*) _walk "$dir/blobs/sha256/${d#sha256:}" ;; esac
		done
	}
	_walk "$dir/index.json" 2>&1 | LC_ALL=C sort -u | xargs
}

# layer_blobs DIR: every layer digest named by the image manifests reachable
# from index.json, sorted, one line.
layer_blobs() {
	local dir=$1 d
	for d in $(all_manifests "$dir"); do
		jq -r '.layers[]?.digest' "$dir/blobs/sha256/${d#sha256:}" 2>/dev/null
	done | LC_ALL=C sort -u | xargs
}

# archive_layers ARCHIVE: "sha256:HEX" of every layer file manifest.json
# names (the file's own bytes), sorted, one line.
archive_layers() {
	local x p
	x=$(mktemp -d "$TAP_TMP/.al.XXXXXX")
	tar xf "$1" -C "$x" 2>/dev/null
	jq -r '.[].Layers[]' "$x/manifest.json" 2>/dev/null | while read -r p; do
		echo "sha256:$(sha "$x/$p")"
	done | LC_ALL=C sort -u | xargs
	rm -rf "$x"
}

# archive_plain ARCHIVE: "ok" when every layer file manifest.json names
# hashes, as it is, to its image's diff_id (all uncompressed), else the
# first that does not.
archive_plain() {
	local x n i cfg
	x=$(mktemp -d "$TAP_TMP/.ap.XXXXXX")
	tar xf "$1" -C "$x" 2>/dev/null
	n=$(jq length "$x/manifest.json" 2>/dev/null) || n=0
	for ((i = 0; i < n; i++)); do
		cfg=$x/$(jq -r ".[$i].Config" "$x/manifest.json")
		paste -d' ' <(jq -r '.rootfs.diff_ids[]' "$cfg") <(jq -r ".[$i].Layers[]" "$x/manifest.json") |
			while read -r id p; do
				[ "sha256:$(sha "$x/$p")" = "$id" ] || echo "compressed: $p"
			done
	done | head -n 1 | grep . || echo ok
	rm -rf "$x"
}

# config_of DIR MANIFEST: the config digest a manifest of an OCI layout names.
config_of() {
	jq -r .config.digest "$1/blobs/sha256/${2#sha256:}" 2>/dev/null
}

short() { local r=${1#*/}; echo "${r%%:*}"; }	# example/app:13 -> app

# ---- podman, in a store of its own ----------------------------------------------------
have_podman=0
if command -v podman >/dev/null 2>&1; then
	have_podman=1
else
	tap_diag "podman is not installed (scripts/install-deps.sh test installs it)"
fi
pm_n=0
# pm ARGS: podman with a private store (vfs, like the private dockerd), no daemon.
pm() {
	TMPDIR=$TAP_TMP/pm/tmp podman --root "$TAP_TMP/pm/root$pm_n" --runroot "$TAP_TMP/pm/run$pm_n" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

# check_podman_load LABEL ARCHIVE TAG=ID...: podman load into an empty store;
# each TAG has that ID.  podman reads an archive holding one image through
# its OCI index (names as there: docker.io/...), one with several through
# manifest.json (names under localhost/).
check_podman_load() {
	local label=$1 archive=$2 pair got
	shift 2
	if [ $have_podman = 0 ]; then
		tap_skip "$label: podman load" "podman is not installed"
		return
	fi
	peers_checked_elsewhere "$label: podman load" && return
	pm_n=$((pm_n + 1))
	mkdir -p "$TAP_TMP/pm/tmp"
	tap_ok "$label: podman load" pm load -i "$archive"
	for pair in "$@"; do
		got=$(pm image inspect --format '{{.Id}}' "localhost/${pair%%=*}" 2>/dev/null ||
			pm image inspect --format '{{.Id}}' "docker.io/${pair%%=*}" 2>/dev/null)
		tap_is "sha256:$got" "${pair#*=}" "$label: podman has ${pair%%=*} with image ID ${pair#*=}"
	done
	rm -rf "$TAP_TMP/pm/root$pm_n" "$TAP_TMP/pm/run$pm_n"
}

# ==== sources made by real tools =====================================================
# skgz: the sample's three images copied by skopeo into an OCI layout, which
# gzips their layers (skopeo also rewrites each config: the image IDs are
# those configs' digests).
for t in app:13 base:1.0 tool:2.1; do
	skopeo copy -q "docker-archive:$SAMPLE:example/$t" "oci:skgz:docker.io/example/$t" >/dev/null 2>&1 ||
		tap_diag "skopeo copy example/$t failed"
done
ids=()
for t in app:13 base:1.0 tool:2.1; do
	m=$(oci_digest_of skgz "docker.io/example/$t")
	ids+=("example/$t=$(config_of skgz "$m")")
done
tap_is "$(jq -r '.manifests[].digest' skgz/index.json | while read -r m; do
	jq -r '.layers[].mediaType' "skgz/blobs/sha256/${m#sha256:}"; done | sort -u)" \
	application/vnd.oci.image.layer.v1.tar+gzip "sources: skopeo's layout has gzip layers"
# umoci: one image, gzip layers.
make_image umo faithful "made by umoci" || tap_diag "umoci could not make the image"

# ==== 1. OCI (gzip) -> docker-archive -> OCI ============================================
tap_ok "skopeo gzip OCI -> docker-archive" "$FERRY" convert -q skgz gz.tar
tap_is "$(archive_layers gz.tar)" "$(layer_blobs skgz)" \
	"docker-archive: its layer files are the source's gzip blobs, byte for byte"
tap_ok "docker-archive -> OCI" "$FERRY" convert -q gz.tar gz-back/
tap_is "$(all_manifests gz-back)" "$(all_manifests skgz)" \
	"OCI -> docker-archive -> OCI: the same manifests, byte for byte (digests kept)"
tap_is "$(ferry_map gz-back digest)" "$(ferry_map skgz digest)" "... and each name has its source digest"
tap_ok "docker-archive: ferry verify" "$FERRY" verify gz.tar
# shellcheck disable=SC2068 # one TAG=ID word each
check_docker_load "docker-archive with gzip layers" gz.tar ${ids[@]}
# shellcheck disable=SC2068
check_podman_load "docker-archive with gzip layers" gz.tar ${ids[@]}
tap_ok "docker-archive with gzip layers: skopeo copy example/tool:2.1 to oci:" \
	skopeo copy -q docker-archive:gz.tar:example/tool:2.1 oci:gz-sk:tool
tap_is "$(image_facts gz-sk | cut -d' ' -f2)" "$L_BASE,$L_TOOL,$L_TOOLV" \
	"docker-archive with gzip layers: skopeo reads the right diff_ids out"

tap_ok "umoci OCI -> docker-archive" "$FERRY" convert -q --repository example/umoci umo umo.tar
tap_ok "... -> OCI" "$FERRY" convert -q umo.tar umo-back/
tap_is "$(all_manifests umo-back)" "$(all_manifests umo)" "umoci OCI -> docker-archive -> OCI: manifest digests kept"
m=$(oci_digest_of umo faithful)
check_docker_load "docker-archive from umoci" umo.tar "example/umoci:faithful=$(config_of umo "$m")"
check_podman_load "docker-archive from umoci" umo.tar "example/umoci:faithful=$(config_of umo "$m")"
tap_ok "docker-archive from umoci: ferry verify" "$FERRY" verify umo.tar

# Multi-platform: the index and both of its manifests survive.
tap_ok "multi-platform OCI -> docker-archive" "$FERRY" convert -q --image example/multi:1.0 "$MULTI" multi.tar
tap_ok "... -> OCI" "$FERRY" convert -q multi.tar multi-back/
want_multi=$(jq -r '.manifests[] | select(.annotations["io.containerd.image.name"] == "docker.io/example/multi:1.0") | .digest' "$MULTI/index.json")
tap_is "$(entries multi-back)" "$want_multi" "multi-platform round trip: the index digest is kept"
tap_is "$(all_manifests multi-back)" "$(ONLY=$want_multi; jq -r '.manifests[].digest' "$MULTI/blobs/sha256/${ONLY#sha256:}" |
	cat - <(echo "$ONLY") | LC_ALL=C sort | xargs)" "multi-platform round trip: and both platforms' manifests"
tap_ok "multi-platform docker-archive: ferry verify" "$FERRY" verify multi.tar
tap_ok "multi-platform docker-archive: skopeo inspect" skopeo inspect docker-archive:multi.tar:example/multi:1.0

# ==== 2. zstd ======================================================================
for t in app:13 base:1.0 tool:2.1; do
	skopeo copy -q --dest-compress-format zstd "docker-archive:$SAMPLE:example/$t" \
		"oci:skzst:docker.io/example/$t" >/dev/null 2>&1 || tap_diag "skopeo zstd copy example/$t failed"
done
tap_ok "zstd OCI -> docker-archive (default)" "$FERRY" convert --progress plain skzst zst.tar
for t in app:13 base:1.0 tool:2.1; do
	tap_like "$(cat "$TAP_OUT")" "warning: docker.io/example/$t: zstd layers decompressed .*digest changes from $(oci_digest_of skzst "docker.io/example/$t")" \
		"zstd default: ferry names example/$t, whose digest changes"
done
tap_is "$(archive_plain zst.tar)" ok "zstd default: every layer file in the archive is uncompressed"
zids=()
for t in app:13 base:1.0 tool:2.1; do
	zids+=("example/$t=$(config_of skzst "$(oci_digest_of skzst "docker.io/example/$t")")")
done
# shellcheck disable=SC2068
check_docker_load "docker-archive from zstd" zst.tar ${zids[@]}
tap_ok "zstd, kept: --keep-zstd" "$FERRY" convert --progress plain --keep-zstd skzst zst-kept.tar
tap_like "$(cat "$TAP_OUT")" "warning: docker.io/example/app:13: has zstd layers, which Docker 20.10's docker load cannot read" \
	"--keep-zstd: ferry says which images older docker load cannot read"
tap_is "$(archive_layers zst-kept.tar)" "$(layer_blobs skzst)" "--keep-zstd: the layer files are the zstd blobs"
tap_ok "--keep-zstd: -> OCI" "$FERRY" convert -q zst-kept.tar zst-back/
tap_is "$(all_manifests zst-back)" "$(all_manifests skzst)" "--keep-zstd: manifest digests kept through the archive"
tap_ok "--keep-zstd: ferry verify" "$FERRY" verify zst-kept.tar
# shellcheck disable=SC2068
check_podman_load "docker-archive with zstd layers" zst-kept.tar ${zids[@]}
tap_ok "tag in place on an archive with zstd layers" "$FERRY" tag zst-kept.tar example/app:13 example/app:14
tap_is "$(archive_layers zst-kept.tar)" "$(layer_blobs skzst)" "tag in place: the zstd layers are left as they are"

# ==== 3. --compress ==================================================================
tap_ok "--compress none: gzip OCI -> all-uncompressed docker-archive" "$FERRY" convert -q --compress none skgz none.tar
tap_is "$(archive_plain none.tar)" ok "--compress none: every layer file is its uncompressed diff_id"
# shellcheck disable=SC2068
check_docker_load "--compress none" none.tar ${ids[@]}
tap_ok "--compress gzip: docker-archive with every layer gzip" "$FERRY" convert -q --compress gzip "$SAMPLE" regz.tar
tap_is "$(archive_plain regz.tar)" "compressed: $(tar xOf regz.tar manifest.json | jq -r '.[0].Layers[0]')" \
	"--compress gzip: the layers are compressed"
# shellcheck disable=SC2046
check_docker_load "--compress gzip" regz.tar $(sample_ids)

# ==== 4. a gzip layer that is not its diff_id ==========================================
# An OCI layout whose gzip layer is right by digest but whose config names
# another diff_id: OCI keeps it (nothing decompressed); a docker-archive,
# which docker load checks, is refused.
cp -r umo baddiff
m=$(oci_digest_of baddiff faithful)
c=$(config_of baddiff "$m")
jq -c '.rootfs.diff_ids[-1] = "sha256:'"$(printf '%064d' 0)"'"' "baddiff/blobs/sha256/${c#sha256:}" >cfg.new
nc=sha256:$(sha cfg.new)
mv cfg.new "baddiff/blobs/sha256/${nc#sha256:}"
jq -c --arg c "$nc" --argjson s "$(stat -c %s "baddiff/blobs/sha256/${nc#sha256:}")" \
	'.config.digest = $c | .config.size = $s' "baddiff/blobs/sha256/${m#sha256:}" >man.new
nm=sha256:$(sha man.new)
mv man.new "baddiff/blobs/sha256/${nm#sha256:}"
jq -c --arg m "$nm" --argjson s "$(stat -c %s "baddiff/blobs/sha256/${nm#sha256:}")" \
	'.manifests[0].digest = $m | .manifests[0].size = $s' baddiff/index.json >idx.new && mv idx.new baddiff/index.json
tap_ok "wrong diff_id: -> OCI keeps the layer as it is" "$FERRY" convert -q baddiff baddiff-oci/
tap_is "$("$FERRY" convert -q --repository x/y baddiff baddiff.tar >bd.err 2>&1; echo $?)" 3 \
	"wrong diff_id: -> docker-archive refused (exit 3)"
tap_like "$(cat bd.err)" "diff_id is sha256:0{64}" "wrong diff_id: the message names the diff_id"
tap_fails "wrong diff_id: no archive left" test -e baddiff.tar

# json_configs CMD FILE: in CMD's --json document FILE, each of skgz's images
# has the config digest its manifest names (the image ID).
json_configs() {
	local t m
	for t in app:13 base:1.0 tool:2.1; do
		m=$(oci_digest_of skgz "docker.io/example/$t")
		tap_is "$(jq -r --arg m "$m" '.images[] | select(.digest == $m) | .config' "$2")" \
			"$(config_of skgz "$m")" "$1 --json: $t has its config digest (the image ID)"
	done
}

# ==== 5. registry -> docker-archive -> registry ==========================================
if need_tool docker-registry && tap_ok "registry starts" registry_start http "$TAP_TMP/reg"; then
	reg_dir=$TAP_TMP/reg
	A=$FERRY_REG_ADDR
	tap_ok "registry: push skopeo's gzip layout" "$FERRY" push -q skgz "docker://$A/src"
	tap_ok "registry: push the multi-platform index" \
		"$FERRY" push -q --image example/multi:1.0 "$MULTI" "docker://$A/src"
	for t in example/app:13 example/multi:1.0; do
		f=reg-$(short "$t").tar
		tap_ok "registry: pull $t into a docker-archive" "$FERRY" convert -q "docker://$A/src/$t" "$f"
		tap_ok "registry: ... ferry verifies it" "$FERRY" verify "$f"
		tap_ok "registry: push that archive back under another prefix" "$FERRY" push -q "$f" "docker://$A/back"
		# (the archive's names are $A/src/...: pushed under back/, they become $A/back/$A/src/...)
		tap_ok "registry: skopeo inspect --raw back/$t" \
			skopeo inspect --raw --tls-verify=false "docker://$A/back/src/$t"
		back=sha256:$(sha "$TAP_OUT")
		skopeo inspect --raw --tls-verify=false "docker://$A/src/$t" >src.raw 2>/dev/null
		tap_is "$back" "sha256:$(sha src.raw)" \
			"registry -> docker-archive -> registry: $t has the same manifest bytes (digest)"
	done
	tap_is "$back" "$want_multi" "registry round trip: the multi-platform index is oci-multi's"
	check_docker_load "docker-archive pulled from the registry" reg-app.tar \
		"$A/src/example/app:13=${ids[0]#*=}"

	# push --json: every image's config digest beside its manifest digest.
	tap_ok "push --json" "$FERRY" push -q --json skgz "docker://$A/json"
	json_configs push "$TAP_OUT"
	tap_ok "push --json, a multi-platform index" \
		"$FERRY" push -q --json --image example/multi:1.0 "$MULTI" "docker://$A/json"
	tap_is "$(jq -c '[.images[] | .config]' "$TAP_OUT")" '[null]' "push --json: an index has no config (null)"
else
	tap_diag "registry: $(cat "$TAP_OUT" 2>/dev/null)"
fi

# ==== 6. convert --json: config digests ==================================================
tap_ok "convert --json" "$FERRY" convert -q --json skgz json.tar
json_configs convert "$TAP_OUT"

# ==== 7. empty archives =================================================================
mkdir -p empty-src
echo '[]' >empty-src/manifest.json
tar cf empty.tar -C empty-src manifest.json
mkdir -p empty-oci/blobs/sha256
echo '{"imageLayoutVersion":"1.0.0"}' >empty-oci/oci-layout
echo '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' >empty-oci/index.json
for src in empty.tar empty-oci; do
	for cmd in "convert -q $src empty-out.tar" "convert -q $src empty-out/" "verify $src" "push -q $src docker://127.0.0.1:9/x"; do
		# shellcheck disable=SC2086 # cmd is words
		rc=$("$FERRY" $cmd >empty.err 2>&1; echo $?)
		tap_is "$rc" 4 "empty $src: ferry ${cmd%% *} exits 4"
		tap_like "$(cat empty.err)" "^ferry: $src holds no images" "empty $src: ferry ${cmd%% *} says it holds no images"
	done
	tap_fails "empty $src: nothing written" test -e empty-out.tar -o -e empty-out
done

# ==== 8. verify: a plain layer labelled tar+gzip ========================================
skopeo copy -q --dest-oci-accept-uncompressed-layers "docker-archive:$SAMPLE:example/app:13" \
	oci:skplain:docker.io/example/app:13 >/dev/null 2>&1 || tap_diag "skopeo copy --dest-oci-accept-uncompressed-layers failed"
m=$(oci_digest_of skplain docker.io/example/app:13)
l=$(jq -r '.layers[0].digest' "skplain/blobs/sha256/${m#sha256:}")
tap_is "$(jq -r '.layers[0].mediaType' "skplain/blobs/sha256/${m#sha256:}") $(plain_sha "skplain/blobs/sha256/${l#sha256:}")" \
	"application/vnd.oci.image.layer.v1.tar+gzip ${l#sha256:}" \
	"skopeo --dest-oci-accept-uncompressed-layers: a plain layer labelled tar+gzip"
tap_ok "verify: mislabelled layers are a warning, exit 0" "$FERRY" verify skplain
tap_like "$(cat "$TAP_OUT")" "warning: .*layer $l is labelled application/vnd.oci.image.layer.v1.tar\+gzip but its content is an uncompressed tar" \
	"verify: the warning names the layer"
tap_is "$("$FERRY" verify --strict skplain >strict.err 2>&1; echo $?)" 3 "verify --strict: the same is an error (exit 3)"
tap_like "$(cat strict.err)" "layer $l is labelled .* but its content is an uncompressed tar" "verify --strict: names the layer"
tap_is "$("$FERRY" verify -q --json skplain 2>/dev/null | jq -c '[.ok, (.problems | length), (.warnings | length)]')" \
	"[true,0,2]" "verify --json: ok, no problems, two warnings (one per layer)"
tap_ok "mislabelled layout -> docker-archive" "$FERRY" convert -q skplain plain.tar
check_docker_load "docker-archive from a mislabelled layout" plain.tar "example/app:13=$(config_of skplain "$m")"

tap_done
