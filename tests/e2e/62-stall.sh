#!/bin/bash
# Stalls and signals against a registry (issue 16), through
# tests/servers/fault-proxy.py in front of a private docker-registry:
#  - a blob download that stalls half-way, pulled into an existing layout:
#    SIGINT and SIGTERM end the run within a second or so with exit 130, no
#    request is sent after the signal, and the blobs the run added are gone;
#  - an upload that stalls: SIGINT ends the push the same way;
#  - --stall-timeout: a stalled transfer fails by itself after that long;
#  - a manifest announced with a Content-Length of 10^15 is refused at once.
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"
# shellcheck source=tests/lib/proxy.sh
. "$repo/tests/lib/proxy.sh"


reg=$TAP_TMP/reg
cleanup_stall() {
	proxy_stop_all
	registry_stop "$reg"
}
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_stall; $prev_trap" EXIT

if ! tap_ok "tools: docker-registry python3 jq curl" need_tool docker-registry python3 jq curl; then
	tap_done
fi
if ! tap_ok "the registry starts" registry_start http "$reg"; then
	tap_done
fi
A=$FERRY_REG_ADDR
now_ms() { echo $(($(date +%s%N) / 1000000)); }
unref_count() { python3 "$repo/tests/e2e/unreferenced.py" "$1" | grep -c .; }

python3 "$repo/tests/hostile/make-images.py" big 1024 >/dev/null 2>&1
tap_ok "push three images of 1 MiB layers" "$FERRY" push -q --prefix "$A/stall" big
# app's own layer as the registry has it (pushed gzipped): the one that stalls.
APP_LAYER=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$A/v2/stall/example/app/manifests/1" | jq -r '.layers[-1].digest')
tap_like "$APP_LAYER" '^sha256:[0-9a-f]{64}$' "app's own layer: $APP_LAYER"

# stop_within PID SECONDS: wait for PID; kill -9 it past SECONDS. Sets RC and MS (since the call).
stop_within() {
	local pid=$1 limit=$(($2 * 10)) i t0
	t0=$(now_ms)
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	RC=$?
	MS=$(($(now_ms) - t0))
}

# wait_fault: until the proxy has injected its fault (at most 30 s).
wait_fault() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q '^FAULT' "$PROXY_LOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---- a stalled download, pulled into an existing layout -------------------------
for sig in INT TERM; do
	"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" "E-$sig/" >/dev/null 2>&1
	idx=$(sha "E-$sig/index.json")
	proxy_start "pull-$sig" stall-blob --times 0 --path-re "${APP_LAYER#sha256:}"
	"$FERRY" convert -q "docker://$PROXY_ADDR/stall/example/app:1" "E-$sig" >"pull-$sig.err" 2>&1 &
	pid=$!
	tap_ok "SIG$sig pull: the download stalls half-way" wait_fault
	sleep 1
	tap_like "$(find "E-$sig/blobs/sha256" -newer "E-$sig/index.json" -type f | wc -l)" '^[1-9]' \
		"SIG$sig pull: the run has added blobs to the layout before the stall"
	n_req=$(grep -vc '^FAULT' "$PROXY_LOG")
	n_reg=$(wc -l <"$reg/registry.log")
	kill -"$sig" "$pid"
	stop_within "$pid" 10
	tap_is "$RC" 130 "SIG$sig pull: exit 130"
	tap_ok "SIG$sig pull: ends within a second or so (${MS} ms)" test "$MS" -lt 2000
	sleep 1
	tap_is "$(grep -vc '^FAULT' "$PROXY_LOG")" "$n_req" "SIG$sig pull: no request after the signal (proxy log)"
	tap_is "$(wc -l <"$reg/registry.log")" "$n_reg" "SIG$sig pull: no request after the signal (registry log)"
	proxy_stop
	tap_is "$(sha "E-$sig/index.json")" "$idx" "SIG$sig pull: index.json unchanged"
	tap_is "$(unref_count "E-$sig")" 0 "SIG$sig pull: the blobs the run added are gone"
	tap_ok "SIG$sig pull: the layout verifies" "$FERRY" verify "E-$sig"
done

# ---- a stalled upload -------------------------------------------------------------
proxy_start push-int stall-upload --min-body 100000
"$FERRY" push -q --prefix "$PROXY_ADDR/stall-push" big >push.err 2>&1 &
pid=$!
tap_ok "SIGINT push: an upload stalls half-way" wait_fault
sleep 1
kill -INT "$pid"
stop_within "$pid" 10
tap_is "$RC" 130 "SIGINT push: exit 130"
tap_ok "SIGINT push: ends within a second or so (${MS} ms)" test "$MS" -lt 2000
proxy_stop

# ---- the stall limit -------------------------------------------------------------
proxy_start limit stall-blob --times 0 --path-re "${APP_LAYER#sha256:}"
"$FERRY" convert -q --stall-timeout 2 --retries 0 "docker://$PROXY_ADDR/stall/example/app:1" limit/ >limit.err 2>&1 &
pid=$!
stop_within "$pid" 20
tap_is "$RC" 1 "--stall-timeout 2: the stalled pull fails (exit 1)"
tap_ok "--stall-timeout 2: after about 2 s (${MS} ms)" test "$MS" -lt 6000
tap_ok "--stall-timeout 2: nothing left" test ! -e limit
tap_is "$(find . -maxdepth 1 -name '.limit*' | wc -l)" 0 "--stall-timeout 2: no temporary directory left"
proxy_stop
"$FERRY" ls --stall-timeout 0 "$SAMPLE" >/dev/null 2>&1
tap_is "$?" 2 "--stall-timeout 0 is refused (exit 2)"

# ---- a manifest announced too big -----------------------------------------------
proxy_start huge huge-manifest --times 0
"$FERRY" ls "docker://$PROXY_ADDR/stall/example/app:1" >huge.err 2>&1 &
pid=$!
stop_within "$pid" 10
tap_is "$RC" 6 "Content-Length 10^15 for a manifest: refused as over the limit (exit 6)"
tap_ok "refused from the header, at once (${MS} ms)" test "$MS" -lt 3000
tap_like "$(cat huge.err)" 'larger than 4194304 bytes' "the message says what the limit is"
proxy_stop

tap_done
