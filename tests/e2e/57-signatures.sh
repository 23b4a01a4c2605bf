#!/bin/bash
# Signatures checked offline: `ferry verify --key` against cosign signatures
# made by openssl (tests/lib/cosign_sign.py lays them out as cosign's
# signature spec says), for ECDSA P-256 and Ed25519 keys, in cosign's tag
# schema and as OCI 1.1 referrers; hostile signatures are refused cleanly.
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

need_tool openssl jq python3
SIGN=$_tap_repo/tests/lib/cosign_sign.py

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkey -in ec.pem -pubout -out ec.pub
openssl genpkey -algorithm ED25519 -out ed.pem 2>/dev/null
openssl pkey -in ed.pem -pubout -out ed.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.pem 2>/dev/null
openssl pkey -in other.pem -pubout -out other.pub

# rss_under NAME KB LIMIT_KB: a peak RSS under a bound (not judged under ASan,
# whose quarantine, not ferry, sets RSS there).
rss_under() {
	if [ -n "${ASAN_OPTIONS:-}" ]; then
		tap_skip "$1" "ASan build: its quarantine, not ferry, sets RSS"
		return
	fi
	tap_is "$(( ${2:-999999999} < $3 ))" 1 "$1 (${2:-?} KB)"
}

# status LOC KEY...: "NAME STATUS" per image from verify --json, sorted.
status() {
	local loc=$1 args=() k
	shift
	for k in "$@"; do args+=(--key "$k"); done
	"$FERRY" verify -q --json "${args[@]}" "$loc" 2>/dev/null |
		jq -r '.signatures[] | "\(.image) \(.status)"' | LC_ALL=C sort | xargs
}

# fresh NAME: the sample as a layout of its own.
fresh() {
	rm -rf "$1"
	"$FERRY" convert -q "$SAMPLE" "$1/"
}

# ---- good signatures ----------------------------------------------------------
fresh L
tap_fails "no signatures: verify --key exits non-zero" "$FERRY" verify -q --key ec.pub L
tap_like "$(cat "$TAP_OUT")" "example/app:13 \(sha256:[0-9a-f]{12}\): not signed" "an unsigned image is named"
python3 "$SIGN" L 13 ec.pem >/dev/null
python3 "$SIGN" L 1.0 ed.pem >/dev/null
python3 "$SIGN" L 2.1 ec.pem --referrer >/dev/null
tap_ok "ECDSA, Ed25519 and an OCI 1.1 referrer: every image signed" "$FERRY" verify --key ec.pub --key ed.pub L
tap_like "$(cat "$TAP_OUT")" "example/base:1.0 \(sha256:[0-9a-f]{12}\): signed by ed.pub" "says which key signed"
tap_like "$(cat "$TAP_OUT")" "every image signed" "says every image is signed"
tap_is "$(status L ec.pub)" \
	"docker.io/example/app:13 signed docker.io/example/base:1.0 bad docker.io/example/tool:2.1 signed" \
	"--json: the Ed25519 signature is bad for the ECDSA key alone"
tap_fails "one key short: exit non-zero" "$FERRY" verify -q --key ec.pub L
tap_is "$("$FERRY" verify -q --json --key ed.pub --key ec.pub L | jq -r '.ok')" true "--json: ok"
tap_ok "without --key, verify passes (signature layers are documents, not tars)" "$FERRY" verify -q L
tap_is "$(jq -r '.manifests[3].annotations["org.opencontainers.image.ref.name"]' L/index.json)" \
	"sha256-$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="13") | .digest' L/index.json | cut -d: -f2).sig" \
	"the signature is tagged as cosign tags it"

# ---- signatures travel with their images ------------------------------------------------
tap_ok "layout -> oci-archive" "$FERRY" convert -q L travel.tar
tap_ok "oci-archive -> layout" "$FERRY" convert -q travel.tar T/
tap_ok "signatures verify after the round trip" "$FERRY" verify -q --key ec.pub --key ed.pub T
tap_is "$(jq -r '.manifests[].digest' L/index.json | LC_ALL=C sort | xargs)" \
	"$(jq -r '.manifests[].digest' T/index.json | LC_ALL=C sort | xargs)" "every manifest digest kept"

# ---- hostile signatures ----------------------------------------------------------------
fresh W
python3 "$SIGN" W 13 other.pem >/dev/null
tap_fails "a signature by another key" "$FERRY" verify -q --key ec.pub W
tap_like "$(cat "$TAP_OUT")" "example/app:13 .*no good signature: signature does not verify with ec.pub" "names the image and why"

fresh X
python3 "$SIGN" X 13 ec.pem --payload-digest "$L_APP" >/dev/null
tap_fails "a signature over another digest" "$FERRY" verify -q --key ec.pub X
tap_like "$(cat "$TAP_OUT")" "payload signs $L_APP, not sha256:" "says which digest it signs"

fresh N
printf 'not json at all' >N.payload
python3 "$SIGN" N 13 ec.pem --payload-file N.payload >/dev/null
tap_fails "a payload that is not JSON" "$FERRY" verify -q --key ec.pub N
tap_like "$(cat "$TAP_OUT")" "no good signature: .*(JSON|json)" "says the payload is not JSON"

fresh B
truncate -s 100M B.payload
python3 "$SIGN" B 13 ec.pem --payload-file B.payload >/dev/null
tap_fails "a 100 MB payload" /usr/bin/time -f 'rss=%M' "$FERRY" verify -q --key ec.pub B
tap_like "$(cat "$TAP_OUT")" "over the byte limit" "refused by its size"
rss=$(sed -n 's/^rss=//p' "$TAP_OUT")
tap_like "$rss" '^[0-9]+$' "peak RSS measured"
rss_under "peak RSS under 64 MB" "$rss" 65536

fresh Z
python3 "$SIGN" Z 13 ec.pem >/dev/null
sig=$(jq -r '.manifests[3].digest' Z/index.json | cut -d: -f2)
python3 - Z/blobs/sha256/"$sig" <<'EOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
a = m["layers"][0]["annotations"]
s = a["dev.cosignproject.cosign/signature"]
a["dev.cosignproject.cosign/signature"] = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
open(p + ".new", "w").write(json.dumps(m, separators=(",", ":")))
EOF
new=$(sha Z/blobs/sha256/"$sig".new)
mv Z/blobs/sha256/"$sig".new Z/blobs/sha256/"$new"
rm Z/blobs/sha256/"$sig"
jq --arg o "sha256:$sig" --arg n "sha256:$new" --argjson s "$(stat -c %s Z/blobs/sha256/"$new")" \
	'.manifests |= map(if .digest == $o then .digest = $n | .size = $s else . end)' Z/index.json >Z/i.json
mv Z/i.json Z/index.json
tap_fails "a signature with one character changed" "$FERRY" verify -q --key ec.pub Z
tap_like "$(cat "$TAP_OUT")" "example/app:13 .*no good signature" "the image is badly signed"

# A signature whose subject is not in the layout: it counts for nothing, and breaks nothing.
fresh M
python3 "$SIGN" M 13 ec.pem >/dev/null
app=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="13") | .digest' M/index.json)
tap_ok "untag the signed image" "$FERRY" untag M docker.io/example/app:13
tap_fails "a signature whose image is gone: the rest are unsigned" "$FERRY" verify -q --key ec.pub M
tap_like "$(cat "$TAP_OUT")" "example/base:1.0 .*not signed" "reports the images that are there"
tap_is "$(grep -c "$app" "$TAP_OUT")" 0 "and no verdict for the missing one"

# 10,000 referrers on one image, each a bad signature: bounded time and memory.
# A source holds its manifests and configs in memory (about 7 KB each), so
# 10,000 of them take some 80 MB: the bound here is 128 MB, not the 64 MB
# that holds whatever a layer's size.
fresh R
python3 "$SIGN" R 13 other.pem --referrer --copies 10000 >/dev/null
tap_is "$(jq '.manifests | length' R/index.json)" 10003 "10,000 referrers listed"
start=$(date +%s)
tap_fails "10,000 bad referrers: verify --key fails" /usr/bin/time -f 'rss=%M' "$FERRY" verify -q --key ec.pub R
tap_like "$(cat "$TAP_OUT")" "example/app:13 .*no good signature" "the image is badly signed"
rss=$(sed -n 's/^rss=//p' "$TAP_OUT")
tap_diag "10,000 referrers: $(($(date +%s) - start)) s, peak RSS ${rss:-?} KB"
rss_under "peak RSS under 128 MB with 10,000 referrers" "$rss" 131072

# ---- keys that are not keys ------------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
openssl pkey -in rsa.pem -pubout -out rsa.pub
tap_fails "an RSA key is refused" "$FERRY" verify -q --key rsa.pub L
tap_like "$(cat "$TAP_OUT")" "ferry: key rsa.pub is a rsaEncryption key" "says what the key is"
tap_is "$("$FERRY" verify -q --key rsa.pub L >/dev/null 2>&1; echo $?)" 2 "exit 2"
tap_fails "a missing key file" "$FERRY" verify -q --key nope.pub L
tap_like "$(cat "$TAP_OUT")" "cannot read key nope.pub" "names the missing file"
echo garbage >bad.pub
tap_fails "a file that is not PEM" "$FERRY" verify -q --key bad.pub L
tap_like "$(cat "$TAP_OUT")" "key bad.pub: not a PEM public key" "says it is not a key"

tap_done
