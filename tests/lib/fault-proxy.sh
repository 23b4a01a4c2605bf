# shellcheck shell=bash
# tests/servers/fault-proxy.py in front of a registry started by registry.sh.
# The caller sets PROXY_PY (the script) and proxy_pids=() (every proxy started
# is added there, for the caller's EXIT trap to stop by PID).
#
# proxy_start NAME FAULT [ARGS...]: a fault-proxy.py in front of $FERRY_REG_ADDR;
# sets PROXY_ADDR and PROXY_LOG.
proxy_start() {
	local name=$1 fault=$2 pf i
	shift 2
	pf=$TAP_TMP/proxy-$name.port
	PROXY_LOG=$TAP_TMP/proxy-$name.log
	rm -f "$pf" "$PROXY_LOG"
	python3 "$PROXY_PY" --target "$FERRY_REG_ADDR" --port-file "$pf" --log "$PROXY_LOG" \
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

