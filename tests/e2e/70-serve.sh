#!/bin/bash
# ferry serve: archives and layouts as a read-only registry, on 127.0.0.1.
#
#  - start-up: the URL and every name; a name two locations serve with
#    different digests is refused naming both; plain HTTP off loopback and
#    whole-compressed archives are refused
#  - the API with curl: /v2/, catalog and tags paging (Link), manifests by tag
#    and digest (exact bytes, Content-Type, Docker-Content-Digest, HEAD, Accept),
#    blobs (every digest re-hashed), Range, referrers (and the empty index),
#    the spec's error codes, UNSUPPORTED for every write
#  - clients: skopeo inspect and copy (every digest compared), ferry's own
#    convert docker://, docker pull through the private dockerd (image IDs),
#    podman and ctr when they run here
#  - TLS + --htpasswd: a wrong password is 401, the right one pulls
#  - hostile requests: traversal, malformed digests, NUL, huge headers, a slow
#    client, Range abuse, 1000 requests on one keep-alive connection, 200
#    concurrent clients on one blob (peak RSS measured), nothing written
#  - stale files: a served archive changed or replaced is refused, not served
#  - SIGTERM lets a download in flight finish, then exit 0; SIGINT stops at once
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"

CLIENTS="python3 $repo/tests/servers/serve-clients.py"
DIALECTS=$FERRY_FIXTURES/dialects
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"

# ---- servers: started in the background, stopped by PID on any exit ---------------
serve_pids=()
cleanup_serve() {
	local p
	for p in "${serve_pids[@]}"; do
		kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_serve; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# serve_start NAME ARGS...: ferry serve --json on a free port, from directory NAME.run
# (where it must write nothing); sets PID and PORT. Its output is in NAME.out/NAME.err.
serve_start() {
	local name=$1 i a args=()
	shift
	for a in "$@"; do	# relative paths are to $TAP_TMP, not to the server's directory
		[[ $a != /* && -e $a ]] && a=$TAP_TMP/$a
		args+=("$a")
	done
	mkdir -p "$TAP_TMP/$name.run"
	(cd "$TAP_TMP/$name.run" && exec "$FERRY" serve --json --listen 127.0.0.1:0 "${args[@]}") \
		>"$TAP_TMP/$name.out" 2>"$TAP_TMP/$name.err" &
	PID=$!
	serve_pids+=("$PID")
	PORT=
	for ((i = 0; i < 100; i++)); do
		PORT=$(head -n 1 "$TAP_TMP/$name.out" 2>/dev/null | jq -r '.url // empty' 2>/dev/null | sed 's/.*://')
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TAP_TMP/$name.err" >&2
	return 1
}

# http_code URL [CURL ARGS...]: the status code only.
http_code() {
	curl -s -o /dev/null -w '%{http_code}' "$@"
}

# error_code URL: the first "code" of a spec error body.
error_code() {
	curl -s "$@" | jq -r '.errors[0].code' 2>/dev/null
}

if ! tap_ok "tools: curl jq python3 skopeo openssl htpasswd" need_tool curl jq python3 skopeo openssl htpasswd; then
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi

# ---- sources ---------------------------------------------------------------------------
# sample.tar is a legacy docker save (no manifests: ferry builds them); docker25.tar has
# OCI manifests of its own; oci-multi a multi-platform index; big/ a layer to pull at once.
cp "$SAMPLE" sample.tar
read -r BIG_M BIG_L BIG_A < <(python3 "$repo/tests/e2e/make-serve-layout.py" big $((8 << 20)))
SOURCES=(sample.tar "$DIALECTS/docker25.tar" "$DIALECTS/oci-multi" "$DIALECTS/lying-mediatype" big)
before=$(for f in sample.tar "$DIALECTS/docker25.tar"; do stat -c '%Y' "$f"; sha "$f"; done; tree_sums big; tree_sums "$DIALECTS/oci-multi")

tap_ok "ferry serve starts on five sources" serve_start main "${SOURCES[@]}"
MAIN_PID=$PID
P=127.0.0.1:$PORT
banner=$(head -n 1 main.out)
tap_is "$(jq -r '.url' <<<"$banner")" "http://$P" "the start-up line gives the URL"
tap_like "$(jq -r '.images | join(" ")' <<<"$banner")" "example/app:13 sha256:.*example/big:1 $BIG_M.*example/web:1.0 " \
	"the start-up line lists each repository:tag with its digest"

# ---- the API ---------------------------------------------------------------------------
tap_is "$(curl -s -D - -o /dev/null "$P/v2/" | tr -d '\r' | grep -i '^docker-distribution-api-version:')" \
	"Docker-Distribution-API-Version: registry/2.0" "GET /v2/ names the API version"
tap_is "$(curl -s "$P/v2/_catalog" | jq -c .repositories)" \
	'["crane/app","example/app","example/base","example/big","example/liar","example/multi","example/tool","example/web","example/worker"]' \
	"the catalog lists every repository, sorted"
tap_is "$(curl -s "$P/v2/_catalog?n=2" | jq -c .repositories)" '["crane/app","example/app"]' "catalog n=2: the first page"
tap_like "$(curl -s -D - -o /dev/null "$P/v2/_catalog?n=2" | tr -d '\r' | grep -i '^link:')" \
	'^[Ll]ink: </v2/_catalog\?n=2&last=example/app>; rel="next"$' "catalog n=2: a Link to the next page"
tap_is "$(curl -s "$P/v2/_catalog?n=2&last=example/app" | jq -c .repositories)" '["example/base","example/big"]' \
	"catalog last=: the next page"
tap_is "$(curl -s "$P/v2/_catalog?n=0" | jq -c .repositories)" '[]' "catalog n=0: empty"
tap_is "$(curl -s "$P/v2/example/app/tags/list" | jq -c .)" '{"name":"example/app","tags":["13"]}' "tags/list"

# Manifests: the bytes ferry ls reports for docker25 (its own), and a built one for sample.tar.
WEB=$(ferry_field "$DIALECTS/docker25.tar" docker.io/example/web:1.0 digest)
curl -s -D web.h -o web.m "$P/v2/example/web/manifests/1.0"
tap_is "sha256:$(sha web.m)" "$WEB" "a manifest by tag: the archive's own bytes (its digest)"
tap_is "$(tr -d '\r' <web.h | grep -i '^docker-content-digest:' | cut -d' ' -f2)" "$WEB" "Docker-Content-Digest"
tap_is "$(tr -d '\r' <web.h | grep -i '^content-type:' | cut -d' ' -f2)" "$(jq -r .mediaType web.m)" "Content-Type is its mediaType"
tap_is "$(tr -d '\r' <web.h | grep -i '^content-length:' | cut -d' ' -f2)" "$(stat -c %s web.m)" "Content-Length"
tap_is "$(curl -s "$P/v2/example/web/manifests/$WEB" | sha)" "${WEB#sha256:}" "the same manifest by digest"
tap_is "$(curl -s -I "$P/v2/example/web/manifests/1.0" | tr -d '\r' | grep -i '^docker-content-digest:' | cut -d' ' -f2)" \
	"$WEB" "HEAD of a manifest: the same headers"
tap_is "$(http_code "$P/v2/example/web/manifests/1.0" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json')" \
	404 "Accept without the manifest's type: 404"
tap_is "$(http_code "$P/v2/example/web/manifests/1.0" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	-H "Accept: text/x, $(jq -r .mediaType web.m);q=0.5")" 200 "Accept in a second header, with parameters: 200"
app=$(curl -s "$P/v2/example/app/manifests/13")
tap_is "$(jq -r .config.digest <<<"$app")" "$ID_APP" "a legacy image's built manifest keeps the image ID (config)"
tap_is "$(jq -r '[.layers[].digest] | join(",")' <<<"$app")" "$L_BASE,$L_APP" "...and serves the layers as they are (digest = diff_id)"
tap_is "$(jq -r '.layers[0].mediaType' <<<"$app")" "application/vnd.oci.image.layer.v1.tar" "...under the uncompressed layer type"

# Blobs: every blob of example/app:13 and example/big:1, re-hashed.
blobs_ok() {
	local repo=$1 ref=$2 m d
	m=$(curl -sf "$P/v2/$repo/manifests/$ref") || return 1
	for d in $(jq -r '.config.digest, .layers[].digest' <<<"$m"); do
		[ "sha256:$(curl -sf "$P/v2/$repo/blobs/$d" | sha)" = "$d" ] || { echo "blob $d"; return 1; }
	done
}
tap_ok "every blob of example/app:13 hashes to its digest" blobs_ok example/app 13
tap_ok "every blob of example/big:1 hashes to its digest" blobs_ok example/big 1
tap_ok "every blob of the docker25 image hashes to its digest" blobs_ok example/web 1.0
BIGF=big/blobs/sha256/${BIG_L#sha256:}
BIGSIZE=$(stat -c %s "$BIGF")
tap_is "$(curl -s -I "$P/v2/example/big/blobs/$BIG_L" | tr -d '\r' | grep -iE '^(content-length|docker-content-digest|accept-ranges):' | sort -f | xargs)" \
	"Accept-Ranges: bytes Content-Length: $BIGSIZE Docker-Content-Digest: $BIG_L" "HEAD of a blob: length, digest, Accept-Ranges"

# Range
range() {	# range SPEC: "CODE SHA256" of the answer
	curl -s -o range.out -w '%{http_code}' -H "Range: $1" "$P/v2/example/big/blobs/$BIG_L"
	echo " $(sha range.out)"
}
tap_is "$(range bytes=0-99)" "206 $(head -c 100 "$BIGF" | sha)" "Range bytes=0-99: 206, the first 100 bytes"
tap_is "$(range bytes=1000-)" "206 $(tail -c +1001 "$BIGF" | sha)" "Range bytes=1000-: the rest"
tap_is "$(range bytes=-10)" "206 $(tail -c 10 "$BIGF" | sha)" "Range bytes=-10: the last 10 bytes"
tap_is "$(range bytes=100-99999999999)" "206 $(tail -c +101 "$BIGF" | sha)" "Range past the end: up to the end"
tap_is "$(range "bytes=$BIGSIZE-")" "416 $(printf '%s' "$(curl -s -H "Range: bytes=$BIGSIZE-" "$P/v2/example/big/blobs/$BIG_L")" | sha)" \
	"Range starting at the end: 416"
tap_like "$(curl -s -D - -o /dev/null -H "Range: bytes=$BIGSIZE-" "$P/v2/example/big/blobs/$BIG_L" | tr -d '\r' | grep -i '^content-range:')" \
	"bytes \*/$BIGSIZE$" "...with Content-Range: bytes */SIZE"
tap_is "$(range bytes=500-100)" "200 $(sha "$BIGF")" "a reversed Range is ignored: the whole blob"
tap_is "$(range bytes=0-10,5-20,0-)" "200 $(sha "$BIGF")" "overlapping ranges are ignored: the whole blob"
tap_is "$(range bytes=x-y)" "200 $(sha "$BIGF")" "a malformed Range is ignored"

# Referrers
ref=$(curl -s -D ref.h "$P/v2/example/big/referrers/$BIG_M")
tap_is "$(jq -r '[.mediaType, (.manifests | length), .manifests[0].digest, .manifests[0].artifactType] | join(" ")' <<<"$ref")" \
	"application/vnd.oci.image.index.v1+json 1 $BIG_A application/vnd.example.sbom" "referrers: an index of the manifests whose subject it is"
tap_is "$(tr -d '\r' <ref.h | grep -i '^content-type:' | cut -d' ' -f2)" application/vnd.oci.image.index.v1+json "referrers: Content-Type"
tap_is "$(curl -s "$P/v2/example/big/referrers/$BIG_M?artifactType=application/vnd.example.sbom" | jq '.manifests | length')" 1 \
	"referrers ?artifactType= keeps what matches"
tap_is "$(curl -s "$P/v2/example/big/referrers/$BIG_M?artifactType=application/other" | jq '.manifests | length')" 0 \
	"...and drops the rest"
tap_is "$(curl -s "$P/v2/example/app/referrers/$ID_APP" | jq -c .manifests)" "[]" "no referrers: an empty index"
tap_is "$(http_code "$P/v2/example/big/manifests/$BIG_A")" 200 "the referrer itself is served by digest"

# Errors
tap_is "$(error_code "$P/v2/example/app/manifests/nosuchtag")" MANIFEST_UNKNOWN "unknown tag: MANIFEST_UNKNOWN"
tap_is "$(http_code "$P/v2/example/app/manifests/nosuchtag")" 404 "...404"
tap_is "$(error_code "$P/v2/no/such/manifests/1")" NAME_UNKNOWN "unknown repository: NAME_UNKNOWN"
tap_is "$(error_code "$P/v2/example/app/blobs/sha256:$(printf '%064d' 0)")" BLOB_UNKNOWN "unknown blob: BLOB_UNKNOWN"
tap_is "$(http_code "$P/v2/example/app/blobs/sha256:$(printf '%064d' 0)")" 404 "...404"
for m in "PUT /v2/example/app/manifests/13" "DELETE /v2/example/app/manifests/$WEB" "POST /v2/example/app/blobs/uploads/" \
	"PATCH /v2/example/app/blobs/uploads/x" "PUT /v2/example/app/blobs/uploads/x?digest=$L_APP" "DELETE /v2/example/app/blobs/$L_APP"; do
	tap_is "$(error_code -X "${m%% *}" --data-binary @sample.tar "$P${m#* }") $(http_code -X "${m%% *}" -d x "$P${m#* }")" \
		"UNSUPPORTED 405" "$m: UNSUPPORTED (405)"
done

# ---- hostile requests ------------------------------------------------------------------
for u in "/v2/../../../etc/passwd" "/v2/%2e%2e/%2e%2e/etc/passwd" "/v2/example/app/blobs/..%2f..%2f..%2fetc%2fpasswd" \
	"/v2/example/app/blobs/sha256:..%2f..%2fsample.tar" "/v2//etc/passwd/manifests/1" "/v2/example/app/manifests/..%2F..%2F..%2Fsample.tar" \
	"/v2/example/app%00/manifests/13" "/v2/example/app/blobs/$L_APP%00.." "/etc/passwd" "/v2/example/app/manifests/13/../../../../etc/passwd"; do
	code=$(http_code --path-as-is "$P$u")
	tap_like "$code" "^4[0-9][0-9]$" "traversal $u: $code, nothing served"
done
tap_like "$($CLIENTS raw "$PORT" 'GET /v2/example/app/manifests/1\x003 HTTP/1.1\r\nHost: x\r\n\r\n')" "^4[0-9][0-9]$" \
	"a raw NUL in the request line: 4xx"
for d in sha256:abc "SHA256:${L_APP#sha256:}" "sha256:$(tr a-f A-F <<<"${L_APP#sha256:}")" "md5:d41d8cd98f00b204e9800998ecf8427e" \
	"sha256:${L_APP#sha256:}0" "sha256:../${L_APP#sha256:}" "${L_APP#sha256:}"; do
	tap_is "$(error_code "$P/v2/example/app/blobs/$d")" DIGEST_INVALID "malformed digest $d: DIGEST_INVALID"
done
tap_like "$($CLIENTS bigheader "$PORT" 100000)" "^(431|413|400|closed)$" "a 100 kB header is refused"
tap_like "$($CLIENTS bigheader "$PORT" 4000000)" "^(431|413|400|closed)$" "a 4 MB header is refused"
$CLIENTS slow "$PORT" 6 >slow.out &
slow_pid=$!
sleep 1
tap_is "$(http_code "$P/v2/example/app/manifests/13")" 200 "with a client sending one byte a second, others are served"
# Ordering, not a clock: the answer came while the slow client still sends.
tap_is "$(kill -0 "$slow_pid" 2>/dev/null && echo sending)" sending "...while the slow client is still sending"
wait "$slow_pid"
tap_is "$(cat slow.out)" open "the slow client is still waited for, not answered half-read"
tap_is "$($CLIENTS keepalive "$PORT" /v2/example/app/manifests/13 1000)" "OK 1000" "1000 requests on one keep-alive connection"
rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# Under ASan the quarantine sets the RSS and every client costs more: fewer
# clients, and the RSS is judged in the normal pass only (as in 90-memory).
n_cl=200
[ -z "${FERRY_TEST_SAN:-}" ] || n_cl=40
tap_is "$($CLIENTS concurrent "$PORT" "/v2/example/big/blobs/$BIG_L" $n_cl "${BIG_L#sha256:}")" "OK $n_cl" \
	"$n_cl clients pulling one 8 MiB blob at once all get it whole"
peak=$(rss_kb "$MAIN_PID")
tap_diag "peak RSS of ferry serve after $n_cl concurrent clients: $peak kB"
tap_like "$peak" "^[0-9]+$" "peak RSS measured"
if [ -n "${FERRY_TEST_SAN:-}" ]; then
	tap_skip "peak RSS under 64 MB + 64 kB per client" "ASan's quarantine sets the RSS"
else
	tap_ok "peak RSS ($peak kB) under 64 MB + 64 kB per client" test "${peak:-999999}" -lt $((64 * 1024 + n_cl * 64))
fi
tap_is "$(kill -0 "$MAIN_PID" 2>/dev/null && echo alive)" alive "the server is still up after all that"

# ---- clients ---------------------------------------------------------------------------
tap_is "$(skopeo inspect --tls-verify=false "docker://$P/example/multi:1.0" --raw | sha)" \
	"$(ferry_field "$DIALECTS/oci-multi" docker.io/example/multi:1.0 digest | cut -d: -f2)" "skopeo inspect --raw: the index's bytes"
tap_is "$(skopeo inspect --tls-verify=false "docker://$P/example/app:13" | jq -r .Digest)" "sha256:$(printf '%s' "$app" | sha)" \
	"skopeo inspect: the served manifest's digest"
skopeo_facts() {	# skopeo_facts REF: copy into an OCI layout; "CONFIG LAYERS" of what arrived
	rm -rf sk && skopeo copy -q --src-tls-verify=false --dest-oci-accept-uncompressed-layers "docker://$P/$1" oci:sk:x >/dev/null &&
		_facts_oci sk
}
tap_is "$(skopeo_facts example/app:13)" "$ID_APP $L_BASE,$L_APP" "skopeo copy of a legacy image: image ID and diff_ids"
tap_is "$(jq -r '.manifests[0].digest' sk/index.json)" "sha256:$(printf '%s' "$app" | sha)" "...and the manifest digest"
skopeo_facts example/web:1.0 >/dev/null
tap_is "$(jq -r '.manifests[0].digest' sk/index.json)" "$WEB" "skopeo copy of the docker25 image: its own manifest digest"
tap_is "$(jq -r .config.digest "sk/blobs/sha256/${WEB#sha256:}")" "$(ferry_field "$DIALECTS/docker25.tar" docker.io/example/web:1.0 config)" \
	"...and its image ID"
MULTI=$(ferry_field "$DIALECTS/oci-multi" docker.io/example/multi:1.0 digest)
rm -rf skall && tap_ok "skopeo copy --all of the multi-platform index" \
	skopeo copy -q --all --src-tls-verify=false "docker://$P/example/multi:1.0" oci:skall:x
tap_is "$(jq -r '.manifests[0].digest' skall/index.json)" "$MULTI" "...the index digest"
blobs_named_right() {	# every blob of DIR hashes to its name, and SRC has it too
	local f
	for f in "$1"/blobs/sha256/*; do
		if [ "$(sha "$f")" != "$(basename "$f")" ] || [ ! -f "$2/blobs/sha256/$(basename "$f")" ]; then
			echo "$f"
			return 1
		fi
	done
}
tap_ok "...every blob arrives whole, under its source digest" blobs_named_right skall "$DIALECTS/oci-multi"
tap_is "$(find skall/blobs -type f | wc -l)" 8 "...all eight of them (index, 2 manifests, 5 configs and layers)"

# ferry's own pull
tap_ok "ferry convert docker://…/example/multi:1.0 into a layout" "$FERRY" convert -q "docker://$P/example/multi:1.0" pulled/
tap_ok "...which verifies" "$FERRY" verify -q pulled/
tap_is "$(ferry_field pulled/ "$P/example/multi:1.0" digest)" "$(ferry_field "$DIALECTS/oci-multi" docker.io/example/multi:1.0 digest)" \
	"...with the source's index digest"
tap_ok "ferry convert docker://…/example/app:13 to a docker archive" "$FERRY" convert -q "docker://$P/example/app:13" app.tar
tap_is "$(ferry_field app.tar "$P/example/app:13" config)" "$ID_APP" "...with the same image ID"

# docker (the private dockerd: 127.0.0.0/8 registries are insecure by default)
if need_tool docker && docker info >/dev/null 2>&1; then
	for img in example/app:13 example/web:1.0 example/big:1; do
		docker rmi -f "$P/$img" >/dev/null 2>&1
		tap_ok "docker pull $img" docker pull -q "$P/$img"
	done
	tap_is "$(docker image inspect -f '{{.Id}}' "$P/example/app:13")" "$ID_APP" "docker pull: the legacy image's ID"
	tap_is "$(docker image inspect -f '{{.Id}}' "$P/example/web:1.0")" "$(ferry_field "$DIALECTS/docker25.tar" docker.io/example/web:1.0 config)" \
		"docker pull: the docker25 image's ID"
	docker rmi -f "$P/example/app:13" "$P/example/web:1.0" "$P/example/big:1" >/dev/null 2>&1
else
	tap_skip "docker pull" "no docker daemon on DOCKER_HOST"
fi
# podman with its storage here, not the machine's
podman_here() {
	podman --root "$TAP_TMP/podman/root" --runroot "$TAP_TMP/podman/run" --storage-driver vfs "$@"
}
if need_tool podman && podman_here info >/dev/null 2>&1; then
	tap_ok "podman pull --tls-verify=false" podman_here pull -q --tls-verify=false "$P/example/app:13"
	tap_is "sha256:$(podman_here image inspect -f '{{.Id}}' "$P/example/app:13")" "$ID_APP" "podman pull: the image ID"
	podman_here rmi -f "$P/example/app:13" >/dev/null 2>&1
	podman_here system reset -f >/dev/null 2>&1
else
	tap_skip "podman pull" "podman is not installed or does not run here"
fi
ctr_sock=${DOCKER_HOST#unix://}
ctr_sock=${ctr_sock%/docker.sock}/exec/containerd/containerd.sock
if need_tool ctr && [ -S "$ctr_sock" ]; then
	tap_ok "ctr image pull --plain-http" ctr --address "$ctr_sock" -n ferry-serve-test image pull -q --plain-http "$P/example/app:13"
	tap_like "$(ctr --address "$ctr_sock" -n ferry-serve-test image ls -q)" "$P/example/app:13" "ctr lists the pulled image"
	ctr --address "$ctr_sock" -n ferry-serve-test image rm "$P/example/app:13" >/dev/null 2>&1
else
	tap_skip "ctr image pull" "no containerd socket (the private dockerd's) here"
fi

# ---- the access log and nothing written --------------------------------------------------
tap_is "$(tail -n +2 main.out | jq -s 'map(select(.method and .url and .status and (.bytes|type=="number"))) | length')" \
	"$(tail -n +2 main.out | wc -l)" "--json: one JSON access-log line per request"
tap_like "$(tail -n +2 main.out | wc -l)" "^[0-9]{4,}$" "...for every request (over a thousand)"
after=$(for f in sample.tar "$DIALECTS/docker25.tar"; do stat -c '%Y' "$f"; sha "$f"; done; tree_sums big; tree_sums "$DIALECTS/oci-multi")
tap_is "$after" "$before" "the served files' mtimes and contents are unchanged"
tap_is "$(find main.run -mindepth 1 | wc -l)" 0 "nothing new in the server's working directory"

# ---- SIGTERM and SIGINT ----------------------------------------------------------------
# 32 MiB: more than the socket buffers of both ends hold, so the transfer is still on when
# the signal comes.
kill -TERM "$MAIN_PID"
wait "$MAIN_PID"
tap_is "$?" 0 "SIGTERM: exit 0"
tap_is "$(http_code "$P/v2/")" 000 "...and nothing listens any more"
read -r _ HUGE_L _ < <(python3 "$repo/tests/e2e/make-serve-layout.py" huge $((32 << 20)) example/huge)
serve_start term huge
curl -s --limit-rate 12M -o term.blob "127.0.0.1:$PORT/v2/example/huge/blobs/$HUGE_L" &
curl_pid=$!
sleep 0.5
kill -TERM "$PID"
wait "$PID"
tap_is "$?" 0 "SIGTERM with a download in flight: exit 0"
wait "$curl_pid"
tap_is "sha256:$(sha term.blob)" "$HUGE_L" "...after the download finished whole"

serve_start int huge >/dev/null
curl -s --limit-rate 1M -o int.blob "127.0.0.1:$PORT/v2/example/huge/blobs/$HUGE_L" &
curl_pid=$!
sleep 0.5
start=$(date +%s)
kill -INT "$PID"
wait "$PID"
tap_is "$?" 130 "SIGINT: exit 130"
tap_like "$(($(date +%s) - start))" "^[01]$" "...at once, not after the download"
wait "$curl_pid"
tap_is "$([ "$(stat -c %s int.blob)" -lt $((32 << 20)) ] && echo cut)" cut "...which was cut short"

# ---- start-up errors -------------------------------------------------------------------
tap_fails "two locations, one name, two digests: refused" "$FERRY" serve --listen 127.0.0.1:0 \
	"$DIALECTS/docker25.tar" "$DIALECTS/containerd.tar"
tap_like "$(cat "$TAP_OUT")" "example/web:1.0 is sha256:[0-9a-f]+ in .*docker25.tar but sha256:[0-9a-f]+ in .*containerd.tar" \
	"...naming the image and both locations"
cp sample.tar sample-copy.tar
tap_ok "two locations serving the same images (same digests): fine" serve_start dup sample.tar sample-copy.tar
tap_is "$(head -n 1 dup.out | jq '.images | length')" 3 "...each name once"
kill -TERM "$PID" && wait "$PID"
tap_fails "plain HTTP off loopback: refused" "$FERRY" serve --listen 0.0.0.0:0 sample.tar
tap_like "$(cat "$TAP_OUT")" "plain HTTP is served on loopback only" "...saying why"
gzip -c sample.tar >sample.tar.gz
tap_fails "an archive compressed as a whole: refused" "$FERRY" serve --listen 127.0.0.1:0 sample.tar.gz
tap_like "$(cat "$TAP_OUT")" "compressed as a whole" "...saying why"
tap_fails "a registry location: refused" "$FERRY" serve "docker://127.0.0.1:1/x:1"
tap_is "$("$FERRY" serve --json --listen 0.0.0.0:0 sample.tar 2>/dev/null | jq -c '[.command, .ok, .code]')" '["serve",false,2]' \
	"--json: a failure at start is a JSON document on stdout"

# ---- stale files -----------------------------------------------------------------------
cp "$SAMPLE" stale.tar
serve_start stale stale.tar
tap_is "$(http_code "127.0.0.1:$PORT/v2/example/app/blobs/$L_APP")" 200 "before the archive changes: 200"
touch -d '2001-01-01' stale.tar
tap_is "$(error_code "127.0.0.1:$PORT/v2/example/app/blobs/$L_APP")" UNAVAILABLE "the archive touched: its blobs are refused"
tap_is "$(http_code "127.0.0.1:$PORT/v2/example/app/manifests/13")" 503 "...and its manifests (503)"
tap_like "$(cat stale.err)" "stale.tar changed since ferry serve started" "...and stderr says why"
kill -TERM "$PID" && wait "$PID"
cp "$SAMPLE" stale.tar
serve_start stale2 stale.tar
cp "$SAMPLE" stale-new.tar && mv stale-new.tar stale.tar
tap_is "$(http_code "127.0.0.1:$PORT/v2/example/app/blobs/$L_APP")" 503 "the archive replaced by another file: refused"
kill -TERM "$PID" && wait "$PID"
cp -r big bigcopy
serve_start stale3 bigcopy
truncate -s 100 "bigcopy/blobs/sha256/${BIG_L#sha256:}"
tap_is "$(error_code "127.0.0.1:$PORT/v2/example/big/blobs/$BIG_L")" UNAVAILABLE "a layout's blob truncated: refused"
kill -TERM "$PID" && wait "$PID"

# ---- an OCI archive --------------------------------------------------------------------
"$FERRY" convert -q --format oci-archive "$DIALECTS/oci-multi" multi-archive.tar
serve_start ociarch multi-archive.tar
tap_is "$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PORT/example/multi:1.0" | sha)" "${MULTI#sha256:}" \
	"an OCI archive: the index's bytes"
arm=$(curl -s "127.0.0.1:$PORT/v2/example/multi/manifests/1.0" | jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')
P_MAIN=$P
P=127.0.0.1:$PORT
tap_ok "an OCI archive: every blob of the arm64 image hashes to its digest" blobs_ok example/multi "$arm"
P=$P_MAIN
kill -TERM "$PID" && wait "$PID"

# ---- --prefix, TLS and --htpasswd ------------------------------------------------------
serve_start prefix --prefix localhost:5000/mirror sample.tar
tap_is "$(curl -s "127.0.0.1:$PORT/v2/_catalog" | jq -c .repositories)" '["mirror/example/app","mirror/example/base","mirror/example/tool"]' \
	"--prefix HOST/PATH: every repository under PATH"
kill -TERM "$PID" && wait "$PID"

mkdir -p tls && (
	cd tls || exit 1
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout server.key \
		-out server.crt -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
)
mkdir -p certs && cp tls/server.crt certs/ca.crt
htpasswd -nbB -C 5 alice s3cret >users.htpasswd
serve_start tls --tls-cert tls/server.crt --tls-key tls/server.key --htpasswd users.htpasswd sample.tar
T=127.0.0.1:$PORT
tap_is "$(jq -r .url tls.out | head -n 1)" "https://$T" "TLS: the URL is https"
tap_is "$(http_code --cacert tls/server.crt "https://$T/v2/")" 401 "no credentials: 401"
tap_like "$(curl -s -D - -o /dev/null --cacert tls/server.crt "https://$T/v2/" | tr -d '\r' | grep -i '^www-authenticate:')" \
	'Basic realm="ferry"' "...with a Basic challenge"
tap_is "$(http_code --cacert tls/server.crt -u alice:wrong "https://$T/v2/")" 401 "a wrong password: 401"
tap_is "$(http_code --cacert tls/server.crt -u mallory:s3cret "https://$T/v2/")" 401 "an unknown user: 401"
tap_fails "skopeo with a wrong password fails" skopeo inspect --cert-dir certs --creds alice:wrong "docker://$T/example/app:13"
tap_like "$(cat "$TAP_OUT")" "401|unauthorized|authentication required" "...unauthorised"
tap_ok "skopeo with the right password inspects" skopeo inspect --cert-dir certs --creds alice:s3cret "docker://$T/example/app:13"
rm -rf sktls && tap_ok "skopeo copy over TLS with --creds" \
	skopeo copy -q --src-cert-dir certs --src-creds alice:s3cret "docker://$T/example/app:13" oci:sktls:x
tap_is "$(_facts_oci sktls)" "$ID_APP $L_BASE,$L_APP" "...image ID and diff_ids"
kill -TERM "$PID" && wait "$PID"
printf 'bob:{SHA}fEqNCco3Yq9h5ZUglD3CZJT4lBs=\n' >htpasswd.sha
tap_fails "an htpasswd entry that is not bcrypt: refused at start" "$FERRY" serve --listen 127.0.0.1:0 --htpasswd htpasswd.sha sample.tar
tap_like "$(cat "$TAP_OUT")" "only bcrypt entries" "...saying so"

# Under the sanitizer build, a report lands in a server's stderr.
tap_is "$(cat ./*.err | grep -cE 'Sanitizer|runtime error')" 0 "no sanitizer report from any server"

tap_done
