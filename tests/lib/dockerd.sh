# shellcheck shell=bash
# Private dockerd for tests and fixture building.
#
#   . tests/lib/dockerd.sh
#   dockerd_start DIR   # state, socket and log under DIR; exports DOCKER_HOST
#   dockerd_stop DIR    # stops it (and its containerd) by PID, waits for exit
#
# Everything lives under DIR, so it never touches /var/run/docker.sock,
# /var/lib/docker or a system daemon: own data-root, exec-root (containerd
# is started by dockerd as a child and keeps its state under exec-root),
# pidfile and config file, a unix socket only, no iptables, no bridge.
# vfs storage because overlayfs is not available inside every sandbox.

DOCKERD_START_TIMEOUT=${DOCKERD_START_TIMEOUT:-60}
DOCKERD_STOP_TIMEOUT=${DOCKERD_STOP_TIMEOUT:-30}

_dockerd_alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

# Print the last lines of DIR's dockerd log to stderr (for failures).
dockerd_log_tail() {
	local dir=$1
	echo "---- last lines of $dir/dockerd.log ----" >&2
	tail -n "${2:-30}" "$dir/dockerd.log" >&2 2>/dev/null || true
	echo "---- end of dockerd log ----" >&2
}

dockerd_start() {
	local dir=${1:?dockerd_start: DIR missing}
	local sock pid i

	if ! command -v dockerd >/dev/null 2>&1; then
		echo "dockerd_start: dockerd not found (install docker.io)" >&2
		return 1
	fi
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	sock=$dir/docker.sock
	# sun_path is 108 bytes; a longer path fails obscurely inside dockerd.
	if [ "${#sock}" -ge 100 ]; then
		echo "dockerd_start: socket path too long (${#sock} chars): $sock" >&2
		return 1
	fi
	if [ -e "$dir/dockerd.pid" ] && _dockerd_alive "$(cat "$dir/dockerd.pid")"; then
		echo "dockerd_start: a dockerd already runs in $dir" >&2
		return 1
	fi
	mkdir -p "$dir/root" "$dir/exec" "$dir/tmp" || return 1
	# An empty config file keeps /etc/docker/daemon.json out of the way.
	echo '{}' >"$dir/daemon.json"
	: >"$dir/dockerd.log"

	# stdin/stdout away from the caller: a daemon holding the caller's
	# pipe open would keep `... | tee` from ever finishing. TMPDIR: dockerd
	# and containerd write temp files (e.g. stack dumps) there.
	TMPDIR=$dir/tmp dockerd \
		--config-file "$dir/daemon.json" \
		--data-root "$dir/root" \
		--exec-root "$dir/exec" \
		--pidfile "$dir/dockerd.pid" \
		-H "unix://$sock" \
		--storage-driver vfs \
		--iptables=false --ip6tables=false --ip-masq=false \
		--bridge=none \
		</dev/null >>"$dir/dockerd.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/dockerd.bgpid"

	for ((i = 0; i < DOCKERD_START_TIMEOUT * 2; i++)); do
		if ! _dockerd_alive "$pid"; then
			wait "$pid" 2>/dev/null
			echo "dockerd_start: dockerd exited during startup (status $?)" >&2
			dockerd_log_tail "$dir"
			return 1
		fi
		if DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1; then
			export DOCKER_HOST=unix://$sock
			# Remember containerd too: if dockerd has to be killed
			# hard, its child would otherwise outlive it.
			cat "$dir/exec/containerd/containerd.pid" \
				>"$dir/containerd.bgpid" 2>/dev/null || true
			return 0
		fi
		sleep 0.5
	done
	echo "dockerd_start: no answer from dockerd on $sock after ${DOCKERD_START_TIMEOUT}s" >&2
	dockerd_log_tail "$dir"
	dockerd_stop "$dir"
	return 1
}

# _dockerd_ours PID NAME: PID is alive and is either our own child or a
# process called NAME, so a recycled PID never gets a signal meant for us.
_dockerd_ours() {
	local pid=$1 ppid
	_dockerd_alive "$pid" || return 1
	ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	[ "$ppid" = "$BASHPID" ] && return 0
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# Send TERM, wait up to TIMEOUT seconds, then KILL. Returns when PID is gone.
_dockerd_kill_wait() {
	local pid=$1 timeout=$2 i
	_dockerd_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < timeout * 10; i++)); do
		_dockerd_alive "$pid" || return 0
		sleep 0.1
	done
	echo "dockerd_stop: PID $pid ignored TERM for ${timeout}s, killing" >&2
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		_dockerd_alive "$pid" || return 0
		sleep 0.1
	done
	echo "dockerd_stop: PID $pid survived KILL" >&2
	return 1
}

dockerd_stop() {
	local dir=${1:?dockerd_stop: DIR missing}
	local pid cpid rc=0

	[ -d "$dir" ] && dir=$(cd "$dir" && pwd)
	pid=$(cat "$dir/dockerd.bgpid" 2>/dev/null || cat "$dir/dockerd.pid" 2>/dev/null)
	cpid=$(cat "$dir/containerd.bgpid" 2>/dev/null)
	# Only PIDs recorded in DIR are touched.
	if _dockerd_ours "$pid" dockerd; then
		_dockerd_kill_wait "$pid" "$DOCKERD_STOP_TIMEOUT" || rc=1
		# Reap it if it is our child (no-op otherwise).
		wait "$pid" 2>/dev/null || true
	fi
	if _dockerd_ours "$cpid" containerd; then
		_dockerd_kill_wait "$cpid" 10 || rc=1
	fi
	rm -f "$dir/dockerd.bgpid" "$dir/containerd.bgpid"
	if [ "${DOCKER_HOST:-}" = "unix://$dir/docker.sock" ]; then
		unset DOCKER_HOST
	fi
	return $rc
}
