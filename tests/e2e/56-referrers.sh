#!/bin/bash
# Signatures, attestations, SBOMs and OCI 1.1 referrers travel with their
# images: cosign tag-schema signatures (tests/lib/cosign_sign.py, openssl)
# and OCI 1.1 artifacts (tests/lib/make_referrer.py, laid out as oras and as
# regctl lay them out) are selected with their image, recursively (a
# signature on an SBOM), kept byte for byte through OCI layouts, OCI
# archives and docker-archives, pushed to Debian's docker-registry (no
# referrers API: cosign tags and the sha256-<hex> tag-schema index) and to
# nothing else, pulled back (tag schema) and from `ferry serve` (referrers
# API), and still verify offline with `ferry verify --key`.  --no-referrers
# and --referrer-type choose; ls counts them, inspect lists them; skopeo
# copies the images out unharmed.
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"

SIGN=$repo/tests/lib/cosign_sign.py
REF=$repo/tests/lib/make_referrer.py
CHECK=$repo/tests/e2e/json_check.py
export XDG_CACHE_HOME=$TAP_TMP/cache
export DOCKER_CONFIG=$TAP_TMP/docker-config
mkdir -p "$DOCKER_CONFIG"

reg_dir=
serve_pid=
cleanup_56() {
	[ -n "$reg_dir" ] && registry_stop "$reg_dir"
	if [ -n "$serve_pid" ]; then
		kill "$serve_pid" 2>/dev/null
		wait "$serve_pid" 2>/dev/null
	fi
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_56; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! tap_ok "tools: openssl jq python3 skopeo docker-registry curl" need_tool openssl jq python3 skopeo docker-registry curl; then
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkey -in ec.pem -pubout -out ec.pub

# digest_of LAYOUT TAG: the manifest digest index.json gives TAG.
digest_of() {
	jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$t) | .digest' "$1/index.json"
}
# manifests LAYOUT: every manifest digest index.json lists, sorted.
manifests() {
	jq -r '.manifests[].digest' "$1/index.json" | LC_ALL=C sort -u | xargs
}
# refcount LOCATION NAME: ls --json's referrers count for the image NAME.
refcount() {
	"$FERRY" ls --json "$1" | jq -r --arg n "$2" '.images[] | select(.names | index($n)) | .referrers'
}
# types LOCATION REF: the artifactTypes inspect lists, sorted.
types() {
	"$FERRY" inspect --json "$1" "$2" | jq -r '.referrers[].artifactType' | LC_ALL=C sort | xargs
}

# ---- the source: gzip layers (what registries hold), signed and with referrers -----------
"$FERRY" convert -q --compress gzip "$SAMPLE" G/
APP=$(digest_of G 13)
BASE=$(digest_of G 1.0)
python3 "$SIGN" G 13 ec.pem >/dev/null                     # cosign: tag sha256-<hex>.sig
echo '{"spdxVersion":"SPDX-2.3","name":"app"}' >sbom.json
SBOM=$(python3 "$REF" G 13 application/spdx+json sbom.json) # oras: untagged, subject
echo 'a signature of the SBOM' >sbomsig.txt
SBOMSIG=$(python3 "$REF" G "$SBOM" application/vnd.example.signature sbomsig.txt) # on the SBOM
python3 "$SIGN" G 1.0 ec.pem --referrer >/dev/null         # cosign OCI 1.1 mode
echo '{"vex":"not affected"}' >vex.json
VEX=$(python3 "$REF" G 1.0 application/vnd.openvex+json vex.json --style regctl) # regctl: tag-schema index
python3 "$SIGN" G 2.1 ec.pem >/dev/null

tap_is "$(refcount G docker.io/example/app:13)" 3 "ls --json: app:13 has 3 referrers (signature, SBOM, the SBOM's signature)"
tap_is "$(refcount G docker.io/example/base:1.0)" 2 "ls --json: base:1.0 has 2 (an OCI 1.1 signature, a VEX in regctl's tag-schema index)"
tap_is "$(refcount G docker.io/example/tool:2.1)" 1 "ls --json: tool:2.1 has its signature"
tap_ok "ls --json follows the schema" sh -c "'$FERRY' ls --json G | python3 '$CHECK' ls"
tap_is "$("$FERRY" ls G | awk 'NR>1 {print $1, $NF}' | LC_ALL=C sort | xargs)" \
	"docker.io/example/app:13 3 docker.io/example/base:1.0 2 docker.io/example/tool:2.1 1" \
	"ls: a REFERRERS column, and referrers are not listed as images"
tap_is "$(types G example/app:13)" \
	"application/spdx+json application/vnd.dev.cosign.simplesigning.v1+json application/vnd.example.signature" \
	"inspect --json lists the referrers' artifactTypes"
tap_ok "inspect --json follows the schema" sh -c "'$FERRY' inspect --json G example/app:13 | python3 '$CHECK' inspect"
tap_like "$("$FERRY" inspect G example/app:13)" "Referrers:.*${SBOM#sha256:}" "inspect lists them (digest, size, type)"
tap_ok "the source verifies (artifacts are not judged as images)" "$FERRY" verify -q G
tap_ok "and every image is signed" "$FERRY" verify -q --key ec.pub G

# ---- selection ----------------------------------------------------------------------------
tap_ok "--image app:13 brings its referrers" "$FERRY" convert -q --image example/app:13 G S1/
tap_is "$(manifests S1)" "$(echo "$APP" "$(digest_of G "sha256-${APP#sha256:}.sig")" "$SBOM" "$SBOMSIG" | xargs -n1 | LC_ALL=C sort | xargs)" \
	"the image, its signature, its SBOM and the SBOM's signature (recursively), same digests"
tap_is "$(jq -r --arg d "$SBOM" '.manifests[] | select(.digest==$d) | .annotations["vnd.ferry.referrer.subject"]' S1/index.json)" \
	"$APP" "an unnamed referrer carries vnd.ferry.referrer.subject"
tap_is "$(jq -r --arg d "$SBOM" '[.manifests[] | select(.digest==$d) | .annotations["org.opencontainers.image.ref.name"]] | .[0]' S1/index.json)" \
	"null" "and no ref name"
tap_is "$(sha "S1/blobs/sha256/${SBOMSIG#sha256:}")" "${SBOMSIG#sha256:}" "referrer manifests kept byte for byte"
tap_ok "--image app:13 --no-referrers" "$FERRY" convert -q --no-referrers --image example/app:13 G S2/
tap_is "$(manifests S2)" "$APP" "--no-referrers: the image alone"
tap_ok "--referrer-type application/spdx+json" "$FERRY" convert -q --referrer-type application/spdx+json --image example/app:13 G S3/
tap_is "$(manifests S3)" "$(echo "$APP" "$SBOM" | xargs -n1 | LC_ALL=C sort | xargs)" "--referrer-type: only the SBOM"
tap_ok "--image base:1.0 reads regctl's tag-schema index" "$FERRY" convert -q --image example/base:1.0 G S4/
tap_like "$(manifests S4)" "$VEX" "the VEX it lists travels as a referrer"
tap_is "$(jq -r --arg d "$VEX" '.manifests[] | select(.digest==$d) | .annotations["vnd.ferry.referrer.subject"]' S4/index.json)" \
	"$BASE" "about base:1.0"
tap_is "$(jq '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] // "" | startswith("sha256-"))] | length' S4/index.json)" \
	0 "the tag-schema index itself is not written (its referrers are)"
tap_ok "--tag renames app:13: its cosign signature follows" "$FERRY" convert -q --image example/app:13 --tag example/app:13=example/other:1 G S5/
tap_is "$(jq -r '.manifests[].annotations["io.containerd.image.name"] // empty' S5/index.json | LC_ALL=C sort | xargs)" \
	"docker.io/example/other:1 docker.io/example/other:sha256-${APP#sha256:}.sig" "the .sig tag moved to the new repository"
tap_ok "and still verifies" "$FERRY" verify -q --key ec.pub S5

# Left out with a warning: referrers whose image is gone.
cp -r G O
jq --arg d "$APP" '.manifests |= map(select(.digest != $d))' O/index.json >O/i.json && mv O/i.json O/index.json
tap_ok "a layout whose app:13 is gone, its referrers left behind" "$FERRY" convert O O2/
tap_like "$(cat "$TAP_OUT")" "warning: 3 referrers left out: their subjects are not written" "the orphaned referrers are left out, with a warning"
tap_is "$(refcount O2 docker.io/example/base:1.0)" 2 "base's referrers stay"
tap_is "$(jq --arg d "$SBOM" '[.manifests[] | select(.digest==$d)] | length' O2/index.json)" 0 "the orphaned SBOM is gone"

# Bounded: more referrers than FERRY_REFERRERS_MAX (4096) on one image.
"$FERRY" convert -q --image example/app:13 --no-referrers G M/
python3 "$SIGN" M 13 ec.pem --referrer --copies 4100 >/dev/null
tap_ok "4100 referrers on one image: convert" "$FERRY" convert --image example/app:13 M M2/
tap_like "$(cat "$TAP_OUT")" "more than 4096 referrers: the rest are left out" "says it keeps 4096 of them"
tap_is "$(jq '.manifests | length' M2/index.json)" 4097 "the image and 4096 referrers written"

# ---- through archives -------------------------------------------------------------------------
tap_ok "layout -> oci-archive" "$FERRY" convert -q G g.tar
tap_ok "oci-archive -> layout" "$FERRY" convert -q g.tar T1/
REGCTL_IX=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] // "" | test("^sha256-[0-9a-f]{64}$")) | .digest' G/index.json)
tap_is "$(manifests T1)" "$( (manifests G | xargs -n1 | grep -v "$REGCTL_IX"; echo "$VEX") | LC_ALL=C sort -u | xargs)" \
	"every manifest digest kept (regctl's index became its referrers)"
tap_ok "layout -> docker-archive" "$FERRY" convert -q G g-docker.tar
tap_is "$(tar -xOf g-docker.tar manifest.json | jq -r '.[].RepoTags[]' | LC_ALL=C sort | xargs)" \
	"example/app:13 example/base:1.0 example/tool:2.1" "manifest.json lists the images only (docker load ignores the rest)"
tap_ok "docker-archive -> layout" "$FERRY" convert -q g-docker.tar T2/
tap_is "$(manifests T2)" "$(manifests T1)" "docker-archive keeps every referrer in its OCI index, byte for byte"
tap_ok "signatures verify after both round trips" sh -c "'$FERRY' verify -q --key ec.pub T1 && '$FERRY' verify -q --key ec.pub T2"
tap_ok "skopeo copies the image out of the round-tripped layout" skopeo copy -q oci:T2:13 oci:SK1:x
tap_is "$(digest_of SK1 x)" "$APP" "with its digest"

# ---- a registry without the referrers API (Debian's docker-registry 2.8) ------------------------
reg_dir=$TAP_TMP/reg
if ! tap_ok "docker-registry starts" registry_start http "$reg_dir"; then
	tap_done
fi
R=$FERRY_REG_ADDR
tap_ok "push the layout" "$FERRY" push -q G "docker://$R"
app_tags=$(curl -s "http://$R/v2/example/app/tags/list" | jq -r '.tags[]' | LC_ALL=C sort | xargs)
tap_like "$app_tags" "sha256-${APP#sha256:}\.sig" "the cosign signature is pushed as its tag"
tap_like "$app_tags" "sha256-${APP#sha256:}( |$)" "the referrers tag schema index sha256-<hex> is there"
tap_is "$(curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$R/v2/example/app/manifests/sha256-${APP#sha256:}" |
	jq -r '.manifests[] | "\(.digest) \(.artifactType)"')" "$SBOM application/spdx+json" \
	"it lists the SBOM with its artifactType"
tap_is "$(curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$R/v2/example/app/manifests/sha256-${SBOM#sha256:}" |
	jq -r '.manifests[].digest')" "$SBOMSIG" "the SBOM's own index lists its signature"
tap_ok "push again: nothing changes" "$FERRY" push -q G "docker://$R"
tap_is "$(curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$R/v2/example/app/manifests/sha256-${APP#sha256:}" |
	jq '.manifests | length')" 1 "the tag-schema index is merged, not grown twice"
tap_ok "pull app:13 back" "$FERRY" convert -q "docker://$R/example/app:13" P1/
tap_is "$(refcount P1 "$R/example/app:13")" 3 "with its 3 referrers (tag schema and cosign tags)"
tap_ok "ferry verify --key passes offline on the pulled copy" "$FERRY" verify -q --key ec.pub P1
tap_ok "pull --no-referrers" "$FERRY" convert -q --no-referrers "docker://$R/example/app:13" P2/
tap_is "$(manifests P2)" "$APP" "the image alone"
tap_ok "ls docker:// counts them" "$FERRY" ls "docker://$R/example/base:1.0"
tap_like "$(cat "$TAP_OUT")" "base:1.0 .* 2$" "base:1.0: 2 referrers in the registry"
tap_ok "push app:13 to a full docker://REF" "$FERRY" push -q --image example/app:13 G "docker://$R/moved/app:1"
tap_is "$(curl -s "http://$R/v2/moved/app/tags/list" | jq -r '.tags[]' | LC_ALL=C sort | xargs)" \
	"$(printf '%s\n' 1 "sha256-${APP#sha256:}" "sha256-${APP#sha256:}.sig" "sha256-${SBOM#sha256:}" | LC_ALL=C sort | xargs)" \
	"its referrers and signature follow it there"
tap_ok "skopeo copies the image out of the registry" skopeo copy -q --src-tls-verify=false "docker://$R/example/app:13" oci:SK2:x
tap_is "$(digest_of SK2 x)" "$APP" "with its digest"

# ---- ferry serve answers the referrers API ---------------------------------------------------
"$FERRY" serve --json --listen 127.0.0.1:0 "$TAP_TMP/G" >serve.out 2>serve.err &
serve_pid=$!
PORT=
for _ in $(seq 100); do
	PORT=$(head -n 1 serve.out 2>/dev/null | jq -r '.url // empty' 2>/dev/null | sed 's/.*://')
	[ -n "$PORT" ] && break
	sleep 0.1
done
tap_ok "ferry serve starts" test -n "$PORT"
tap_is "$(curl -s "http://127.0.0.1:$PORT/v2/example/app/referrers/$APP" | jq -r '.manifests[].digest')" "$SBOM" \
	"serve: the referrers API lists the SBOM"
tap_ok "pull app:13 from ferry serve" "$FERRY" convert -q "docker://127.0.0.1:$PORT/example/app:13" P3/
tap_is "$(manifests P3)" "$(manifests S1)" "the image and its 3 referrers (referrers API, cosign tag)"
tap_ok "verify --key passes on it" "$FERRY" verify -q --key ec.pub P3

tap_done
