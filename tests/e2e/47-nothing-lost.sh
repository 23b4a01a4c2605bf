#!/bin/bash
# Nothing lost (issue 16): concurrent tag/untag/convert keep every name, a
# failed run into an existing layout leaves no blob behind, a destination that
# is its own source is refused, and the smaller things (symlinked archive
# destinations, 255-byte names, control characters, one temporary-name
# pattern, verify's note and ferry prune).
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"

UNREF=$repo/tests/e2e/unreferenced.py
unref_count() { python3 "$UNREF" "$1" | grep -c .; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
names_of() { "$FERRY" ls --json "$1" 2>/dev/null | jq -r '.images[].names[]' 2>/dev/null | LC_ALL=C sort | xargs; }

# shellcheck source=tests/lib/mounts.sh
. "$repo/tests/lib/mounts.sh"

"$FERRY" convert -q "$SAMPLE" L/ >/dev/null 2>&1
tap_is "$(names_of L)" "$SAMPLE_NAMES" "input: a layout of the sample"

# ---- 1. concurrent writers keep every name ----------------------------------------
lost=0
for round in $(seq 20); do
	rm -rf M && cp -a L M
	"$FERRY" tag M example/app:13 c.io/a:"$round" 2>>conc.err &
	"$FERRY" tag M example/base:1.0 c.io/b:"$round" 2>>conc.err &
	"$FERRY" untag M example/tool:2.1 2>>conc.err &
	"$FERRY" convert -q --image example/tool:2.1 --tag example/tool:2.1=c.io/c:"$round" "$SAMPLE" M 2>>conc.err &
	wait
	want="c.io/a:$round c.io/b:$round c.io/c:$round docker.io/example/app:13 docker.io/example/base:1.0"
	got=$(names_of M | tr ' ' '\n' | grep -v 'example/tool' | sed 's|^docker.io/c.io|c.io|' | xargs)
	[ "$got" = "$want" ] || { lost=$((lost + 1)); tap_diag "round $round: $got"; }
done
tap_is "$lost" 0 "layout: 20 rounds of tag, tag, untag and convert at once lose no name"
tap_is "$(cat conc.err 2>/dev/null)" "" "layout: none of them failed"
tap_ok "layout: it verifies after all that" "$FERRY" verify M

lost=0
for round in $(seq 10); do
	cp "$SAMPLE" a.tar
	"$FERRY" tag a.tar example/app:13 c.io/a:1 2>>conc-tar.err &
	"$FERRY" tag a.tar example/base:1.0 c.io/b:1 2>>conc-tar.err &
	"$FERRY" untag a.tar example/tool:2.1 2>>conc-tar.err &
	wait
	got=$(names_of a.tar | xargs)
	[ "$got" = "docker.io/c.io/a:1 docker.io/c.io/b:1 docker.io/example/app:13 docker.io/example/base:1.0" ] ||
		[ "$got" = "c.io/a:1 c.io/b:1 docker.io/example/app:13 docker.io/example/base:1.0" ] ||
		{ lost=$((lost + 1)); tap_diag "tar round $round: $got"; }
done
tap_is "$lost" 0 "archive: 10 rounds of tag, tag and untag at once on one .tar lose no name"
tap_is "$(cat conc-tar.err 2>/dev/null)" "" "archive: none of them failed"

# ---- 3. a failed run into an existing layout leaves no blob ------------------------
python3 "$repo/tests/hostile/make-images.py" big 1024 >/dev/null 2>&1
if tap_ok "disk full: mount a 3 MB filesystem" small_fs "$TAP_TMP/full" 3M; then
	"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" full/E/ >/dev/null 2>&1
	n0=$(blob_count full/E)
	idx=$(sha full/E/index.json)
	"$FERRY" convert -q big full/E >full.err 2>&1
	tap_is "$?" 1 "disk full: converting 3 MB into the existing layout fails (exit 1)"
	tap_is "$(sha full/E/index.json)" "$idx" "disk full: index.json unchanged"
	tap_is "$(blob_count full/E)" "$n0" "disk full: as many blobs as before ($n0), none left behind"
	tap_is "$(unref_count full/E)" 0 "disk full: no unreferenced blob"
fi

# SIGINT while a one-pass source stalls: blobs already written must go.
"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" E/ >/dev/null 2>&1
"$FERRY" convert -q big big-oci.tar --format oci-archive >/dev/null 2>&1
# A tar whose metadata comes first, then the layers: the run writes blobs
# before the stream stops.
mkdir -p x && tar xf big-oci.tar -C x
(cd x && tar cf ../meta-first.tar oci-layout index.json $(ls -S -r blobs/sha256 | sed 's|^|blobs/sha256/|'))
size=$(stat -c %s meta-first.tar)
idx=$(sha E/index.json)
mkfifo stall.fifo
(head -c $((size - 600000)) meta-first.tar; exec sleep 30) >stall.fifo 2>/dev/null &
feeder=$!
"$FERRY" convert -q oci-archive:stall.fifo E >int.err 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ "$(find E/blobs/sha256 -newer E/index.json -type f | wc -l)" -ge 2 ] && break
	sleep 0.1
done
tap_like "$(find E/blobs/sha256 -newer E/index.json -type f | wc -l)" '^[2-9]' \
	"SIGINT: the stalled run has written blobs into the layout"
t0=$(now_ms)
kill -INT "$pid"
wait "$pid"
rc=$?
ms=$(($(now_ms) - t0))
tap_is "$rc" 130 "SIGINT: exit 130"
tap_ok "SIGINT: a run stalled on its source ends within a second or so (${ms} ms)" test "$ms" -lt 2000
kill "$feeder" 2>/dev/null
wait "$feeder" 2>/dev/null
tap_is "$(sha E/index.json)" "$idx" "SIGINT: index.json unchanged"
tap_is "$(unref_count E)" 0 "SIGINT: the blobs it added are gone, none unreferenced"
tap_ok "SIGINT: the layout verifies" "$FERRY" verify E

# ---- verify notes unreferenced blobs, prune removes them --------------------------
rm -rf P && cp -a L P
"$FERRY" untag P example/tool:2.1 >/dev/null 2>&1
n_un=$(unref_count P)
tap_like "$n_un" '^[1-9]' "untag leaves blobs nothing references ($n_un)"
tap_ok "verify: an untagged layout still verifies (exit 0)" "$FERRY" verify P
tap_like "$(cat "$TAP_OUT")" "note: P: $n_un blobs .* referenced by nothing" "verify: notes them"
tap_is "$("$FERRY" verify --json P 2>/dev/null | jq '.unreferenced | length')" "$n_un" "verify --json lists them"
tap_ok "prune --dry-run" "$FERRY" prune --dry-run P
tap_is "$(unref_count P)" "$n_un" "prune --dry-run removes nothing"
tap_ok "prune" "$FERRY" prune P
tap_is "$(unref_count P)" 0 "prune: nothing unreferenced left"
tap_is "$(names_of P)" "docker.io/example/app:13 docker.io/example/base:1.0" "prune: the names stay"
tap_ok "prune: the layout verifies" "$FERRY" verify P
tap_is "$(image_facts P)" "$(image_facts L | grep -v "$ID_TOOL")" "prune: the images left are whole"
tap_fails "prune refuses an archive" "$FERRY" prune "$SAMPLE"

# ---- 4. a source overwritten by itself --------------------------------------------
cp "$SAMPLE" s.tar
ln -s s.tar s-link.tar
ln s.tar s-hard.tar
sum=$(sha s.tar)
for dst in s.tar s-link.tar s-hard.tar ./s.tar docker-archive:s.tar; do
	"$FERRY" convert -q --image example/app:13 s.tar "$dst" >self.err 2>&1
	tap_is "$?" 2 "convert s.tar $dst: refused (exit 2)"
	tap_like "$(cat self.err)" "source itself.*ferry tag" "convert s.tar $dst: says why and points to tag"
done
tap_is "$(sha s.tar)" "$sum" "the source archive is unchanged"
sums=$(tree_sums L)
for dst in L L/ oci:L L/blobs/inner/ L/x.tar; do
	"$FERRY" convert -q L "$dst" >self.err 2>&1
	tap_is "$?" 2 "convert L $dst: refused (exit 2)"
done
tap_is "$(tree_sums L)" "$sums" "the source layout is unchanged"

# A symlink as an archive destination is refused; what it points to is unchanged.
cp "$SAMPLE" target.tar
ln -s target.tar link.tar
sum=$(sha target.tar)
"$FERRY" convert -q "$SAMPLE" link.tar >link.err 2>&1
tap_is "$?" 2 "a symlink as a .tar destination is refused (exit 2)"
tap_ok "the link is still a link" test -L link.tar
tap_is "$(sha target.tar)" "$sum" "its target is unchanged"

# ---- smaller things --------------------------------------------------------------
long=$(printf 'a%.0s' $(seq 251)).tar
tap_ok "a 255-byte archive name" "$FERRY" convert -q "$SAMPLE" "$long"
tap_is "$(names_of "$long")" "$SAMPLE_NAMES" "the 255-byte archive holds the sample"
longdir=$(printf 'b%.0s' $(seq 255))
tap_ok "a 255-byte layout name" "$FERRY" convert -q "$SAMPLE" "$longdir/"
tap_ok "tag on the 255-byte archive" "$FERRY" tag "$long" example/app:13 example/app:14

"$FERRY" ls $'no\e[31mpe.tar' >ctl.err 2>&1
tap_is "$(grep -c $'\e' ctl.err)" 0 "an escape byte in a path is not echoed"
tap_like "$(cat ctl.err)" 'no\?\[31mpe.tar' "it is shown as ?"

# tag on a layout uses the one temporary-name pattern: a leftover directory
# under the old fixed name is in nobody's way.
rm -rf T && cp -a L T && mkdir T/.ferry-tmp-index.json
tap_ok "tag on a layout does not use a fixed temporary name" "$FERRY" tag T example/app:13 example/app:99
tap_like "$(names_of T)" "example/app:99" "the new name is there"

tap_done
