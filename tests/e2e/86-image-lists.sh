#!/bin/bash
# Image lists: ferry convert / push --images-from LIST, against private
# docker-registry instances (tests/lib/registry.sh) in plain (http) and token
# modes, checked with the registry's own access log, skopeo and jq.
#
#  - 30 images in 5 repositories sharing layers, from a plain list into one
#    archive: every image, with its registry digest; each blob GET once
#  - skopeo sync YAML: images-by-tag-regex and images-by-semver select the
#    right tags; credentials from the YAML (token mode); an unsupported key is
#    refused by name
#  - --lock, then the tag moves: the lock file given as LIST pins the old digest
#  - --keep-going past a missing image: the rest copied, the failure listed, exit 1
#  - kill -9 in the middle of a list pull into a layout (a blob stalled by
#    tests/servers/fault-proxy.py), run again: only the missing blobs are fetched
#  - --platform twice: a multi-platform index rewritten to hold only the kept
#    platforms (new digest, a warning), or kept byte for byte when all are kept
#  - push --images-from LIST docker://OTHER: registry to registry, one run,
#    repositories sharing blobs (the MANIFEST_BLOB_UNKNOWN race)
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"
# shellcheck source=tests/lib/proxy.sh
. "$repo/tests/lib/proxy.sh"

export XDG_CACHE_HOME=$TAP_TMP/cache
export DOCKER_CONFIG=$TAP_TMP/docker-config
mkdir -p "$DOCKER_CONFIG"

reg_dirs=()
cleanup_registry() {
	local d
	proxy_stop_all
	[ -n "${bg_pid:-}" ] && kill -9 "$bg_pid" 2>/dev/null
	for d in "${reg_dirs[@]}"; do
		registry_stop "$d"
	done
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_registry; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! tap_ok "tools: docker-registry skopeo jq python3" need_tool docker-registry skopeo jq python3; then
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi

GEN=$repo/tests/e2e/list_images.py
REPOS=5 TAGS=6 # 30 images
S=$TAP_TMP/src MOVED=$TAP_TMP/moved BIGL=$TAP_TMP/big
if ! { python3 "$GEN" "$S" "$REPOS" "$TAGS" && python3 "$GEN" "$MOVED" --moved && python3 "$GEN" "$BIGL" --big; }; then
	tap_ok "test images generated" false
	tap_done
fi

# "NAME DIGEST" of every image of an OCI layout (from its index.json), the names moved to $1.
layout_map() {
	jq -r --arg a "$1" '.manifests[] | "\(.annotations["io.containerd.image.name"] | sub("^docker.io"; $a)) \(.digest)"' \
		"$2/index.json" | LC_ALL=C sort
}
# Every blob digest (config and layers) the layout's manifests name, sorted, unique.
layout_blobs() {
	local m
	for m in $(jq -r '.manifests[].digest | sub("sha256:"; "")' "$1/index.json"); do
		jq -r '.config.digest, .layers[].digest' "$1/blobs/sha256/$m"
	done | LC_ALL=C sort -u
}

log_lines() { wc -l <"$1/registry.log"; }
# "COUNT HEX" for every blob GET since line $2 of the registry's log.
blob_gets() {
	tail -n "+$(($2 + 1))" "$1/registry.log" | grep -oE '"GET /v2/[^ "]*/blobs/sha256:[0-9a-f]{64} ' |
		grep -oE '[0-9a-f]{64}' | LC_ALL=C sort | uniq -c
}
# Make sure the registry has logged every request so far: ask for one more, wait for it.
sync_n=0
log_sync() {
	local dir=$1 i
	sync_n=$((sync_n + 1))
	"$FERRY" ls "${FO[@]}" "docker://$A/log-sync/s:n$sync_n" >/dev/null 2>&1
	for ((i = 0; i < 100; i++)); do
		grep -q "/v2/log-sync/s/manifests/n$sync_n " "$dir/registry.log" && return 0
		sleep 0.05
	done
	return 1
}

SRC_BLOBS=$(layout_blobs "$S")
tap_is "$(printf '%s\n' "$SRC_BLOBS" | wc -l)" $((1 + REPOS + 2 * REPOS * TAGS)) \
	"the 30 test images share a base layer and a layer per repository"

# ---- one registry mode ---------------------------------------------------------------
mode_suite() {
	local mode=$1 dir=$TAP_TMP/reg-$1 n0
	reg_dirs+=("$dir")
	mkdir "$TAP_TMP/$mode" && cd "$TAP_TMP/$mode" || return 1
	tap_ok "$mode: registry starts" registry_start "$mode" "$dir" || return 1
	A=$FERRY_REG_ADDR
	FO=() YCREDS=""
	if [ "$mode" = token ]; then
		FO=(--creds "$FERRY_REG_USER:$FERRY_REG_PASS")
		YCREDS="  credentials: {username: \"$FERRY_REG_USER\", password: \"$FERRY_REG_PASS\"}"
	fi
	tap_ok "$mode: the 30 images pushed" "$FERRY" push -q "${FO[@]}" --registry "$A" "$S"

	# -- a plain list of 30 images in 5 repositories, into one archive
	want=$(layout_map "$A" "$S")
	{
		echo "# every test image"
		printf '%s\n' "$want" | while read -r n _; do echo "$n   # $n"; done
		echo "$A/list/r0:1.0.0" # listed twice: copied once
	} >all.list
	n0=$(log_lines "$dir")
	tap_ok "$mode: convert --images-from all.list all.tar" "$FERRY" convert -q "${FO[@]}" --images-from all.list all.tar
	tap_is "$(ferry_map all.tar digest)" "$want" "$mode: all.tar holds the 30 images, each with its registry digest"
	tap_ok "$mode: all.tar verifies" "$FERRY" verify all.tar
	log_sync "$dir"
	gets=$(blob_gets "$dir" "$n0")
	tap_is "$(printf '%s\n' "$gets" | awk '{print "sha256:" $2}')" "$SRC_BLOBS" \
		"$mode: every blob of the 30 images fetched"
	tap_is "$(printf '%s\n' "$gets" | awk '$1 != 1' | xargs)" "" \
		"$mode: each blob fetched once, the shared ones included (registry log)"

	# -- skopeo sync YAML: regex and semver
	cat >sel.yaml <<-EOF
		$A:
		  tls-verify: false
		$YCREDS
		  images:
		    list/r4: ["1.0.0"]
		  images-by-tag-regex:
		    list/r1: ^1\.[0-9]+\.[0-9]+\$
		  images-by-semver:
		    list/r2: ">= 1.2, < 3"
		    list/r3: ^3
	EOF
	tap_ok "$mode: convert --images-from sel.yaml (regex, semver${YCREDS:+, credentials from the YAML})" \
		"$FERRY" convert -q --images-from sel.yaml oci:sel
	tap_is "$(ferry_names sel)" \
		"$(printf "$A/list/%s\n" r1:1.0.0 r1:1.10.1 r1:1.2.0 r2:1.10.1 r2:1.2.0 r2:2.0.0 r3:v3.0.0 r4:1.0.0 | LC_ALL=C sort | xargs)" \
		"$mode: the regex and the semver range select the right tags (no pre-release, no 2.x for ^1)"
	printf '%s:\n  images-by-digest:\n    list/r0: [x]\n' "$A" >bad.yaml
	tap_fails "$mode: an unsupported YAML key is refused" "$FERRY" convert --images-from bad.yaml oci:bad
	tap_like "$(cat "$TAP_OUT")" 'unsupported key "images-by-digest"' "$mode: ... naming the key"

	# -- --lock, the tag moves, the lock pins
	printf '%s\n' "$A/list/r0:1.0.0" "$A/list/r1:2.0.0" >lockme.list
	old=$(printf '%s\n' "$want" | awk -v n="$A/list/r0:1.0.0" '$1 == n {print $2}')
	tap_ok "$mode: convert --images-from lockme.list --lock lock.txt" \
		"$FERRY" convert -q "${FO[@]}" --images-from lockme.list --lock lock.txt first.tar
	tap_is "$(grep -v '^#' lock.txt | LC_ALL=C sort)" \
		"$(printf '%s\n' "$A/list/r0:1.0.0@$old" "$A/list/r1:2.0.0@$(printf '%s\n' "$want" | awk -v n="$A/list/r1:2.0.0" '$1 == n {print $2}')" | LC_ALL=C sort)" \
		"$mode: the lock file holds each tag with the digest copied"
	"$FERRY" push -q "${FO[@]}" --registry "$A" "$MOVED"
	new=$(layout_map "$A" "$MOVED" | awk '{print $2}')
	tap_ok "$mode: the tag moved, and the lock file given as LIST" \
		"$FERRY" convert -q "${FO[@]}" --images-from lock.txt pinned.tar
	tap_is "$(ferry_field pinned.tar "$A/list/r0:1.0.0" digest)" "$old" \
		"$mode: the lock pins the digest the tag had (not $new)"
	"$FERRY" convert -q "${FO[@]}" --images-from lockme.list moved.tar
	tap_is "$(ferry_field moved.tar "$A/list/r0:1.0.0" digest)" "$new" "$mode: while the list itself follows the tag"
	"$FERRY" push -q "${FO[@]}" --registry "$A" --image "docker.io/list/r0:1.0.0" "$S" # move it back

	# -- --keep-going
	printf '%s\n' "$A/list/r0:1.2.0" "$A/list/nope:1" "$A/list/r4:1.0.0" >gaps.list
	tap_fails "$mode: a missing image fails the list without --keep-going" \
		"$FERRY" convert -q "${FO[@]}" --images-from gaps.list gaps.tar
	tap_ok "$mode: ... and leaves no archive" test ! -e gaps.tar
	"$FERRY" convert -q "${FO[@]}" --keep-going --images-from gaps.list gaps.tar 2>gaps.err
	tap_is "$?" 1 "$mode: --keep-going past it: exit 1"
	tap_like "$(tail -n 2 gaps.err)" "1 image of the list failed:.*$A/list/nope:1" "$mode: ... the failure listed at the end"
	tap_is "$(ferry_names gaps.tar)" "$A/list/r0:1.2.0 $A/list/r4:1.0.0" "$mode: ... and the rest copied"
	cd "$TAP_TMP" || return 1
}

mode_suite http
HTTP_A=$A HTTP_DIR=$TAP_TMP/reg-http HTTP_WANT=$want
mode_suite token
cp http/all.list all.list
want=$HTTP_WANT

# ---- kill -9 and resume (http) ---------------------------------------------------------
A=$HTTP_A FO=()
export FERRY_REG_ADDR=$HTTP_A
"$FERRY" push -q --registry "$A" "$BIGL"
BIGM=$BIGL/blobs/sha256/$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$BIGL/index.json")
BIG=$(jq -r '.layers[0].digest' "$BIGM")
if tap_ok "resume: a proxy that stalls the 2 MiB blob once" proxy_start stall stall-blob --min-body 1000000 --times 1; then
	P=$PROXY_ADDR
	{ sed -n "s|^$A/|$P/|p" all.list; echo "$P/list/big:1"; } >via-proxy.list
	"$FERRY" convert -q --images-from via-proxy.list oci:resume 2>/dev/null &
	bg_pid=$!
	stalled() { [ -f "resume/blobs/sha256/${BIG#sha256:}" ] && return 1; grep -q "${BIG#sha256:}" "$PROXY_LOG"; }
	for ((i = 0; i < 200; i++)); do stalled && break; sleep 0.1; done
	sleep 0.5 # let the other lane write what it can
	kill -9 "$bg_pid"
	wait "$bg_pid" 2>/dev/null
	bg_pid=
	have=$(find resume/blobs/sha256 -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' -printf 'sha256:%f\n' | LC_ALL=C sort)
	tap_like "$(printf '%s\n' "$have" | grep -c .)" '^[1-9]' "resume: killed mid-way with some blobs in the layout"
	tap_is "$(printf '%s\n' "$have" | grep -c "$BIG")" 0 "resume: ... but not the stalled one"
	n0=$(log_lines "$HTTP_DIR")
	tap_ok "resume: the same list again" "$FERRY" convert -q --images-from via-proxy.list oci:resume
	log_sync "$HTTP_DIR"
	all=$( { printf '%s\n' "$SRC_BLOBS"; jq -r '.layers[].digest, .config.digest' "$BIGM"; } | LC_ALL=C sort -u)
	absent=$(LC_ALL=C comm -23 <(printf '%s\n' "$all") <(printf '%s\n' "$have"))
	tap_is "$(blob_gets "$HTTP_DIR" "$n0" | awk '{print "sha256:" $2}')" "$absent" \
		"resume: only the blobs the killed run had not written are fetched"
	tap_is "$(ferry_names resume | wc -w)" 31 "resume: the layout holds all 31 images"
	tap_ok "resume: and verifies" "$FERRY" verify resume
	proxy_stop
fi

# ---- --platform, repeated (http) ---------------------------------------------------------
MULTI=$FERRY_FIXTURES/dialects/oci-multi
MULTI_DIGEST=$(jq -r '.manifests[] | select(.annotations["io.containerd.image.name"] == "docker.io/example/multi:1.0") | .digest' \
	"$MULTI/index.json")
if tap_ok "platform: the two-platform index pushed" \
	"$FERRY" push -q --image docker.io/example/multi:1.0 "$MULTI" "docker://$A/multi/app:1.0"; then
	echo "$A/multi/app:1.0" >multi.list
	"$FERRY" convert --progress plain --images-from multi.list --platform linux/amd64 --platform linux/s390x \
		oci:plat1 >/dev/null 2>plat1.err
	tap_is "$?" 0 "platform: --platform linux/amd64 --platform linux/s390x"
	top=$(jq -r '.manifests[0].digest' plat1/index.json)
	tap_like "$top" '^sha256:' "platform: ... writes one entry"
	tap_ok "platform: ... an index, rewritten: a new digest" test "$top" != "$MULTI_DIGEST"
	tap_is "$(jq -r '[.manifests[].platform.architecture] | join(" ")' "plat1/blobs/sha256/${top#sha256:}")" amd64 \
		"platform: ... holding only the amd64 manifest"
	tap_like "$(cat plat1.err)" "rewritten to hold only linux/amd64.*digest changes" "platform: ... and ferry says so"
	tap_ok "platform: ... and every manifest it names is there (verify)" "$FERRY" verify plat1
	"$FERRY" convert -q --images-from multi.list --platform linux/amd64 --platform linux/arm64 oci:plat2
	tap_is "$(jq -r '.manifests[0].digest' plat2/index.json)" "$MULTI_DIGEST" \
		"platform: both platforms kept: the index keeps its bytes and digest"
fi

# ---- push --images-from: registry to registry ---------------------------------------------
reg_dirs+=("$TAP_TMP/reg-dest")
if tap_ok "push: a second registry starts" registry_start http "$TAP_TMP/reg-dest"; then
	B=$FERRY_REG_ADDR
	tap_ok "push --images-from all.list docker://$B: 30 images, 5 repositories sharing blobs, one run" \
		"$FERRY" push -q --images-from all.list "docker://$B"
	got=$(for r in list/r0:1.0.0 list/r2:2.1.0-rc.1 list/r4:v3.0.0; do
		echo "$B/$r sha256:$(skopeo inspect --raw --tls-verify=false "docker://$B/$r" | sha256sum | cut -d' ' -f1)"
	done)
	tap_is "$got" "$(printf '%s\n' "$want" | grep -E "/list/(r0:1\.0\.0|r2:2\.1\.0-rc\.1|r4:v3\.0\.0) " | sed "s|^$HTTP_A/|$B/|")" \
		"push: the images arrive byte for byte (skopeo)"
	tap_ok "push: every image of the destination verifies" "$FERRY" convert -q --images-from <(sed "s|^$HTTP_A/|$B/|" all.list) oci:back
	tap_is "$(layout_map "$B" "$S" | sed "s|^$B/||")" "$(ferry_map back digest | sed "s|^$B/||")" "push: ... with the same digests"
fi
tap_done
