#!/bin/bash
# Mutation testing: takes safety checks out of a copy of the source, one at
# a time, and checks that some test notices each time.
#
#   tests/mutants/run.sh [--list] [--no-baseline] [NAME...]
#
# The mutants are in tests/mutants/mutants.txt (the format is described
# there); NAME picks some of them.  The tree, as it is in the working
# directory (tracked and untracked files, not what .gitignore hides), is
# copied to a scratch directory and built there once (plain meson build);
# then for each mutant: apply it, rebuild, run its tests through
# tests/run-tests.sh BUILD -- TESTS..., restore the file.
#
# First, unless --no-baseline, the union of all those tests runs on the
# unchanged copy (whole: without the mutants' env: settings): it must pass,
# or no kill would mean anything.
#
# A mutant is
#   killed      its tests failed: it counts as passed
#   survived    its tests all passed
#   did not apply  its sed script did not change the file, or the file is gone
#   broken      the mutated tree does not build
# and only "killed" counts as passed.  The last line is "N passed, N failed";
# the exit status is 1 unless every mutant was killed (and the baseline
# passed).  Each run's output is kept in the log directory it names
# (FERRY_MUTANTS_LOG, default a directory under TMPDIR).
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
list=$repo/tests/mutants/mutants.txt
baseline=1
only_list=0
want=()
for a in "$@"; do
	case $a in
	--list) only_list=1 ;;
	--no-baseline) baseline=0 ;;
	-h | --help)
		sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $a" >&2
		exit 2
		;;
	*) want+=("$a") ;;
	esac
done

# ---- read mutants.txt into parallel arrays ----------------------------------------
names=() files=() scripts=() tests=() envs=() whys=()
parse_error() {
	echo "run.sh: $list:$1: $2" >&2
	exit 2
}
n=-1
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	case $line in
	'#'* | '') continue ;;
	esac
	key=${line%%:*}
	val=${line#*:}
	val=${val# }
	case $key in
	mutant)
		n=$((n + 1))
		names[n]=$val files[n]='' scripts[n]='' tests[n]='' envs[n]='' whys[n]=''
		;;
	file | sed | tests | env | why)
		[ $n -ge 0 ] || parse_error $lineno "'$key:' before any 'mutant:'"
		case $key in
		file) files[n]=$val ;;
		sed) scripts[n]+=$val$'\n' ;;
		tests) tests[n]=$val ;;
		env) envs[n]=$val ;;
		why) whys[n]=$val ;;
		esac
		;;
	*) parse_error $lineno "unknown key '$key'" ;;
	esac
done <"$list"
for i in "${!names[@]}"; do
	if [ -z "${files[i]}" ] || [ -z "${scripts[i]}" ] || [ -z "${tests[i]}" ]; then
		parse_error - "mutant ${names[i]} needs file:, sed: and tests:"
	fi
done

selected=()
for i in "${!names[@]}"; do
	if [ ${#want[@]} -eq 0 ] || printf '%s\n' "${want[@]}" | grep -qxF -- "${names[i]}"; then
		selected+=("$i")
	fi
done
for w in "${want[@]}"; do
	printf '%s\n' "${names[@]}" | grep -qxF -- "$w" || {
		echo "run.sh: no mutant called $w" >&2
		exit 2
	}
done
if [ $only_list = 1 ]; then
	for i in "${selected[@]}"; do
		printf '%-28s %-26s %s\n' "${names[i]}" "${files[i]}" "${tests[i]}"
	done
	exit 0
fi

# ---- a private copy of the tree ------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-mutants.XXXXXX")
logs=${FERRY_MUTANTS_LOG:-$work/logs}
mkdir -p "$logs"
tree=$work/src
build=$work/build
mkdir -p "$tree"
cleanup() {
	rm -rf "$tree" "$build"
	[ "$logs" = "$work/logs" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT
trap 'echo "run.sh: terminated" >&2; exit 143' TERM

echo "== copying the tree to $tree"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf -) 2>/dev/null | tar -xf - -C "$tree" || {
	echo "run.sh: cannot copy the tree (is $repo a git work tree?)" >&2
	exit 2
}
echo "== building it in $build (logs in $logs)"
if ! { meson setup "$build" "$tree" && ninja -C "$build"; } >"$logs/build.log" 2>&1; then
	echo "run.sh: the unchanged tree does not build; see $logs/build.log" >&2
	exit 1
fi

# run_tests LOGNAME ENV TEST...: the tests, through run-tests.sh, with the
# VAR=VALUE words of ENV in their environment; its status.
run_tests() {
	local log=$logs/$1.log
	local -a env
	read -ra env <<<"$2"
	shift 2
	(cd "$tree" && env "${env[@]}" tests/run-tests.sh "$build" -- "$@") >"$log" 2>&1
}

pass=0 fail=0
if [ $baseline = 1 ]; then
	# shellcheck disable=SC2207,SC2086 # one test per word
	all=($(for i in "${selected[@]}"; do printf '%s\n' ${tests[i]}; done | sort -u))
	echo "== baseline: ${all[*]} on the unchanged tree"
	if ! run_tests baseline "" "${all[@]}"; then
		echo "baseline: FAILED: $(tail -n 1 "$logs/baseline.log"); see $logs/baseline.log"
		echo "0 passed, ${#selected[@]} failed"
		exit 1
	fi
	echo "baseline: $(tail -n 1 "$logs/baseline.log")"
fi

for i in "${selected[@]}"; do
	name=${names[i]} file=${files[i]}
	target=$tree/$file
	label="mutant $name ($file)"
	if [ ! -f "$target" ]; then
		echo "$label: mutant did not apply: no such file (retarget it in mutants.txt)"
		fail=$((fail + 1))
		continue
	fi
	cp -p "$target" "$work/original"
	sed -e "${scripts[i]}" "$work/original" >"$target"
	changed=$(diff "$work/original" "$target" | grep -c '^>')
	if [ "$changed" = 0 ]; then
		echo "$label: mutant did not apply: its sed script changed nothing (retarget it in mutants.txt)"
		fail=$((fail + 1))
	elif ! ninja -C "$build" >"$logs/$name.build.log" 2>&1; then
		echo "$label: BROKEN: the mutated tree does not build; see $logs/$name.build.log"
		fail=$((fail + 1))
	else
		# shellcheck disable=SC2086 # one test per word
		if run_tests "$name" "${envs[i]}" ${tests[i]}; then
			echo "$label: SURVIVED ${tests[i]} ($(tail -n 1 "$logs/$name.log")): ${whys[i]}"
			fail=$((fail + 1))
		else
			echo "$label: killed ($changed line(s) changed; ${tests[i]}: $(tail -n 1 "$logs/$name.log"))"
			pass=$((pass + 1))
		fi
	fi
	# Restored with a new mtime (no -p), so that ninja rebuilds what the mutant changed.
	cp "$work/original" "$target"
done
# The tree is back as it was: the last restore must build.
ninja -C "$build" >"$logs/restore.log" 2>&1 || {
	echo "run.sh: the restored tree does not build; see $logs/restore.log"
	fail=$((fail + 1))
}
echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
