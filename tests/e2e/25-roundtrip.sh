#!/bin/bash
# Round trips keep digests; recompressed output is reproducible; shared
# layers are stored once.
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

# ---- docker-archive -> OCI -> docker-archive -> OCI ---------------------------
tap_ok "rt: sample.tar -> OCI 1" "$FERRY" convert -q "$SAMPLE" rt-oci1/
tap_ok "rt: OCI 1 -> docker-archive" "$FERRY" convert -q rt-oci1 rt-da.tar
tap_ok "rt: docker-archive -> OCI 2" "$FERRY" convert -q rt-da.tar rt-oci2/
tap_ok "rt: OCI 2 -> docker-archive 2" "$FERRY" convert -q rt-oci2 rt-da2.tar

d1=$(ferry_map rt-oci1 digest)
tap_is "$(grep -c ' sha256:[0-9a-f]\{64\}$' <<<"$d1")" 3 "rt: OCI 1 has 3 named manifests"
tap_is "$(ferry_map rt-oci2 digest)" "$d1" "rt: ferry ls --json: OCI 2 has OCI 1's manifest digests"
tap_is "$(ferry_map rt-da.tar digest)" "$d1" "rt: ferry ls --json: the docker-archive has OCI 1's manifest digests"
tap_is "$(ferry_map rt-da2.tar digest)" "$d1" "rt: ferry ls --json: docker-archive 2 too"
tap_is "$(jq -r '.manifests[].digest' rt-oci2/index.json 2>/dev/null | LC_ALL=C sort | xargs)" \
	"$(jq -r '.manifests[].digest' rt-oci1/index.json 2>/dev/null | LC_ALL=C sort | xargs)" \
	"rt: index.json of OCI 1 and 2 list the same manifests"
tap_is "$(tree_sums rt-oci2/blobs)" "$(tree_sums rt-oci1/blobs)" "rt: OCI 1 and 2 have byte-identical blobs"
for loc in rt-oci1 rt-da.tar rt-oci2 rt-da2.tar; do
	tap_is "$(ferry_map "$loc" config | xargs)" \
		"docker.io/example/app:13 $ID_APP docker.io/example/base:1.0 $ID_BASE docker.io/example/tool:2.1 $ID_TOOL" \
		"rt: $loc: ferry ls reports the sample's config digests"
	tap_is "$(image_facts "$loc")" "$SAMPLE_FACTS" "rt: $loc: configs and diff_ids as in the sample"
done
# shellcheck disable=SC2046
check_docker_load "rt: docker-archive 2" rt-da2.tar $(sample_ids)

# ---- OCI (gzip, skopeo) -> docker-archive -> OCI -----------------------------------
skopeo copy -q "docker-archive:$SAMPLE:example/app:13" oci:sk:app13 >/dev/null 2>&1
skopeo copy -q "docker-archive:$SAMPLE:example/tool:2.1" oci:sk:tool21 >/dev/null 2>&1
m=$(oci_digest_of sk app13)
tap_is "$(jq -r '.layers[].mediaType' "sk/blobs/sha256/${m#sha256:}" 2>/dev/null | sort -u)" \
	application/vnd.oci.image.layer.v1.tar+gzip "skrt: precondition: skopeo wrote gzip layers"
sk_facts=$(image_facts sk)
tap_ok "skrt: precondition: skopeo's configs and diff_ids are readable" facts_sane "$sk_facts"
tap_ok "skrt: skopeo OCI -> docker-archive" "$FERRY" convert -q --repository example/sk sk skrt.tar
tap_is "$(image_facts skrt.tar)" "$sk_facts" "skrt: docker-archive keeps config digests and diff_ids"
tap_ok "skrt: docker-archive -> OCI" "$FERRY" convert -q skrt.tar skrt-oci/
tap_is "$(image_facts skrt-oci)" "$sk_facts" "skrt: OCI again keeps config digests and diff_ids"
tap_is "$(ferry_map skrt-oci config | xargs)" \
	"docker.io/example/sk:app13 $(grep -F ",$L_APP" <<<"$sk_facts" | cut -d' ' -f1) docker.io/example/sk:tool21 $(grep -F ",$L_TOOLV" <<<"$sk_facts" | cut -d' ' -f1)" \
	"skrt: each name keeps its own config"
tap_ok "skrt: ferry verify the final OCI layout" "$FERRY" verify skrt-oci
check_oci_tools "skrt" skrt-oci app13 app/app.conf 'workers = 2'

# ---- reproducible output -----------------------------------------------------------
for c in gzip zstd; do
	tap_ok "repro $c: run 1" "$FERRY" convert -q --compress "$c" "$SAMPLE" "repro-$c-1/"
	tap_ok "repro $c: run 2" "$FERRY" convert -q --compress "$c" "$SAMPLE" "repro-$c-2/"
	sums=$(tree_sums "repro-$c-1")
	tap_is "$(wc -l <<<"$sums")" 12 "repro $c: 10 blobs + index.json + oci-layout"
	tap_is "$(tree_sums "repro-$c-2")" "$sums" "repro $c: both runs are byte-identical"
	m=$(oci_digest_of "repro-$c-1" 2.1)
	tap_is "$(jq -r '.layers[].mediaType' "repro-$c-1/blobs/sha256/${m#sha256:}" 2>/dev/null | sort -u)" \
		"application/vnd.oci.image.layer.v1.tar+$c" "repro $c: layers are tar+$c"
	tap_is "$(image_facts "repro-$c-1")" "$SAMPLE_FACTS" "repro $c: same configs and diff_ids"
	tap_ok "repro $c: ferry verify" "$FERRY" verify "repro-$c-1"
	tap_ok "repro $c: skopeo inspect oci:2.1" skopeo inspect "oci:repro-$c-1:2.1"
	tap_is "$(jq -r .Digest "$TAP_OUT" 2>/dev/null)" "$m" "repro $c: skopeo sees 2.1's digest"
	tap_ok "repro $c: skopeo copy oci:13 dir:" skopeo copy -q "oci:repro-$c-1:13" "dir:repro-$c-dir"
	# Every layer skopeo copied decompresses to one of the sample's diff_ids.
	got=$(for f in "repro-$c-dir"/*; do
		[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = 28b52ffd ] && zstd -dc "$f" | sha && continue
		[ "$(head -c 2 "$f" | od -An -tx1 | tr -d ' \n')" = 1f8b ] && gzip -dc "$f" | sha
	done | LC_ALL=C sort | xargs)
	tap_is "$got" "$(printf '%s\n' "${L_BASE#sha256:}" "${L_APP#sha256:}" | LC_ALL=C sort | xargs)" \
		"repro $c: skopeo's copies of the $c layers decompress to the diff_ids"
done
check_oci_tools "repro gzip" repro-gzip-1 13 app/app.conf 'workers = 2'
tap_ok "repro: docker-archive run 1" "$FERRY" convert -q "$SAMPLE" repro-1.tar
tap_ok "repro: docker-archive run 2" "$FERRY" convert -q "$SAMPLE" repro-2.tar
tap_is "$(sha repro-2.tar)" "$(sha repro-1.tar)" "repro: docker-archive runs are byte-identical"
tap_ok "repro: oci-archive run 1" "$FERRY" convert -q --format oci-archive --compress gzip "$SAMPLE" repro-1.oci.tar
tap_ok "repro: oci-archive run 2" "$FERRY" convert -q --format oci-archive --compress gzip "$SAMPLE" repro-2.oci.tar
tap_is "$(sha repro-2.oci.tar)" "$(sha repro-1.oci.tar)" "repro: oci-archive runs are byte-identical"
# gzip layers -> all-uncompressed docker-archive decompresses two layers at
# once; they still reach the archive in one order, whatever finishes first.
for i in 1 2 3 4; do
	"$FERRY" convert -q --compress none repro-gzip-1 "repro-unzip-$i.tar" || tap_diag "repro unzip run $i failed"
done
tap_is "$(for i in 1 2 3 4; do sha "repro-unzip-$i.tar"; done | sort -u | wc -l)" 1 \
	"repro: gzip OCI -> docker-archive, four runs, byte-identical"
tap_ok "repro: ... and it verifies" "$FERRY" verify repro-unzip-1.tar

# ---- two lanes: a big layer first, small ones after ------------------------------
# While one lane decompresses the big layer, the other finishes the small ones
# and parks them (spooled) until their turn.  The archive must still be the
# one a single lane writes (FERRY_LANES_TEST=1), byte for byte, run after run;
# and when the big layer cannot be written, that is the error, with nothing
# left behind, whatever is parked.  (--compress none: a docker-archive keeps
# gzip layers as they are otherwise, and there is nothing to decompress.)
python3 "$_tap_repo/tests/e2e/lanes_inputs.py" oci lanes-oci lanes-big ||
	tap_diag "lanes: cannot make the input layout"
tap_ok "lanes: one lane (FERRY_LANES_TEST=1)" \
	env FERRY_LANES_TEST=1 "$FERRY" convert -q --compress none --repository lanes/img lanes-oci lanes-1.tar
for i in 1 2 3; do
	"$FERRY" convert -q --compress none --repository lanes/img lanes-oci "lanes-2-$i.tar" || tap_diag "lanes: two-lane run $i failed"
done
tap_is "$(for i in 1 2 3; do sha "lanes-2-$i.tar"; done | sort -u | xargs)" "$(sha lanes-1.tar)" \
	"lanes: three two-lane runs are byte-identical to the one-lane run"
tap_ok "lanes: ... and the archive verifies" "$FERRY" verify lanes-2-1.tar
tap_is "$(tar tf lanes-2-1.tar | grep -c '^blobs/sha256/.')" 9 "lanes: 7 layers, a config and a manifest in the archive"
# The big layer's spool (about 32 MB) crosses a 16 MiB limit; the small ones do not.
mkdir -p lanes-fail
# shellcheck disable=SC2016 # expanded by the inner bash
rc=$(bash -c 'trap "" XFSZ; ulimit -f 16384; "$@" >lanes-fail/err 2>&1 </dev/null; echo $?' \
	_ "$FERRY" convert -q --compress none --repository lanes/img lanes-oci lanes-fail/out.tar)
tap_is "$rc" 1 "lanes: the big layer over the file size limit: exit 1"
# shellcheck disable=SC2016 # expanded by the inner bash
if ! tap_ok "lanes: one line, naming the big layer and the cause" \
	bash -c '[ "$(wc -l <lanes-fail/err)" = 1 ] && grep -qF "layer $1 " lanes-fail/err &&
		grep -qF "File too large" lanes-fail/err' _ "$(cat lanes-big)"; then
	tap_diag "stderr: $(cat lanes-fail/err)"
fi
tap_is "$(find lanes-fail -mindepth 1 -printf '%f\n' | xargs)" "err" "lanes: nothing left, no archive, no temporary file"

# The same layer to an OCI layout, decompressed: a directory takes the two
# lanes' blobs side by side, in whatever order they end.  Same layout as
# one lane writes; the same errors.
tap_ok "lanes, layout: one lane" \
	env FERRY_LANES_TEST=1 "$FERRY" convert -q --compress none lanes-oci lanes-dir-1/
tap_ok "lanes, layout: two lanes" "$FERRY" convert -q --compress none lanes-oci lanes-dir-2/
tap_is "$(tree_sums lanes-dir-2)" "$(tree_sums lanes-dir-1)" "lanes, layout: the same files, byte for byte"
tap_ok "lanes, layout: ... and it verifies" "$FERRY" verify lanes-dir-2
mkdir -p lanes-dir-fail
# shellcheck disable=SC2016 # expanded by the inner bash
rc=$(bash -c 'trap "" XFSZ; ulimit -f 16384; "$@" >lanes-dir-fail/err 2>&1 </dev/null; echo $?' \
	_ "$FERRY" convert -q --compress none lanes-oci lanes-dir-fail/out/)
tap_is "$rc" 1 "lanes, layout: the big layer over the file size limit: exit 1"
# shellcheck disable=SC2016 # expanded by the inner bash
if ! tap_ok "lanes, layout: one line, naming the destination and the cause" \
	bash -c '[ "$(wc -l <lanes-dir-fail/err)" = 1 ] && grep -qF "lanes-dir-fail/out" lanes-dir-fail/err &&
		grep -qF "File too large" lanes-dir-fail/err'; then
	tap_diag "stderr: $(cat lanes-dir-fail/err)"
fi
tap_is "$(find lanes-dir-fail -mindepth 1 -printf '%f\n' | xargs)" "err" \
	"lanes, layout: nothing left, no layout, no temporary directory"

# Two images whose layers hold the same bytes under two paths (a legacy
# docker save that did not link them): kept as they are, the two lanes may
# well write both at once.  One blob, counted once as written and once as
# a dedup, however the lanes met.
python3 "$_tap_repo/tests/e2e/lanes_inputs.py" twins lanes-dup.tar ||
	tap_diag "lanes: cannot make the input archive"
for n in 1 2; do
	env FERRY_LANES_TEST=$n "$FERRY" convert -q --json lanes-dup.tar "lanes-dup-$n/" >"lanes-dup-$n.json" ||
		tap_diag "lanes, same bytes twice: the run with $n lane(s) failed"
done
tap_is "$(jq -r '.blobs[].action' lanes-dup-2.json 2>/dev/null | sort | uniq -c | xargs)" \
	"$(jq -r '.blobs[].action' lanes-dup-1.json 2>/dev/null | sort | uniq -c | xargs)" \
	"lanes, same bytes twice: the blobs written and deduplicated are those of one lane"
tap_like "$(jq -r '.blobs[].action' lanes-dup-2.json 2>/dev/null | sort | uniq -c | xargs)" '1 dedup' \
	"lanes, same bytes twice: the second copy is a dedup"
tap_is "$(tree_sums lanes-dup-2)" "$(tree_sums lanes-dup-1)" "lanes, same bytes twice: the same layout"
tap_is "$(ferry_temp_files lanes-dup-2/blobs)" "" "lanes, same bytes twice: no temporary file left in blobs/"

# ---- shared layers stored once -------------------------------------------------------
base_hex=${L_BASE#sha256:}
tap_ok "dedupe: sample.tar (3 images on one base) -> OCI" "$FERRY" convert -q "$SAMPLE" dd-oci/
tap_is "$(find dd-oci/blobs/sha256 -type f -name "$base_hex" | wc -l)" 1 "dedupe: OCI: base layer blob exactly once"
tap_is "$(blob_count dd-oci)" 10 "dedupe: OCI: 10 blobs (3 manifests, 3 configs, 4 distinct layers)"
tap_is "$(for m in $(jq -r '.manifests[].digest' dd-oci/index.json); do
		jq -r '.layers[0].digest' "dd-oci/blobs/sha256/${m#sha256:}"; done | sort | uniq -c | awk '{print $1, $2}')" \
	"3 $L_BASE" "dedupe: OCI: all 3 manifests point at the one base blob"
tap_ok "dedupe: OCI -> docker-archive" "$FERRY" convert -q dd-oci dd.tar
tap_is "$(tar tf dd.tar | grep -c "$base_hex")" 1 "dedupe: docker-archive lists the base layer once"
tap_is "$(tar xOf dd.tar manifest.json | jq -r '.[].Layers[0]' | sort | uniq -c | awk '{print $1}')" 3 \
	"dedupe: docker-archive: the 3 images' first layer is the same path"
tap_ok "dedupe: sample.tar -> oci-archive, gzip" "$FERRY" convert -q --format oci-archive --compress gzip "$SAMPLE" dd-oa.tar
tap_is "$(tar tf dd-oa.tar | grep -c 'blobs/sha256/.')" 10 "dedupe: oci-archive, gzip: 10 blobs"
tap_is "$(tar tf dd-oa.tar | sort | uniq -d | wc -l)" 0 "dedupe: oci-archive: no entry twice"
tap_is "$(tar tf repro-1.tar | sort | uniq -d | wc -l)" 0 "dedupe: docker-archive: no entry twice"
tap_is "$(blob_count repro-gzip-1)" 10 "dedupe: OCI gzip: the gzip base layer is written once"

tap_done
