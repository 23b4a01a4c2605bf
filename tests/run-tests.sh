#!/bin/bash
# Runs every test program and adds up their TAP results.
#
#   tests/run-tests.sh BUILD_DIR [SANITIZER_BUILD_DIR] [-- TEST...]
#
# TEST picks a subset, for a quick run or a mutant: a unit program
# (test_tree or unit/test_tree), an e2e script (30-retag.sh, 30-retag or
# e2e/30-retag.sh), or fuzz (the fuzz smoke run, with a sanitizer build).
# Without it everything runs.
#
# With a second build (clang, -Db_sanitize=address,undefined -Dfuzz=true),
# the unit and e2e tests run again against it, and every fuzz target runs
# for FERRY_FUZZ_SECONDS (default 10).
#
# Unit tests: every executable BUILD_DIR/test_* (cmocka, TAP output).
# End-to-end: every tests/e2e/*.sh (TAP via tests/lib/tap.sh), run with one
# private dockerd for the whole run (DOCKER_HOST points at it).
# Exported to all programs: FERRY, FERRY_FIXTURES, FERRY_TEST_TMP.
#
# A program that crashes, times out, exits non-zero without reporting a
# failure, or runs a different number of tests than it planned counts as one
# extra failure. The last line is "N passed, N failed, N skipped"; the exit
# status is 1 if anything failed.
#
# Each program's line ends with its seconds; the slowest are listed at the
# end. In the sanitizer pass FERRY_TEST_SAN=1 is exported.
#
# Knobs: FERRY_TEST_TIMEOUT (seconds per program, default 600),
# VALGRIND=1 (run unit tests under valgrind, leaks are failures).
set -uo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [SANITIZER_BUILD_DIR] [-- TEST...]" >&2
	exit 2
}
dirs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	dirs+=("$1")
	shift
done
only=()
if [ $# -gt 0 ]; then
	shift
	[ $# -gt 0 ] || usage
	only=("$@")
fi
if [ ${#dirs[@]} -lt 1 ] || [ ${#dirs[@]} -gt 2 ]; then usage; fi
set -- "${dirs[@]}"
san=
if [ $# -eq 2 ]; then
	san=$(cd "$2" 2>/dev/null && pwd) || {
		echo "run-tests: build directory '$2' does not exist" >&2
		exit 2
	}
fi

# selected KIND NAME: is this program in the subset (or is there none)?
selected() {
	local want
	[ ${#only[@]} -gt 0 ] || return 0
	for want in "${only[@]}"; do
		want=${want#"$1"/}
		case $1 in
		e2e) want=${want%.sh}.sh ;;
		esac
		[ "$want" = "$2" ] && return 0
	done
	return 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || {
	echo "run-tests: build directory '$1' does not exist" >&2
	exit 2
}
timeout_s=${FERRY_TEST_TIMEOUT:-600}

# shellcheck source=tests/lib/dockerd.sh
. "$repo/tests/lib/dockerd.sh"

FERRY_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-test.XXXXXX")
export FERRY_TEST_TMP
export FERRY=$build/ferry
export FERRY_FIXTURES=$repo/fixtures
export CMOCKA_MESSAGE_OUTPUT=TAP

dockerd_dir=
cleanup() {
	if [ -n "$dockerd_dir" ]; then
		dockerd_stop "$dockerd_dir" || echo "run-tests: could not stop dockerd in $dockerd_dir" >&2
	fi
	rm -rf "$FERRY_TEST_TMP"
}
trap cleanup EXIT
trap 'echo "run-tests: interrupted" >&2; exit 130' INT
trap 'echo "run-tests: terminated" >&2; exit 143' TERM

total_pass=0
total_fail=0
total_skip=0
broken=()	# programs that counted an extra failure, with the reason
timings=()	# "SECONDS LABEL" per program, for the slowest-programs summary

# Add up the TAP lines of one program's output (top-level lines only).
# Sets: n_pass n_fail n_skip n_plan (-1 if there was no plan).
count_tap() {
	local line
	n_pass=0 n_fail=0 n_skip=0 n_plan=-1
	# Directive: an unescaped '#' followed by SKIP or TODO.
	local re_skip='(^|[^\\])#[[:space:]]*[Ss][Kk][Ii][Pp]'
	local re_todo='(^|[^\\])#[[:space:]]*[Tt][Oo][Dd][Oo]'
	while IFS= read -r line; do
		case $line in
		"not ok" | "not ok "*)
			if [[ $line =~ $re_skip || $line =~ $re_todo ]]; then
				n_skip=$((n_skip + 1))
			else
				n_fail=$((n_fail + 1))
			fi
			;;
		"ok" | "ok "*)
			if [[ $line =~ $re_skip ]]; then
				n_skip=$((n_skip + 1))
			else
				n_pass=$((n_pass + 1))
			fi
			;;
		1..*)
			if [[ $line =~ ^1\.\.([0-9]+) ]]; then
				n_plan=${BASH_REMATCH[1]}
			fi
			;;
		esac
	done <"$1"
}

# run_prog LABEL cmd...
run_prog() {
	local label=$1 log rc reason= started elapsed
	shift
	log=$FERRY_TEST_TMP/.log.$$
	echo "== $label"
	started=$SECONDS
	# (No stdbuf for nicer interleaving: its LD_PRELOAD breaks ASan builds.)
	# The extra "exit" keeps bash from exec'ing timeout, so a crash report
	# ("Aborted") lands in the program's log, not in the middle of ours.
	(cd "$repo" && timeout --kill-after=10 "$timeout_s" "$@"; exit $?) \
		</dev/null >"$log" 2>&1
	rc=$?
	elapsed=$((SECONDS - started))
	timings+=("$elapsed $label")
	sed 's/^/    /' "$log"
	count_tap "$log"

	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		reason="timed out after ${timeout_s}s or was killed (status $rc)"
	elif [ $rc -gt 128 ]; then
		reason="killed by signal $((rc - 128))"
	elif [ $rc -eq 99 ] && [ "${VALGRIND:-0}" = 1 ] && [[ $label == unit/* ]]; then
		reason="valgrind reported memory errors or leaks (status 99)"
	elif [ $rc -ne 0 ] && [ $n_fail -eq 0 ]; then
		reason="exit status $rc without reporting a failed test"
	elif [ "$n_plan" -lt 0 ]; then
		reason="no TAP plan (1..N): did it stop early?"
	elif [ "$n_plan" -eq 0 ] && [ $((n_pass + n_fail + n_skip)) -eq 0 ]; then
		# "1..0 # SKIP reason": the whole program was skipped.
		n_skip=1
	elif [ "$n_plan" -ne $((n_pass + n_fail + n_skip)) ]; then
		reason="planned $n_plan tests but reported $((n_pass + n_fail + n_skip))"
	fi
	if [ -n "$reason" ]; then
		n_fail=$((n_fail + 1))
		broken+=("$label: $reason")
		echo "-- $label: BROKEN: $reason"
	fi
	echo "-- $label: $n_pass ok, $n_fail failing, $n_skip skipped ($elapsed s)"
	total_pass=$((total_pass + n_pass))
	total_fail=$((total_fail + n_fail))
	total_skip=$((total_skip + n_skip))
	rm -f "$log"
}

# A failure that belongs to no program (missing tests, bad setup).
harness_fail() {
	echo "-- harness: $1"
	broken+=("harness: $1")
	total_fail=$((total_fail + 1))
}

# ---- one suite: the unit tests of a build, then every e2e test with its ferry
e2e=()
for t in "$repo"/tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	selected e2e "$(basename "$t")" || continue
	if [ -x "$t" ]; then
		e2e+=("$t")
	else
		harness_fail "tests/e2e/$(basename "$t") is not executable (chmod +x)"
	fi
done

start_dockerd() {
	[ -z "$dockerd_dir" ] || return 0
	dockerd_dir=$FERRY_TEST_TMP/dockerd
	echo "== starting private dockerd in $dockerd_dir"
	# Even if it does not come up, DOCKER_HOST points at the private socket
	# so that docker tests fail instead of using some other daemon.
	export DOCKER_HOST=unix://$dockerd_dir/docker.sock
	if dockerd_start "$dockerd_dir"; then
		echo "   dockerd up, DOCKER_HOST=$DOCKER_HOST"
	else
		echo "   dockerd did not start; tests that need docker will fail"
		# (dockerd_start's clean-up unset it)
		export DOCKER_HOST=unix://$dockerd_dir/docker.sock
	fi
}

# run_suite BUILD_DIR LABEL_PREFIX
run_suite() {
	local b=$1 prefix=$2 t n_unit=0
	local wrapper=()
	if [ "${VALGRIND:-0}" = 1 ] && [ -z "$prefix" ]; then
		# shellcheck disable=SC2054 # the commas belong to the option values
		wrapper=(valgrind --quiet --error-exitcode=99 --leak-check=full
			--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
	fi
	for t in "$b"/test_*; do
		if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
		selected unit "$(basename "$t")" || continue
		n_unit=$((n_unit + 1))
		run_prog "${prefix}unit/$(basename "$t")" "${wrapper[@]}" "$t"
	done
	[ $n_unit -gt 0 ] || [ ${#only[@]} -gt 0 ] || harness_fail "no unit test programs (test_*) in $b"
	if [ ${#e2e[@]} -gt 0 ]; then
		start_dockerd
		export FERRY=$b/ferry
		for t in "${e2e[@]}"; do
			run_prog "${prefix}e2e/$(basename "$t")" "$t"
		done
		export FERRY=$build/ferry
	fi
}

run_suite "$build" ""

# ---- the sanitizer build: everything again under ASan+UBSan, then the fuzzers
if [ -n "$san" ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
	# Scripts see it and leave out what the first pass already proved with
	# real peers (their acceptance of our output does not change under ASan).
	export FERRY_TEST_SAN=1
	run_suite "$san" "asan-"
	if selected fuzz fuzz; then
		run_prog "fuzz/smoke" "$repo/tests/fuzz/run.sh" "$san" "${FERRY_FUZZ_SECONDS:-10}"
	fi
	unset ASAN_OPTIONS UBSAN_OPTIONS FERRY_TEST_SAN
fi

# ---- summary ------------------------------------------------------------
if [ ${#timings[@]} -gt 0 ]; then
	echo
	echo "Slowest programs (seconds):"
	printf '%s\n' "${timings[@]}" | sort -rn | head -n 12 | sed 's/^/  /'
fi
if [ ${#broken[@]} -gt 0 ]; then
	echo
	echo "Programs that failed outside their own test count:"
	printf '  %s\n' "${broken[@]}"
fi
echo
if [ ${#only[@]} -gt 0 ] && [ $((total_pass + total_fail + total_skip)) -eq 0 ]; then
	harness_fail "no test matched: ${only[*]}"
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail -eq 0 ]
