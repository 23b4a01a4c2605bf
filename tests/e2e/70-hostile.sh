#!/bin/bash
# Hostile inputs: every case of the corpus tests/hostile/make-corpus.py writes
# (see cases.tsv there) goes through ferry ls, ferry verify, ferry convert to
# an OCI directory and ferry convert to a .tar (and, for cases whose layers
# they recompress, convert --compress gzip or zstd to an OCI directory).
# Each run must exit with the documented code (never a signal or a
# sanitizer's), print a one-line "ferry: ..." error naming the problem,
# leave no destination and no temporary files, and change nothing outside
# its destination: the whole sandbox it runs in (corpus, victims planted
# where "../" and absolute names would land, its TMPDIR) is compared before
# and after.
#
# FERRY_HOSTILE_ONLY=SUBSTRING runs only the matching cases (when debugging).
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=$TAP_TMP/sandbox
work=$sandbox/a/b	# ferry runs here; out/ and out.tar are its destinations
corpus=$sandbox/corpus
mkdir -p "$work" "$sandbox/tmp" "$sandbox/a/tmp"
# Victims where an archive's "../", "../../" or absolute names would land,
# seen from the destination, from the working directory or from the corpus.
for d in "$sandbox" "$sandbox/a" "$work"; do
	for v in victim manifest.json index.json; do
		printf 'original %s\n' "$v" >"$d/$v"
	done
done

if ! python3 "$repo/tests/hostile/make-corpus.py" "$corpus" --abs-target "$sandbox/victim" \
	>"$TAP_OUT" 2>&1; then
	tap_ok "generate the hostile corpus" false
	tap_diag "$(cat "$TAP_OUT")"
	tap_done
fi
n_cases=$(grep -vc '^#' "$corpus/cases.tsv")
tap_ok "the corpus has at least 100 cases ($n_cases)" test "$n_cases" -ge 100

# The sandbox as a list: every entry with its type and mode; files with size,
# mtime and link target.  (Directory mtimes change when ferry creates and
# removes its temporary files; that is allowed, only their contents count.)
snapshot() {
	find "$sandbox" \( -type d -printf '%y %p %m\n' \) -o -printf '%y %p %s %m %T@ %l\n' | LC_ALL=C sort
}
victim_sums() {
	find "$sandbox" -maxdepth 3 \( -name victim -o -name manifest.json -o -name index.json \) \
		-not -path "$corpus/*" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
}
baseline=$(snapshot)
victims=$(victim_sums)

# check CASE CMD WANT_EXIT MESSAGE MODE ferry-args...
# WANT_EXIT 0: no "ferry: " line on stderr; a destination written must be
#   readable (MESSAGE "verify-output": must pass ferry verify), then it is removed.
# MODE one: a single "ferry: " line containing MESSAGE (case-insensitive).
# MODE verify: verify's problem report: every line "ferry: ", one containing
#   MESSAGE, the last one "N problem(s) found".
check() {
	local name=$1 cmd=$2 want=$3 msg=$4 mode=$5 rc err why=() dest=
	shift 5
	case $cmd in
	dir | gzip | zstd) dest=$work/out ;;
	tar) dest=$work/out.tar ;;
	esac
	(cd "$work" && TMPDIR=$sandbox/tmp "$FERRY" "$@" >/dev/null 2>"$sandbox/a/tmp/stderr" </dev/null)
	rc=$?
	err=$(cat "$sandbox/a/tmp/stderr")
	rm -f "$sandbox/a/tmp/stderr"
	if [ "$rc" -ge 128 ]; then
		why+=("killed by signal $((rc - 128)) (exit $rc)")
	elif [ "$rc" != "$want" ]; then
		why+=("exit $rc, expected $want")
	fi
	if [ "$want" = 0 ]; then
		if grep -q '^ferry: ' <<<"$err"; then
			why+=("unexpected error or warning output")
		fi
		if [ -n "$dest" ] && [ "$rc" = 0 ]; then
			if [ "$msg" = verify-output ]; then
				"$FERRY" verify "$dest" >/dev/null 2>&1 || why+=("the output does not pass ferry verify")
			else
				"$FERRY" ls "$dest" >/dev/null 2>&1 || why+=("ferry ls cannot read the output")
			fi
		fi
		rm -rf "$dest"
	elif [ "$mode" = verify ]; then
		if grep -qv '^ferry: ' <<<"$err"; then
			why+=("a line of stderr does not start with 'ferry: '")
		fi
		if ! grep -qiF -- "$msg" <<<"$err"; then
			why+=("no problem mentions '$msg'")
		fi
		if ! tail -n1 <<<"$err" | grep -Eq '[0-9]+ problems? found$'; then
			why+=("the last line is not the problem count")
		fi
	else
		if [ "$(wc -l <<<"$err")" != 1 ] || [[ $err != "ferry: "* ]]; then
			why+=("stderr is not one 'ferry: ' line")
		fi
		if ! grep -qiF -- "$msg" <<<"$err"; then
			why+=("the error does not mention '$msg'")
		fi
	fi
	if [ "$rc" != 0 ] && [ -n "$dest" ] && [ -e "$dest" ]; then
		why+=("the destination $(basename "$dest") exists after a failure")
		rm -rf "$dest"
	fi
	local left
	left=$(find "$work" "$sandbox/tmp" -mindepth 1 -maxdepth 1 -name '.*' -printf '%f ')
	[ -z "$left" ] || why+=("temporary files left: $left")
	local now
	now=$(snapshot)
	if [ "$now" != "$baseline" ]; then
		why+=("the sandbox changed outside the destination")
		tap_diag "$(diff <(echo "$baseline") <(echo "$now") | head -20)"
		# Start the next run from a clean state, so one failure does not fail them all.
		find "$work" "$sandbox/tmp" -mindepth 1 -maxdepth 1 \
			-not -name victim -not -name manifest.json -not -name index.json -exec rm -rf {} +
		baseline=$(snapshot)
	fi
	[ "$(victim_sums)" = "$victims" ] || why+=("a victim file was changed")
	local label="$name: ${cmd}: exit $want" problems=
	[ "$want" != 0 ] && label+=", says '$msg'"
	[ ${#why[@]} -eq 0 ] || problems=$(printf '%s; ' "${why[@]}")
	if ! tap_is "$problems" "" "$label"; then
		tap_diag "stderr: $(head -c 600 <<<"$err")"
	fi
}

while IFS=$'\t' read -r name want msg stage dir_want commands; do
	case $name in '#'* | '') continue ;; esac
	[[ $name == *"${FERRY_HOSTILE_ONLY:-}"* ]] || continue
	src=$corpus/$name
	for cmd in ${commands//,/ }; do
		case $cmd in
		ls) args=(ls "$src") ;;
		verify) args=(verify "$src") ;;
		dir) args=(convert -q "$src" out/) ;;
		tar) args=(convert -q "$src" out.tar) ;;
		gzip | zstd) args=(convert -q --compress "$cmd" "$src" out/) ;;
		*)
			tap_ok "$name: unknown command '$cmd' in cases.tsv" false
			continue
			;;
		esac
		if [ "$want" = 0 ]; then
			# Controls look hostile but are valid: everything works, the output verifies.
			check "$name" "$cmd" 0 verify-output one "${args[@]}"
		elif [ "$stage" = open ]; then
			w=$want
			[ "$cmd" = dir ] && w=$dir_want
			check "$name" "$cmd" "$w" "$msg" one "${args[@]}"
		else
			# The trap is in layer bytes: ls does not read them, verify reports them.
			case $cmd in
			ls) check "$name" ls 0 - one "${args[@]}" ;;
			verify) check "$name" verify 3 "$msg" verify "${args[@]}" ;;
			dir) check "$name" dir "$dir_want" "$msg" one "${args[@]}" ;;
			tar | gzip | zstd) check "$name" "$cmd" "$want" "$msg" one "${args[@]}" ;;
			esac
		fi
	done
done <"$corpus/cases.tsv"

tap_done
