# shellcheck shell=bash
# tests/servers/fault-proxy.py in front of a registry started with
# tests/lib/registry.sh, for e2e scripts (after tests/lib/tap.sh).
#
#   proxy_start NAME FAULT [ARGS...]  # a proxy to $FERRY_REG_ADDR injecting
#                                     # FAULT (ARGS: more fault-proxy.py
#                                     # options); sets PROXY_ADDR, PROXY_LOG
#   proxy_stop                        # stops the last one started
#   proxy_stop_all                    # stops every one (for an EXIT trap)

_proxy_py=$(cd "$(dirname "${BASH_SOURCE[0]}")/../servers" && pwd)/fault-proxy.py
proxy_pids=()

# shellcheck disable=SC2034 # PROXY_ADDR and PROXY_LOG are for the caller
proxy_start() {
	local name=$1 fault=$2 pf i
	shift 2
	pf=$TAP_TMP/proxy-$name.port
	PROXY_LOG=$TAP_TMP/proxy-$name.log
	rm -f "$pf" "$PROXY_LOG"
	python3 "$_proxy_py" --target "$FERRY_REG_ADDR" --port-file "$pf" --log "$PROXY_LOG" \
		--timeout 120 --fault "$fault" "$@" </dev/null >"$TAP_TMP/proxy-$name.err" 2>&1 &
	PROXY_PID=$!
	proxy_pids+=("$PROXY_PID")
	for ((i = 0; i < 100; i++)); do
		if [ -s "$pf" ]; then
			PROXY_ADDR=127.0.0.1:$(cat "$pf")
			return 0
		fi
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TAP_TMP/proxy-$name.err" >&2
	return 1
}

proxy_stop() {
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	return 0
}

proxy_stop_all() {
	local p
	for p in "${proxy_pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	return 0
}
