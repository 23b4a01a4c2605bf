#!/bin/bash
# Deltas (issue 13 §1-3): ferry inventory of a layout, an archive, a registry
# repository and a whole registry (catalog); inventories merge; convert --have
# leaves out what the far side has and lists it in index.json; a
# docker-archive delta is refused; the delta completes with --base into a
# layout, by push into a registry that has the base and by push --base into
# an empty one; a blob missing everywhere fails before anything is written;
# verify with and without --base; skopeo and umoci accept the completed result.
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"

export XDG_CACHE_HOME=$TAP_TMP/cache
export DOCKER_CONFIG=$TAP_TMP/docker-config
mkdir -p "$DOCKER_CONFIG"
reg_dir=$TAP_TMP/reg
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "registry_stop '$reg_dir'; $prev_trap" EXIT

SRC=$FERRY_FIXTURES/dialects/docker25.tar
T=$TAP_TMP
WEB=docker.io/example/web:1.0
WORKER=docker.io/example/worker:2
J=$TAP_TMP/out.json
json_run() {	# json_run CMD...: stdout (one JSON document) to $J
	"$@" >"$J"
}

# Site B has web:1.0; site A has web:1.0 and worker:2 (which shares web's base layer).
tap_ok "site A: the full layout" "$FERRY" convert -q "$SRC" "oci:$T/full"
tap_ok "site B: a layout of web only" "$FERRY" convert -q --image "$WEB" "$SRC" "oci:$T/base"
tap_ok "site B: an archive of web only" "$FERRY" convert -q --image "$WEB" "$SRC" "oci-archive:$T/base.tar"

# ---- inventory ------------------------------------------------------------------
want_layers=$(jq -r '.manifests[].digest' "$T/base/index.json" | while read -r m; do
	jq -r '.layers[].digest, .config.digest' "$T/base/blobs/sha256/${m#sha256:}"; done | sort -u)
tap_ok "inventory of a layout" "$FERRY" inventory "$T/base" -o "$T/inv-layout.json"
tap_is "$(jq -r '.blobs[].digest' "$T/inv-layout.json" | sort -u)" "$want_layers" \
	"the layout's inventory lists its config and layers"
tap_is "$(jq -r '.manifests[].names[]' "$T/inv-layout.json")" "$WEB" "the layout's inventory names its image"
tap_is "$(jq -r .ferryInventory "$T/inv-layout.json")" "1" "the inventory says its version"
# No layer byte is read: the inventory of a layout whose layers are gone is the same.
cp -r "$T/base" "$T/base-nolayers"
for l in $(jq -r '.manifests[].digest' "$T/base/index.json" | while read -r m; do
	jq -r '.layers[].digest' "$T/base/blobs/sha256/${m#sha256:}"; done); do
	rm -f "$T/base-nolayers/blobs/sha256/${l#sha256:}"
done
tap_ok "inventory of a layout without its layer files" "$FERRY" inventory "$T/base-nolayers" -o "$T/inv-nolayers.json"
tap_ok "is the same: no layer was read" cmp "$T/inv-nolayers.json" "$T/inv-layout.json"
tap_ok "inventory of an archive" "$FERRY" inventory "$T/base.tar" -o "$T/inv-archive.json"
tap_is "$(jq -cS . "$T/inv-archive.json")" "$(jq -cS . "$T/inv-layout.json")" \
	"the archive's inventory is the layout's"
tap_ok "inventory is deterministic" cmp "$T/inv-layout.json" "$T/inv-archive.json"
tap_ok "inventories merge" "$FERRY" inventory "$T/inv-layout.json" "$T/full" -o "$T/inv-merged.json"
tap_is "$(jq -r '.manifests[].names[]' "$T/inv-merged.json" | sort | tr '\n' ' ')" "$WEB $WORKER " \
	"the merged inventory names both images"
echo '{"ferryInventory": 1, "blobs": [{"digest": "sha256:zz", "size": 1}]}' >"$T/bad.json"
tap_fails "a hostile inventory (bad digest) is refused" "$FERRY" inventory "$T/bad.json"

# ---- delta ----------------------------------------------------------------------
tap_ok "convert --have makes a delta" json_run "$FERRY" convert --json --have "$T/inv-layout.json" "$T/full" "oci:$T/delta"
tap_ok "convert --json is in the schema" python3 "$repo/tests/e2e/json_check.py" convert "$J"
left=$(jq -r '.blobs[] | select(.action == "left-out") | .digest' "$J" | sort -u)
shared=$(comm -12 <(echo "$want_layers") <(jq -r '.manifests[].digest' "$T/full/index.json" | while read -r m; do
	jq -r '.layers[].digest' "$T/full/blobs/sha256/${m#sha256:}"; done | sort -u))
tap_is "$left" "$shared" "the layers site B has are left out"
tap_is "$(jq -r '.annotations["io.ferry.delta.expected"]' "$T/delta/index.json" | tr ',' '\n' | cut -d= -f1)" \
	"$shared" "index.json lists what the delta expects"
full_size=$(du -sb "$T/full" | cut -f1)
delta_size=$(du -sb "$T/delta" | cut -f1)
tap_ok "the delta is smaller ($delta_size < $full_size)" test "$delta_size" -lt "$full_size"
tap_ok "ls shows the expected blobs" "$FERRY" ls "$T/delta"
tap_like "$(cat "$TAP_OUT")" "expected $(echo "$shared" | head -n1)" "ls names an expected blob"
tap_ok "ls --json" json_run "$FERRY" ls --json "$T/delta"
tap_ok "ls --json is in the schema" python3 "$repo/tests/e2e/json_check.py" ls "$J"
tap_is "$(jq -r '.expected[].digest' "$J")" "$shared" "ls --json lists the expected blobs"
tap_ok "inspect --json" json_run "$FERRY" inspect --json "$T/delta" "$WORKER"
tap_ok "inspect --json is in the schema" python3 "$repo/tests/e2e/json_check.py" inspect "$J"
tap_fails "a docker-archive delta is refused" "$FERRY" convert --have "$T/inv-layout.json" "$T/full" "docker-archive:$T/d.tar"
tap_like "$(cat "$TAP_OUT")" "docker load cannot take a partial archive" "the refusal says why"
tap_ok "no docker-archive was written" test ! -e "$T/d.tar"
tap_ok "a delta as an OCI archive, with a location as --have" \
	"$FERRY" convert -q --have "$T/base.tar" "$T/full" "oci-archive:$T/delta.tar"

# ---- a delta in signed volumes: its transfer manifest lists what it expects --------
openssl genpkey -algorithm ED25519 -out "$T/site-a.pem" 2>/dev/null
openssl pkey -in "$T/site-a.pem" -pubout -out "$T/site-a.pub" 2>/dev/null
tap_ok "a delta cut into volumes and signed" \
	"$FERRY" convert -q --have "$T/inv-layout.json" --split 1M --sign-key "$T/site-a.pem" "$T/full" "oci-archive:$T/dvol.tar"
tap_is "$(jq -r '.expects[].digest' "$T/dvol.tar.transfer.json" 2>&1 | sort)" "$shared" \
	"the transfer manifest's expects are the blobs the delta left out"
tap_is "$(jq -r '.expects[] | "\(.digest)=\(.size)"' "$T/dvol.tar.transfer.json" 2>&1 | sort | paste -sd, -)" \
	"$(jq -r '.annotations["io.ferry.delta.expected"]' "$T/delta/index.json" | tr ',' '\n' | sort | paste -sd, -)" \
	"...with the sizes its index.json gives"
tap_ok "verify --key of the signed delta set" "$FERRY" verify --key "$T/site-a.pub" "$T/dvol.tar"

# ---- a delta retagged in place stays a delta ---------------------------------------
cp -r "$T/delta" "$T/delta-tag"
tap_ok "tag in a delta" "$FERRY" tag "$T/delta-tag" "$WEB" docker.io/example/web:latest
tap_is "$(jq -r '.annotations["io.ferry.delta.expected"]' "$T/delta-tag/index.json")" \
	"$(jq -r '.annotations["io.ferry.delta.expected"]' "$T/delta/index.json")" "it keeps its expectations"

# ---- verify ---------------------------------------------------------------------
tap_ok "verify of a delta: expected blobs are not problems" json_run "$FERRY" verify --json "$T/delta"
tap_ok "verify --json is in the schema" python3 "$repo/tests/e2e/json_check.py" verify "$J"
tap_is "$(jq '.expected | length' "$J")" "$(echo "$shared" | wc -l)" "verify reports them as expected"
tap_ok "verify --base checks the whole" json_run "$FERRY" verify --json --base "$T/base" "$T/delta"
tap_is "$(jq '.expected | length' "$J")" "0" "with --base nothing is merely expected"
cp -r "$T/base" "$T/base-bad"
b=$(echo "$shared" | head -n1)
chmod u+w "$T/base-bad/blobs/sha256/${b#sha256:}"
printf 'x' >>"$T/base-bad/blobs/sha256/${b#sha256:}"
tap_fails "verify --base with a damaged base finds it" "$FERRY" verify --base "$T/base-bad" "$T/delta"

cp -r "$T/delta" "$T/delta-filled"
cp "$T/base/blobs/sha256/"* "$T/delta-filled/blobs/sha256/"
tap_ok "a delta whose blobs were copied in verifies them" json_run "$FERRY" verify --json "$T/delta-filled"
tap_is "$(jq '.expected | length' "$J")" "0" "nothing is merely expected once the blobs are there"

# ---- completing -----------------------------------------------------------------
tap_fails "a delta into an empty layout without a base is refused" "$FERRY" convert "$T/delta" "oci:$T/out-none"
tap_like "$(cat "$TAP_OUT")" "$WORKER needs $(echo "$shared" | head -n1)" "the refusal says which image needs which blob"
tap_is "$("$FERRY" convert -q "$T/delta" "oci:$T/out-none" >/dev/null 2>&1; echo $?)" "5" "it exits 5 (not found)"
tap_ok "and writes nothing" test ! -e "$T/out-none"
tap_ok "--base completes the delta into a layout" "$FERRY" convert -q --base "$T/base" "$T/delta" "oci:$T/out"
tap_ok "the completed layout verifies" "$FERRY" verify "$T/out"
tap_is "$(image_facts "$T/out")" "$(image_facts "$T/full")" "the completed layout holds site A's images"
check_oci_tools "completed" "$T/out" 2 "" ""
tap_ok "an OCI-archive delta completes too" "$FERRY" convert -q --base "$T/base.tar" \
	"$T/delta.tar" "oci:$T/out-archive"
tap_ok "a delta into a layout that has the base completes" cp -r "$T/base" "$T/dest-layout"
tap_ok "(convert)" "$FERRY" convert -q "$T/delta" "oci:$T/dest-layout"
tap_ok "that layout verifies" "$FERRY" verify "$T/dest-layout"

# ---- registries -----------------------------------------------------------------
if ! tap_ok "tools: docker-registry skopeo" need_tool docker-registry skopeo; then
	tap_done
fi
# A registry gzips plain layers: site A's layers are gzip here, so B's registry keeps their digests.
# ---- a legacy docker save (Docker 20.10): its layers are known by their configs' diff_ids ----
LEGACY=$FERRY_FIXTURES/sample.tar
tap_ok "inventory of a legacy docker save" "$FERRY" inventory "$LEGACY" -o "$T/inv-legacy.json"
diff_ids=$(tar -xOf "$LEGACY" manifest.json | jq -r '.[].Config' | while read -r c; do
	tar -xOf "$LEGACY" "$c" | jq -r '.rootfs.diff_ids[]'; done | sort -u)
tap_is "$(jq -r '.blobs[].digest' "$T/inv-legacy.json" | grep -xF "$diff_ids" | sort -u)" "$diff_ids" \
	"it lists every layer, by its diff_id"
tap_ok "a delta of it against itself" "$FERRY" convert -q --have "$T/inv-legacy.json" "$LEGACY" "oci:$T/delta-legacy"
tap_is "$(jq -r '.annotations["io.ferry.delta.expected"]' "$T/delta-legacy/index.json" | tr ',' '\n' |
	sed 's/=.*//' | sort)" "$diff_ids" "it leaves out every layer, named by diff_id"
tap_ok "completed with the legacy archive as --base" "$FERRY" convert -q --base "$LEGACY" "$T/delta-legacy" \
	"oci:$T/legacy-done"
tap_ok "the completed layout verifies" "$FERRY" verify -q "$T/legacy-done"
tap_ok "a direct conversion, for comparison" "$FERRY" convert -q "$LEGACY" "oci:$T/legacy-direct"
tap_is "$(jq -cS .manifests "$T/legacy-done/index.json")" "$(jq -cS .manifests "$T/legacy-direct/index.json")" \
	"completed, it has the manifests a direct conversion has"

tap_ok "site A, gzip layers" "$FERRY" convert -q --compress gzip "$SRC" "oci:$T/full-gz"
tap_ok "site B, gzip layers" "$FERRY" convert -q --image "$WEB" "$T/full-gz" "oci:$T/base-gz"
if tap_ok "registry starts" registry_start http "$reg_dir"; then
	A=$FERRY_REG_ADDR
	tap_ok "site B's registry gets web" "$FERRY" push -q --registry "$A" "$T/base-gz"
	tap_ok "inventory of a repository (every tag)" "$FERRY" inventory "docker://$A/example/web" -o "$T/inv-repo.json"
	tap_is "$(jq -r '.manifests[].names[]' "$T/inv-repo.json")" "$A/example/web:1.0" "the repository's inventory names its tag"
	tap_ok "inventory of the whole registry (catalog)" "$FERRY" inventory "docker://$A" -o "$T/inv-reg.json"
	tap_ok "inventory of the layout" "$FERRY" inventory "$T/base-gz" -o "$T/inv-gz.json"
	tap_is "$(jq -r '.blobs[].digest' "$T/inv-reg.json")" "$(jq -r '.blobs[].digest' "$T/inv-gz.json")" \
		"the registry's inventory lists the blobs the layout has"
	tap_ok "a delta against the registry's inventory" "$FERRY" convert -q --have "$T/inv-reg.json" "$T/full-gz" "oci:$T/delta-reg"
	tap_ok "it leaves blobs out" test "$(jq -r '.annotations["io.ferry.delta.expected"]' "$T/delta-reg/index.json")" != null
	if tap_ok "an empty registry starts" registry_start http "$reg_dir-empty"; then
		E=$FERRY_REG_ADDR
		tap_fails "a delta pushed into an empty registry is refused" "$FERRY" push -q --registry "$E" "$T/delta-reg"
		tap_like "$(cat "$TAP_OUT")" "needs sha256:" "the refusal names the missing blobs"
		tap_is "$(curl -s "http://$E/v2/_catalog" | jq -c .repositories)" "[]" "and nothing was pushed"
		tap_ok "push --base completes it into the empty registry" \
			"$FERRY" push -q --base "$T/base-gz" --registry "$E" "$T/delta-reg"
		tap_ok "skopeo inspects an image completed from the base" \
			skopeo inspect --tls-verify=false "docker://$E/example/web:1.0"
		registry_stop "$reg_dir-empty"
	fi
	tap_ok "push of the delta into the registry that has the base" "$FERRY" push -q --registry "$A" "$T/delta-reg"
	tap_ok "skopeo inspects the completed image" skopeo inspect --tls-verify=false "docker://$A/example/worker:2"
	tap_ok "ferry pulls it back" "$FERRY" convert -q "docker://$A/example/worker:2" "oci:$T/pulled"
	tap_ok "and it verifies" "$FERRY" verify "$T/pulled"
fi
tap_done
