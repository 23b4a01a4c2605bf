# shellcheck shell=bash
# Tiny TAP producer for tests/e2e/*.sh. Source it, then:
#
#   tap_ok NAME cmd args...       ok if cmd exits 0
#   tap_fails NAME cmd args...    ok if cmd exits non-zero (error paths)
#   tap_is GOT EXPECTED NAME      ok if the two strings are equal
#   tap_like GOT REGEX NAME       ok if GOT matches the extended regex
#   tap_skip NAME REASON          a skipped test
#   tap_diag TEXT...              a "# " comment line
#   tap_done                      prints the plan 1..N and exits (1 if any failed)
#
#   need_tool TOOL...             0 if all are on PATH, else says which are not
#   $TAP_TMP                      a fresh directory for this script, under
#                                 $FERRY_TEST_TMP (removed by the runner)
#   $TAP_OUT                      file holding the stdout+stderr of the last
#                                 tap_ok/tap_fails command
#   $FERRY, $FERRY_FIXTURES       the ferry binary and fixtures directory
#
# The plan is printed at the end, so a script that dies half-way has no plan
# and the runner counts it as failed.

TAP_N=0
TAP_FAILED=0

_tap_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${FERRY:=$_tap_repo/build/ferry}"
: "${FERRY_FIXTURES:=$_tap_repo/fixtures}"
export FERRY FERRY_FIXTURES

if [ -z "${FERRY_TEST_TMP:-}" ]; then
	# Run by hand, outside tests/run-tests.sh: clean up after ourselves.
	FERRY_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-test.XXXXXX")
	export FERRY_TEST_TMP
	trap 'rm -rf "$FERRY_TEST_TMP"' EXIT
fi
TAP_TMP=$(mktemp -d "$FERRY_TEST_TMP/$(basename "$0" .sh).XXXXXX")
TAP_OUT=$TAP_TMP/.tap-output

# '#' in a description would start a directive: escape it.
_tap_name() {
	printf '%s' "${1//#/\\#}"
}

# Print stdin as "# " comment lines.
_tap_comment() {
	sed 's/^/# /'
}

_tap_result() {	# _tap_result PASSED NAME
	TAP_N=$((TAP_N + 1))
	if [ "$1" = 1 ]; then
		echo "ok $TAP_N - $(_tap_name "$2")"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $(_tap_name "$2")"
	fi
}

_tap_run() {	# _tap_run WANT_SUCCESS NAME cmd...
	local want=$1 name=$2 rc
	shift 2
	"$@" >"$TAP_OUT" 2>&1 </dev/null
	rc=$?
	if { [ "$want" = 1 ] && [ $rc -eq 0 ]; } ||
	   { [ "$want" = 0 ] && [ $rc -ne 0 ]; }; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name"
	{
		printf 'command:'
		printf ' %q' "$@"
		echo
		if [ "$want" = 1 ]; then
			echo "exit status: $rc (expected 0)"
		else
			echo "exit status: 0 (expected failure)"
		fi
		echo "output:"
		cat "$TAP_OUT"
	} | _tap_comment
	return 1
}

tap_ok() {
	_tap_run 1 "$@"
}

tap_fails() {
	_tap_run 0 "$@"
}

tap_is() {
	local got=$1 expected=$2 name=$3
	if [ "$got" = "$expected" ]; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name"
	{
		echo "     got: '$got'"
		echo "expected: '$expected'"
	} | _tap_comment
	return 1
}

tap_like() {
	local got=$1 re=$2 name=$3
	if [[ $got =~ $re ]]; then
		_tap_result 1 "$name"
		return 0
	fi
	_tap_result 0 "$name"
	{
		echo "     got: '$got'"
		echo "expected to match: $re"
	} | _tap_comment
	return 1
}

tap_skip() {
	local name=$1 reason=${2:-}
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $(_tap_name "$name") # SKIP $reason"
}

tap_diag() {
	echo "$*" | _tap_comment
}

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ] && exit 0
	exit 1
}

need_tool() {
	local t missing=()
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	tap_diag "missing tool(s): ${missing[*]}"
	return 1
}
