#!/bin/bash
# Integrity and errors: verify finds corruption (exit 3), broken inputs fail
# cleanly (no destination, no temp files, existing layouts untouched), the
# command line refuses what it does not understand (exit 2).
# shellcheck disable=SC2016 # single-quoted scripts for bash -c, on purpose
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
# shellcheck source=tests/e2e/lib-e2e.sh
. "$(dirname "$0")/lib-e2e.sh"

app_hex=${L_APP#sha256:}

# run_rc OUTFILE cmd...: run, stdout+stderr to OUTFILE, print the exit status.
run_rc() {
	local out=$1
	shift
	"$@" >"$out" 2>&1 </dev/null
	echo $?
}

# flip_byte FILE OFFSET: change one byte in place.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the octal escape itself
	printf "\\$(printf '%03o' $(((b + 1) % 256)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# no_bad_blobs DIR: every blob file hashes to its own name.
no_bad_blobs() {
	local f bad=0
	for f in "$1"/blobs/sha256/*; do
		[ -e "$f" ] || continue
		[ "$(sha "$f")" = "$(basename "$f")" ] || { echo "bad blob: $f"; bad=1; }
	done
	return "$bad"
}

# ---- verify finds corruption ------------------------------------------------------
"$FERRY" convert -q "$SAMPLE" good/ >/dev/null 2>&1
tap_ok "precondition: a good OCI layout verifies" "$FERRY" verify good

cp -r good bad-layer
before=$(sha "bad-layer/blobs/sha256/$app_hex")
flip_byte "bad-layer/blobs/sha256/$app_hex" 600
tap_ok "corrupt: one byte of the app layer changed" test "$(sha "bad-layer/blobs/sha256/$app_hex")" != "$before"
tap_is "$(run_rc v.out "$FERRY" verify bad-layer)" 3 "corrupt layer: ferry verify exits 3"
tap_like "$(cat v.out)" "$app_hex" "corrupt layer: the message names the blob"
tap_like "$(cat v.out)" "example/app:13" "corrupt layer: the message names the image"
tap_is "$(run_rc c.out "$FERRY" convert -q bad-layer from-bad.tar)" 3 "corrupt layer: convert exits 3"
tap_like "$(cat c.out)" "$app_hex" "corrupt layer: convert names the blob"
tap_ok "corrupt layer: convert leaves no destination" test ! -e from-bad.tar
tap_is "$(ferry_temp_files .)" "" "corrupt layer: no temp files"
tap_is "$(run_rc c.out "$FERRY" convert -q --image example/base:1.0 bad-layer base-only/)" 0 \
	"corrupt layer: an image that does not use it still converts"

cp -r good bad-config
flip_byte "bad-config/blobs/sha256/${ID_TOOL#sha256:}" 10
tap_is "$(run_rc v.out "$FERRY" verify bad-config)" 3 "corrupt config: ferry verify exits 3"
tap_like "$(cat v.out)" "${ID_TOOL#sha256:}" "corrupt config: the message names the config blob"

"$FERRY" convert -q --compress gzip "$SAMPLE" good-gz/ >/dev/null 2>&1
m=$(oci_digest_of good-gz 2.1)
gz=$(jq -r '.layers[2].digest' "good-gz/blobs/sha256/${m#sha256:}" 2>/dev/null)
gz=${gz#sha256:}
tap_like "$gz" '^[0-9a-f]{64}$' "precondition: the gzip tool-version layer is known"
truncate -s -8 "good-gz/blobs/sha256/$gz"
tap_is "$(run_rc v.out "$FERRY" verify good-gz)" 3 "short gzip layer: ferry verify exits 3"
tap_like "$(cat v.out)" "$gz" "short gzip layer: the message names the blob"

cp -r good missing-blob
rm "missing-blob/blobs/sha256/$app_hex"
tap_fails "missing layer blob: ferry verify fails" "$FERRY" verify missing-blob
tap_like "$(cat "$TAP_OUT")" "$app_hex" "missing layer blob: the message names it"

"$FERRY" convert -q "$SAMPLE" da.tar >/dev/null 2>&1
mkdir da-x && tar xf da.tar -C da-x
flip_byte "da-x/blobs/sha256/$app_hex" 700
(cd da-x && tar cf ../da-bad.tar ./*)
tap_is "$(run_rc v.out "$FERRY" verify da-bad.tar)" 3 "corrupt layer in a docker-archive: ferry verify exits 3"
tap_like "$(cat v.out)" "$app_hex" "corrupt layer in a docker-archive: the message names it"

# ---- truncated archives ----------------------------------------------------------------
head -c 30000 "$SAMPLE" >trunc.tar
mkdir out
for dst in out/t-oci/ out/t.tar out/t.oci.tar; do
	extra=()
	[ "$dst" = out/t.oci.tar ] && extra=(--format oci-archive)
	rc=$(run_rc c.out "$FERRY" convert -q "${extra[@]}" trunc.tar "$dst")
	tap_like "$rc" '^[1-9][0-9]*$' "truncated -> $dst: non-zero exit ($rc)"
	tap_like "$(cat c.out)" '[Tt]runcated|ends early|unexpected end' "truncated -> $dst: says it is truncated"
	tap_like "$(cat c.out)" 'trunc\.tar' "truncated -> $dst: names the source"
	tap_ok "truncated -> $dst: no destination left behind" test ! -e "${dst%/}"
	tap_is "$(ls -A out)" "" "truncated -> $dst: no temp files next to it"
done
gzip -c "$SAMPLE" >full.tar.gz
head -c $(($(stat -c %s full.tar.gz) / 2)) full.tar.gz >trunc.tar.gz
rc=$(run_rc c.out bash -o pipefail -c '"$FERRY" convert -q - out/pipe/ <trunc.tar.gz')
tap_like "$rc" '^[1-9][0-9]*$' "truncated gzip on stdin: non-zero exit ($rc)"
tap_ok "truncated gzip on stdin: no destination left behind" test ! -e out/pipe
tap_is "$(ls -A out)" "" "truncated gzip on stdin: no temp files"
rc=$(run_rc c.out bash -c '"$FERRY" convert -q trunc.tar - >out.stdout')
tap_like "$rc" '^[1-9][0-9]*$' "truncated -> stdout: non-zero exit ($rc)"
tap_fails "truncated: ferry verify fails" "$FERRY" verify trunc.tar
tap_fails "truncated: ferry ls fails" "$FERRY" ls trunc.tar

# ---- existing destinations ----------------------------------------------------------------
mkdir notoci && echo "keep me" >notoci/file.txt
for dst in notoci notoci/ oci:notoci; do
	rc=$(run_rc c.out "$FERRY" convert -q "$SAMPLE" "$dst")
	tap_like "$rc" '^[1-9][0-9]*$' "non-empty non-OCI directory $dst: refused ($rc)"
	tap_like "$(cat c.out)" 'notoci' "non-empty non-OCI directory $dst: message names it"
	tap_is "$(ls -A notoci)" "file.txt" "non-empty non-OCI directory $dst: left as it was"
done
tap_is "$(cat notoci/file.txt)" "keep me" "non-empty non-OCI directory: file untouched"

"$FERRY" convert -q --image example/base:1.0 "$SAMPLE" layout/ >/dev/null 2>&1
idx=$(sha layout/index.json)
sums=$(tree_sums layout)
tap_is "$(oci_refs layout)" "1.0" "precondition: existing layout holds example/base:1.0"
tap_is "$(run_rc c.out "$FERRY" convert -q bad-layer layout)" 3 "failing convert into an existing layout: exit 3"
tap_is "$(sha layout/index.json)" "$idx" "failing convert into an existing layout: index.json unchanged"
tap_ok "failing convert into an existing layout: every blob matches its name" no_bad_blobs layout
tap_ok "failing convert into an existing layout: still verifies" "$FERRY" verify layout
tap_is "$(find layout -name '.*' | wc -l)" 0 "failing convert into an existing layout: no temp files in it"
rc=$(run_rc c.out "$FERRY" convert -q trunc.tar layout)
tap_like "$rc" '^[1-9][0-9]*$' "truncated source into an existing layout: fails ($rc)"
tap_is "$(sha layout/index.json)" "$idx" "truncated source into an existing layout: index.json unchanged"
tap_is "$(LC_ALL=C comm -23 <(LC_ALL=C sort <<<"$sums") <(tree_sums layout | LC_ALL=C sort))" "" \
	"truncated source into an existing layout: every file it had is still there, unchanged"
tap_ok "truncated source into an existing layout: every blob matches its name" no_bad_blobs layout
tap_is "$(find layout -name '.*' | wc -l)" 0 "truncated source into an existing layout: no temp files in it"

# ---- command line --------------------------------------------------------------------
tap_is "$(run_rc c.out "$FERRY" frobnicate)" 2 "unknown command: exit 2"
tap_like "$(cat c.out)" frobnicate "unknown command: message names it"
tap_is "$(run_rc c.out "$FERRY")" 2 "no command: exit 2"
for args in "convert" "convert $SAMPLE" "ls" "verify" "tag" "tag da.tar" "untag"; do
	# shellcheck disable=SC2086 # split into words on purpose
	tap_is "$(run_rc c.out "$FERRY" $args)" 2 "missing arguments (ferry ${args/$SAMPLE/SRC}): exit 2"
done
tap_is "$(run_rc c.out "$FERRY" ls "$SAMPLE" extra)" 2 "ls with two locations: exit 2"
tap_is "$(run_rc c.out "$FERRY" convert --no-such-option "$SAMPLE" x/)" 2 "unknown option: exit 2"
tap_like "$(cat c.out)" 'no-such-option' "unknown option: message names it"
tap_is "$(run_rc c.out "$FERRY" convert --compress lzma "$SAMPLE" x/)" 2 "--compress lzma: exit 2"
tap_like "$(cat c.out)" 'lzma' "--compress lzma: message names it"
tap_is "$(run_rc c.out "$FERRY" convert --format tarball "$SAMPLE" x/)" 2 "--format tarball: exit 2"
tap_ok "bad options wrote nothing" test ! -e x
tap_is "$(run_rc c.out "$FERRY" ls does-not-exist.tar)" 5 "missing source: exit 5"
tap_like "$(cat c.out)" 'does-not-exist\.tar' "missing source: message names it"
head -c 3000 /dev/urandom >junk.bin
tap_is "$(run_rc c.out "$FERRY" ls junk.bin)" 4 "not an image: exit 4"
tap_like "$(cat c.out)" 'junk\.bin' "not an image: message names it"

tap_ok "ferry --version" "$FERRY" --version
tap_like "$(cat "$TAP_OUT")" '^ferry [0-9]+\.[0-9]+' "ferry --version prints 'ferry X.Y'"
tap_ok "ferry --help" "$FERRY" --help
for c in convert ls verify tag untag; do
	a=$("$FERRY" help "$c" 2>&1)
	rc_a=$?
	b=$("$FERRY" "$c" --help 2>&1)
	rc_b=$?
	tap_is "$rc_a $rc_b" "0 0" "ferry help $c and ferry $c --help exit 0"
	tap_is "$a" "$b" "ferry help $c equals ferry $c --help"
	tap_like "$a" "^Usage: ferry $c " "ferry help $c starts with its usage"
done
tap_is "$(run_rc c.out "$FERRY" help frobnicate)" 2 "ferry help on an unknown command: exit 2"

tap_done
