#!/bin/bash
# Runs every libFuzzer target for a bounded time, as TAP (one test per target).
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]
#
# BUILD_DIR is a clang build configured with -Dfuzz=true (see Makefile).
# Each target starts from its seed corpus in tests/fuzz/corpus/<target>/ plus the
# regression inputs in tests/fuzz/regressions/<target>/ (every past finding, kept
# so it can never come back) and must run SECONDS (default 10) without a
# crash, leak or sanitizer report.  New corpus entries go to a scratch copy,
# never into the repository.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]}
secs=${2:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
targets=(ref model archive auth list)
echo "1..${#targets[@]}"
n=0
for t in "${targets[@]}"; do
	n=$((n + 1))
	bin=$build/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "not ok $n - fuzz_$t: $bin was not built"
		continue
	fi
	mkdir -p "$work/$t"
	cp "$repo/tests/fuzz/corpus/$t/"* "$work/$t/" 2>/dev/null
	regs=()
	if [ -d "$repo/tests/fuzz/regressions/$t" ]; then
		regs=("$repo/tests/fuzz/regressions/$t"/*)
	fi
	# Regression inputs first, each run once.
	ok=1
	for r in "${regs[@]}"; do
		[ -f "$r" ] || continue
		if ! "$bin" "$r" >"$work/$t.reg.log" 2>&1; then
			ok=0
			echo "# regression input $(basename "$r") fails again:"
			sed 's/^/#   /' "$work/$t.reg.log" | tail -20
		fi
	done
	if "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
		-artifact_prefix="$work/$t-" "$work/$t" >"$work/$t.log" 2>&1 && [ $ok = 1 ]; then
		runs=$(grep -o 'Done [0-9]* runs' "$work/$t.log" | tail -1)
		echo "ok $n - fuzz_$t: ${runs:-ran} in ${secs}s"
	else
		echo "not ok $n - fuzz_$t"
		sed 's/^/#   /' "$work/$t.log" | grep -v '^#   #[0-9]' | tail -30
		for a in "$work/$t"-*; do
			[ -f "$a" ] && echo "#   finding: $(basename "$a") ($(stat -c %s "$a") bytes); keep it in tests/fuzz/regressions/$t/"
		done
	fi
done
