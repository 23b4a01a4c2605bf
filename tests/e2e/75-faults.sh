#!/bin/bash
# Crashes and faults: ferry killed with SIGKILL at random moments, a full
# disk, two writers on one layout, a read-only destination, a missing
# destination parent, a source that ends mid-stream, an unreadable source,
# and valgrind over the main conversions.  Whatever happens, a destination
# is either exactly as it was or complete and valid; errors are one clear
# line; nothing temporary is left once a normal run has followed.
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
SAMPLE=$FERRY_FIXTURES/sample.tar
cd "$TAP_TMP" || exit 1

# ---- mounts made here are undone on any exit ------------------------------------
perm_dir=
cleanup_faults() {
	[ -z "$perm_dir" ] || rm -rf "$perm_dir"
}
# Keep tap.sh's own EXIT trap (set when run by hand), after ours.
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_faults; $prev_trap" EXIT
# shellcheck source=tests/lib/mounts.sh
. "$repo/tests/lib/mounts.sh"

# ---- helpers -----------------------------------------------------------------------
sha() { sha256sum "$@" | cut -d' ' -f1; }
tree_sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }
names_of() {
	"$FERRY" ls --json "$1" 2>/dev/null | jq -r '.images[].names[]' 2>/dev/null | LC_ALL=C sort | xargs
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Anything ferry names as temporary: .NAME.ferry-PID-XXXXXX, .ferry-tmp-NAME.
temp_files() {
	local d
	for d in "$@"; do
		[ -d "$d" ] && find "$d" -maxdepth 1 -mindepth 1 \( -name '*.ferry-*' -o -name '.ferry-tmp*' \) -printf '%p '
	done
}
# run_rc OUTFILE cmd...: stdout+stderr to OUTFILE, print the exit status.
run_rc() {
	local out=$1
	shift
	"$@" >"$out" 2>&1 </dev/null
	echo $?
}
# one_error FILE REGEX: FILE is one "ferry: " line matching REGEX.
one_error() {
	[ "$(wc -l <"$1")" = 1 ] && grep -q '^ferry: ' "$1" && grep -Eiq -- "$2" "$1"
}
# failed_cleanly LABEL RC FILE REGEX: non-zero, not a signal, one clear line.
failed_cleanly() {
	local label=$1 rc=$2 f=$3 re=$4
	tap_like "$rc" '^([1-9]|[1-9][0-9]|1[01][0-9]|12[0-7])$' "$label: fails with an exit code, not a signal ($rc)"
	if ! tap_ok "$label: one 'ferry: ' line saying /$re/" one_error "$f" "$re"; then
		tap_diag "stderr: $(head -c 600 "$f")"
	fi
}

# ---- the input: three images, megabytes of incompressible layers ----------------------
python3 "$repo/tests/hostile/make-images.py" L >/dev/null 2>&1
IN=$TAP_TMP/in.tar
"$FERRY" convert -q L "$IN" >/dev/null 2>&1
gzip -1 -c "$IN" >in.tar.gz
"$FERRY" convert -q --image example/base:1 "$IN" base-layout/ >/dev/null 2>&1
python3 "$repo/tests/hostile/make-images.py" small 600 >/dev/null 2>&1	# a smaller one
ALL="docker.io/example/app:1 docker.io/example/base:1 docker.io/example/tool:1"
tap_is "$(names_of "$IN")" "$ALL" "input: a docker-archive of three images"
tap_ok "input: it verifies" "$FERRY" verify "$IN"
tap_like "$(stat -c %s "$IN")" '^[4-9][0-9]{6}$' "input: a few MB ($(stat -c %s "$IN") bytes)"
tap_is "$(names_of base-layout)" "docker.io/example/base:1" "input: an existing layout holding one of them"

# ---- killed with SIGKILL --------------------------------------------------------------
# setup MODE DIR: prepare DIR, set DST (the destination), CMD (ferry's
# arguments) and WANT (the names a complete destination has).
setup() {
	local mode=$1 d=$2
	mkdir -p "$d"
	WANT=$ALL
	case $mode in
	new-oci)
		DST=$d/out
		CMD=(convert -q "$IN" "$DST/") ;;
	existing-oci)
		DST=$d/out
		cp -a base-layout "$DST"
		CMD=(convert -q "$IN" "$DST") ;;
	tar)
		DST=$d/out.tar
		cp "$SAMPLE" "$DST"	# replaced atomically, or not at all
		CMD=(convert -q "$IN" "$DST") ;;
	tar.gz)
		DST=$d/out.tar.gz
		CMD=(convert -q "$IN" "$DST") ;;
	one-pass)
		DST=$d/out
		CMD=(convert -q "$TAP_TMP/in.tar.gz" "$DST/") ;;
	tag-tar)
		DST=$d/out.tar
		cp "$IN" "$DST"
		CMD=(tag "$DST" example/app:1 example/app:killed)
		WANT="docker.io/example/app:1 docker.io/example/app:killed docker.io/example/base:1 docker.io/example/tool:1" ;;
	tag-oci)
		DST=$d/out
		cp -a L "$DST"
		CMD=(tag "$DST" example/app:1 example/app:killed)
		WANT="docker.io/example/app:1 docker.io/example/app:killed docker.io/example/base:1 docker.io/example/tool:1" ;;
	esac
}

# state DST: what "exactly as before" compares.
state() {
	if [ -d "$1" ]; then
		tree_sums "$1"
	elif [ -e "$1" ]; then
		sha "$1"
	else
		echo absent
	fi
}

# as_before DST BEFORE: unchanged.  A layout may have gained complete,
# unreferenced blobs (content addressed, each renamed into place whole) and
# temporary files of the killed run, but what it had is intact, index.json
# included, and it still verifies.
as_before() {
	local dst=$1 before=$2
	if [ "$before" = absent ] || [ ! -d "$dst" ]; then
		[ "$(state "$dst")" = "$before" ]
		return
	fi
	[ -z "$(LC_ALL=C comm -23 <(echo "$before") <(tree_sums "$dst" | LC_ALL=C sort))" ] &&
		"$FERRY" verify "$dst" >/dev/null 2>&1
}

complete() {	# complete DST WANT
	[ "$(names_of "$1")" = "$2" ] && "$FERRY" verify "$1" >/dev/null 2>&1
}

modes=(new-oci existing-oci tar tar.gz one-pass tag-tar tag-oci)
declare -A span
# A normal run of each first: it must work, and its length (in ms) bounds the
# kill delays, so that kills land while ferry is still at work.
for mode in "${modes[@]}"; do
	rm -rf warm
	setup "$mode" warm
	t0=$(now_ms)
	rc=$(run_rc warm.out "$FERRY" "${CMD[@]}")
	t=$(($(now_ms) - t0))
	tap_is "$rc" 0 "kill test: a normal $mode run works"
	tap_ok "kill test: a normal $mode run gives a complete result" complete "$DST" "$WANT"
	span[$mode]=$((t * 5 / 4 + 2))
	[ "${span[$mode]}" -le 300 ] || span[$mode]=300
done
rm -rf warm warm.out
tap_diag "kill delays: random, up to: $(for m in "${modes[@]}"; do printf '%s %sms, ' "$m" "${span[$m]}"; done)"

runs=0
killed=0
# 8 rounds of every mode (56 kills); 3 under ASan, whose slower runs give
# each kill a wider window anyway.
rounds=8
[ -z "${FERRY_TEST_SAN:-}" ] || rounds=3
for _ in $(seq "$rounds"); do
	for mode in "${modes[@]}"; do
		runs=$((runs + 1))
		d=$TAP_TMP/kill/$runs
		setup "$mode" "$d"
		before=$(state "$DST" | LC_ALL=C sort)
		delay=$((RANDOM % span[$mode]))
		"$FERRY" "${CMD[@]}" >/dev/null 2>&1 </dev/null &
		pid=$!
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid"
		rc=$?
		[ "$rc" = 137 ] && killed=$((killed + 1))
		label="kill $runs ($mode, SIGKILL after ${delay}ms, exit $rc)"
		if as_before "$DST" "$before"; then
			tap_ok "$label: the destination is as it was" true
		else
			tap_ok "$label: the destination is complete and verifies" complete "$DST" "$WANT"
		fi
		# A normal run afterwards succeeds and sweeps what the killed one left.
		rc=$(run_rc "$d.out" timeout 300 "$FERRY" "${CMD[@]}")
		left=$(temp_files "$d" "$DST" "$DST/blobs" "$DST/blobs/sha256")
		if [ "$rc" = 0 ] && [ -z "$left" ] && complete "$DST" "$WANT"; then
			tap_ok "$label: a normal run afterwards completes, no temporary files left" true
		else
			tap_ok "$label: a normal run afterwards completes, no temporary files left" false
			tap_diag "exit $rc; left: ${left:-nothing} (killed pid $pid); $(head -c 400 "$d.out")"
		fi
		rm -rf "$d" "$d.out"
	done
done
tap_diag "$killed of $runs runs were killed before they finished"

# ---- a full disk -------------------------------------------------------------------------
if ! small_fs "$TAP_TMP/full" 3M; then
	tap_ok "disk full: mount a 3 MB filesystem (tmpfs or loop ext2)" false
else
	full=$TAP_TMP/full
	nospace='No space left on device|Disk quota exceeded'
	for dst in out/ out.tar out.tar.gz oci-archive:out.oci.tar; do
		if [[ $dst == oci-archive:* ]]; then
			rc=$(run_rc full.err "$FERRY" convert -q "$IN" "oci-archive:$full/${dst#oci-archive:}")
		else
			rc=$(run_rc full.err "$FERRY" convert -q "$IN" "$full/$dst")
		fi
		failed_cleanly "disk full, convert to $dst" "$rc" full.err "$nospace"
		tap_is "$(ls -A "$full")" "" "disk full, convert to $dst: nothing left on the full disk"
	done
	# An existing layout on the full disk: it must stay as it was.
	"$FERRY" convert -q --image example/app:13 "$SAMPLE" "$full/layout/" >/dev/null 2>&1
	before=$(tree_sums "$full/layout" | LC_ALL=C sort)
	idx=$(sha "$full/layout/index.json")
	rc=$(run_rc full.err "$FERRY" convert -q "$IN" "$full/layout")
	failed_cleanly "disk full, convert into an existing layout" "$rc" full.err "$nospace"
	tap_is "$(sha "$full/layout/index.json")" "$idx" "disk full, existing layout: index.json unchanged"
	tap_is "$(LC_ALL=C comm -23 <(echo "$before") <(tree_sums "$full/layout" | LC_ALL=C sort))" "" \
		"disk full, existing layout: every file it had is unchanged"
	tap_ok "disk full, existing layout: still verifies" "$FERRY" verify "$full/layout"
	tap_is "$(temp_files "$full" "$full/layout" "$full/layout/blobs" "$full/layout/blobs/sha256")" "" \
		"disk full, existing layout: no temporary files"
	# Tag in place needs a second copy of the archive: there is no room for it.
	rm -rf "$full/layout"
	"$FERRY" convert -q small "$full/small.tar" >/dev/null 2>&1
	tap_ok "disk full: a 1.9 MB archive fits on the 3 MB disk" test -s "$full/small.tar"
	sum=$(sha "$full/small.tar")
	rc=$(run_rc full.err "$FERRY" tag "$full/small.tar" example/app:1 example/app:2)
	failed_cleanly "disk full, tag in place" "$rc" full.err "$nospace"
	tap_is "$(sha "$full/small.tar")" "$sum" "disk full, tag in place: the archive is unchanged"
	tap_is "$(ls -A "$full")" "small.tar" "disk full, tag in place: no temporary files"
fi

# ---- two writers, one layout -------------------------------------------------------------
for rep in 1 2 3 4 5 6 7 8 9 10; do
	rm -rf conc
	cp -a base-layout conc
	"$FERRY" convert -q --image example/app:1 "$IN" conc >c1.err 2>&1 </dev/null &
	p1=$!
	"$FERRY" convert -q --image example/tool:1 "$IN" conc >c2.err 2>&1 </dev/null &
	p2=$!
	wait "$p1"
	r1=$?
	wait "$p2"
	r2=$?
	got="exit $r1 $r2; names $(names_of conc); verify $("$FERRY" verify conc >/dev/null 2>&1; echo $?)"
	if ! tap_is "$got" "exit 0 0; names $ALL; verify 0" "concurrent writers $rep: both succeed, the layout has all three images and verifies"; then
		tap_diag "$(cat c1.err c2.err)"
	fi
done
tap_is "$(temp_files conc conc/blobs conc/blobs/sha256)" "" "concurrent writers: no temporary files"

# ---- a read-only destination ---------------------------------------------------------------
if ! small_fs "$TAP_TMP/ro" 16M; then
	tap_ok "read-only: mount a filesystem" false
else
	ro=$TAP_TMP/ro
	"$FERRY" convert -q small "$ro/small.tar" >/dev/null 2>&1
	cp -a base-layout "$ro/layout"
	ro_before=$(cd "$ro" && find . -printf '%p %s %T@\n' | LC_ALL=C sort)
	if ! mount -o remount,ro "$ro" 2>/dev/null; then
		tap_ok "read-only: remount read-only" false
	else
		rofs='Read-only file system'
		rc=$(run_rc ro.err "$FERRY" convert -q "$IN" "$ro/out/")
		failed_cleanly "read-only, convert to a new layout" "$rc" ro.err "$rofs"
		rc=$(run_rc ro.err "$FERRY" convert -q "$IN" "$ro/out.tar")
		failed_cleanly "read-only, convert to a .tar" "$rc" ro.err "$rofs"
		rc=$(run_rc ro.err "$FERRY" convert -q "$IN" "$ro/layout")
		failed_cleanly "read-only, convert into an existing layout" "$rc" ro.err "$rofs|$ro/layout"
		rc=$(run_rc ro.err "$FERRY" tag "$ro/small.tar" example/app:1 example/app:2)
		failed_cleanly "read-only, tag an archive in place" "$rc" ro.err "$rofs"
		rc=$(run_rc ro.err "$FERRY" tag "$ro/layout" example/base:1 example/base:2)
		failed_cleanly "read-only, tag a layout in place" "$rc" ro.err "$rofs|$ro/layout"
		tap_is "$(cd "$ro" && find . -printf '%p %s %T@\n' | LC_ALL=C sort)" "$ro_before" \
			"read-only: nothing changed on it"
		tap_ok "read-only: ferry verify still reads the layout there" "$FERRY" verify "$ro/layout"
	fi
fi

# ---- a destination whose parent does not exist -------------------------------------------
for dst in nope/sub/out/ nope/sub/out.tar; do
	rc=$(run_rc np.err "$FERRY" convert -q "$SAMPLE" "$dst")
	failed_cleanly "missing parent directory ($dst)" "$rc" np.err 'nope/sub'
	tap_ok "missing parent directory ($dst): nothing created" test ! -e nope
done

# ---- a source that ends mid-stream: a FIFO whose writer is killed -----------------------
# The writer sends half of the archive, then SIGKILLs itself.
half_then_die='import os, sys
data = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "wb") as f:
    f.write(data[:len(data) // 2])
    f.flush()
    os.kill(os.getpid(), 9)'
mkdir -p fifo-dst
mkfifo src.fifo
timeout 60 python3 -c "$half_then_die" src.fifo "$IN" 2>/dev/null &
rc=$(run_rc fifo.err timeout 120 "$FERRY" convert -q src.fifo fifo-dst/out/)
wait
failed_cleanly "source FIFO cut off mid-stream" "$rc" fifo.err 'truncated|ends early|unexpected end'
tap_is "$(ls -A fifo-dst)" "" "source FIFO cut off mid-stream: no destination, no temporary files"
# shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
rc=$(run_rc fifo.err timeout 120 bash -c \
	'python3 -c "$1" /dev/stdout "$2" 2>/dev/null | "$FERRY" convert -q - fifo-dst/out.tar' _ "$half_then_die" "$IN")
failed_cleanly "stdin cut off mid-stream" "$rc" fifo.err 'truncated|ends early|unexpected end'
tap_is "$(ls -A fifo-dst)" "" "stdin cut off mid-stream: no destination, no temporary files"

# ---- an unreadable source ---------------------------------------------------------------
# Root reads anything, so ferry runs as nobody here, in a directory of its own.
perm_dir=$(mktemp -d /tmp/ferry-perm.XXXXXX)
chmod 755 "$perm_dir"
cp "$SAMPLE" "$perm_dir/src.tar"
chmod 000 "$perm_dir/src.tar"
cp -a base-layout "$perm_dir/layout"
chmod -R a+rX "$perm_dir/layout"
chmod 000 "$perm_dir/layout/index.json"
mkdir "$perm_dir/dst"
chmod 777 "$perm_dir/dst"
as_nobody() { (cd "$perm_dir" && setpriv --reuid=65534 --regid=65534 --clear-groups "$@"); }
if ! as_nobody "$FERRY" --version >/dev/null 2>&1; then
	tap_skip "unreadable source" "cannot run $FERRY as nobody (setpriv), and root reads any file"
else
	rc=$(run_rc perm.err as_nobody "$FERRY" convert -q src.tar dst/out/)
	failed_cleanly "unreadable source archive" "$rc" perm.err 'Permission denied'
	tap_like "$(cat perm.err)" 'src\.tar' "unreadable source archive: the message names it"
	rc=$(run_rc perm.err as_nobody "$FERRY" ls layout)
	failed_cleanly "unreadable index.json in a layout" "$rc" perm.err 'Permission denied'
	rc=$(run_rc perm.err as_nobody "$FERRY" convert -q layout dst/out.tar)
	failed_cleanly "unreadable layout, convert" "$rc" perm.err 'Permission denied'
	tap_is "$(ls -A "$perm_dir/dst")" "" "unreadable sources: nothing written"
fi

# ---- valgrind ------------------------------------------------------------------------------
# shellcheck disable=SC2054 # the commas belong to the option values
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect)
if grep -qa AddressSanitizer "$FERRY"; then
	tap_skip "valgrind" "$FERRY is an ASan build (valgrind cannot run it); the plain build's run covers this"
elif ! need_tool valgrind; then
	tap_ok "valgrind is installed" false
else
	tap_ok "valgrind: sample.tar -> OCI layout" "${vg[@]}" "$FERRY" convert -q "$SAMPLE" vg-oci/
	# valgrind has no openat2: reading a layout takes the component-walk fallback.
	tap_ok "valgrind: OCI layout -> docker-archive .tar" "${vg[@]}" "$FERRY" convert -q vg-oci vg.tar
	tap_ok "valgrind: OCI layout -> .tar.gz" "${vg[@]}" "$FERRY" convert -q vg-oci vg.tar.gz
	tap_ok "valgrind: OCI layout -> oci-archive" "${vg[@]}" "$FERRY" convert -q vg-oci oci-archive:vg-oci.tar
	tap_ok "valgrind: ferry verify of the layout" "${vg[@]}" "$FERRY" verify vg-oci
	tap_ok "valgrind: ferry verify of the .tar.gz" "${vg[@]}" "$FERRY" verify vg.tar.gz
	for f in vg.tar vg.tar.gz vg-oci.tar; do
		tap_is "$(names_of "$f")" "$(names_of "$SAMPLE")" "valgrind-made $f has the sample's images"
	done
	# The fallback must be as strict as openat2: a blob linked out of the layout is refused.
	cp -a vg-oci vg-evil
	b=$(find vg-evil/blobs/sha256 -type f -size +1k | head -n1)
	mv "$b" outside-blob
	ln -s "$TAP_TMP/outside-blob" "$b"
	rc=$(run_rc vg.err "${vg[@]}" "$FERRY" verify vg-evil)
	tap_like "$rc" '^[1-9]$' "valgrind: a blob symlinked out of the layout is refused (exit $rc)"
fi

tap_done
