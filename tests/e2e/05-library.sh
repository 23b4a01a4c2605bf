#!/bin/bash
# libferry for other programs, as a user gets it from `meson install`:
#  - the installed headers are exactly include/ferry/ of the tree, in
#    include/ferry/; each compiles alone, and none pulls in an internal header
#    or a dependency's (jansson, curl, OpenSSL, ...)
#  - libferry.so.0 (soname with the ABI version) exports exactly the
#    functions the headers declare FERRY_API; libferry.a is installed too
#  - libferry.pc: examples/convert.c and examples/list.c build with
#    `pkg-config --cflags --libs libferry` against the installed copy alone,
#    linked to the shared library and (--static) to the static one, and work
#  - the pkg-config flags leave the C library's <error.h> reachable
#  - the in-tree examples (built against build/libferry.so) and the README's
#    copy of examples/convert.c
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"

BUILD=$(cd "$(dirname "$FERRY")" && pwd)
MULTI=$FERRY_FIXTURES/dialects/oci-multi

need_tool jq pkg-config nm readelf meson || {
	tap_ok "jq, pkg-config, nm, readelf and meson are installed" false
	tap_done
}

# What examples/list.c prints, from the fixtures' own files: manifest.json
# order for sample.tar (no manifest digests in a legacy save), index.json
# order for oci-multi (its nested index lists amd64 then arm64/v8; the last
# manifest has no name; the SBOM is not an image).
LIST_SAMPLE="- docker.io/example/tool:2.1 linux/amd64
- docker.io/example/base:1.0 linux/amd64
- docker.io/example/app:13 linux/amd64"
multi_digest() {
	jq -r ".manifests[$1].digest" "$MULTI/index.json"
}
LIST_MULTI="$(multi_digest 0) docker.io/example/multi:1.0 linux/amd64,linux/arm64/v8
$(multi_digest 1) registry.example.com/crane/app:v2 linux/amd64
$(multi_digest 3) :v3 linux/amd64
$(multi_digest 4)  linux/amd64"

# run_examples LABEL DIR: DIR's convert and list programs against the fixtures.
run_examples() {
	local label=$1 dir=$2
	tap_ok "$label: convert: sample.tar -> OCI layout" "$dir/convert" "$SAMPLE" "$label-oci/"
	tap_is "$(grep -c '^wrote docker.io/example/' "$TAP_OUT")" 3 "$label: convert reports each image from the events"
	tap_ok "$label: ferry verify accepts the result" "$FERRY" verify "$label-oci"
	tap_is "$(ferry_names "$label-oci")" "$SAMPLE_NAMES" "$label: every image, with its names"
	tap_is "$(image_facts "$label-oci")" "$SAMPLE_FACTS" "$label: the same configs and diff_ids"
	"$dir/convert" nonexistent.tar x/ >/dev/null 2>"$label.err"
	tap_is "$?" 5 "$label: convert exits with the library's error code (5, not found)"
	tap_is "$("$dir/list" "$SAMPLE" 2>&1)" "$LIST_SAMPLE" "$label: list: sample.tar's names and platforms"
	tap_is "$("$dir/list" "$MULTI" 2>&1)" "$LIST_MULTI" "$label: list: an index's digest and platforms, bare tags, no name"
}

# ---- the examples built in the tree, against build/libferry.so
mkdir -p tree
ln -s "$BUILD/example-convert" tree/convert
ln -s "$BUILD/example-list" tree/list
run_examples tree tree
tap_like "$(readelf -d "$BUILD/example-convert" 2>&1)" 'NEEDED.*\[libferry\.so\.0\]' \
	"tree: example-convert is linked to libferry.so.0"

# shellcheck disable=SC2016 # backquotes, not an expansion
tap_is "$(sed -n '/^```c$/,/^```$/p' "$repo/README.md" | sed '1d;$d')" \
	"$(sed -n '/^#include <stdio.h>/,$p' "$repo/examples/convert.c")" "README.md shows examples/convert.c as it is"

# ---- install into a scratch root
DEST=$TAP_TMP/destdir
if ! meson install -C "$BUILD" --no-rebuild --destdir "$DEST" >install.log 2>&1; then
	tap_ok "meson install --destdir" false
	tap_diag "$(tail -n 20 install.log)"
	tap_done
fi
pc=$(find "$DEST" -name libferry.pc | head -n 1)
tap_ok "install: libferry.pc" test -f "$pc"
prefix=$(sed -n 's/^prefix=//p' "$pc")
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
pkgconf() {
	pkg-config --define-variable=prefix="$DEST$prefix" "$@" libferry
}
libdir=$(pkgconf --variable=libdir)
inc=$(pkgconf --variable=includedir)

# ---- the headers
tap_is "$(cd "$DEST" && find . -name '*.h' | sed "s|^\.$prefix/include/||" | LC_ALL=C sort | xargs)" \
	"$(cd "$repo/include" && find ferry -name '*.h' | LC_ALL=C sort | xargs)" \
	"install: the headers are exactly include/ferry/ (no internal one)"
# The same compiler and sanitizer flags as the build, or a sanitized library will not link.
cc=$(jq -r '.host.c.exelist | join(" ")' "$BUILD/meson-info/intro-compilers.json" 2>/dev/null)
san=$(jq -r '.[] | select(.name == "b_sanitize") | .value' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null)
read -r -a CC <<<"${cc:-cc}"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic)
[ -n "$san" ] && [ "$san" != none ] && CFLAGS+=("-fsanitize=$san")
deps_re='jansson|curl|openssl|archive\.h|zstd|zlib|isa-l|igzip'
for h in "$inc"/ferry/*.h; do
	name=ferry/$(basename "$h")
	printf '#include <%s>\ntypedef int not_empty;\n' "$name" >alone.c
	tap_ok "$name compiles alone" "${CC[@]}" "${CFLAGS[@]}" -I"$inc" -fsyntax-only alone.c
	tap_is "$("${CC[@]}" -I"$inc" -H -fsyntax-only alone.c 2>&1 | grep -E "$deps_re")" "" \
		"$name includes no dependency's header"
done
tap_is "$(grep -l 'json_t\|CURL\|EVP_' "$inc"/ferry/*.h)" "" "install: no jansson, curl or OpenSSL type in a header"

# ---- the shared library: soname and exports
so=$libdir/libferry.so.0
tap_ok "install: libferry.so.0" test -f "$so"
tap_ok "install: libferry.so for -lferry" test -L "$libdir/libferry.so"
tap_ok "install: libferry.a" test -f "$libdir/libferry.a"
tap_like "$(readelf -d "$so" 2>&1)" 'SONAME.*\[libferry\.so\.0\]' "libferry.so: soname libferry.so.0"
# Declared: every function marked FERRY_API, as the compiler sees the headers.
for h in "$inc"/ferry/*.h; do printf '#include <ferry/%s>\n' "$(basename "$h")"; done >all.c
declared=$("${CC[@]}" -E -P -I"$inc" all.c | tr '\n' ' ' | grep -oE 'visibility *\( *"default" *\) *\) *\) [^;(]*\(' |
	sed -E 's/.*[ *]([a-z_0-9]+) *\($/\1/' | LC_ALL=C sort -u)
# Exported: defined dynamic symbols, without the toolchain's own (_init, __asan_*, ...).
exported=$(nm -D --defined-only "$so" | awk '{print $NF}' | grep -v '^_' | LC_ALL=C sort -u)
tap_like "$declared" '^ferry_alg_name' "the headers declare FERRY_API functions"
tap_is "$exported" "$declared" "libferry.so exports exactly the FERRY_API functions"

# ---- pkg-config: build the examples against the installed copy alone
tap_like "$(pkgconf --cflags --libs)" "^-I$inc .*-L$libdir -lferry" "pkg-config --cflags --libs libferry"
read -r -a PC_SHARED <<<"$(pkgconf --cflags --libs)"
# A static libferry needs what libferry.pc lists as private: its own
# Libs.private and the modules of Requires.private.  (Their own private
# libraries, which a full `pkg-config --static` adds, are for linking them
# statically too; libcurl's need development files this machine lacks.)
tap_like "$(pkgconf --static --libs)" '-lferry .*-larchive .*-lzstd .*-lz .*-lcrypto .*-ljansson .*-lcurl .*-lisal' \
	"pkg-config --static --libs libferry: every library libferry.a needs"
# shellcheck disable=SC2046 # the module names are words
read -r -a PC_STATIC <<<"$(pkgconf --cflags) -L$libdir -l:libferry.a $(sed -n 's/^Libs.private: //p' "$pc") \
	$(pkg-config --libs $(pkgconf --print-requires-private))"
mkdir -p shared static
for ex in convert list; do
	tap_ok "$ex.c builds against the installed libferry.so" \
		"${CC[@]}" "${CFLAGS[@]}" -o "shared/$ex" "$repo/examples/$ex.c" "${PC_SHARED[@]}"
	tap_ok "$ex.c builds against the installed libferry.a (-l:libferry.a)" \
		"${CC[@]}" "${CFLAGS[@]}" -o "static/$ex" "$repo/examples/$ex.c" "${PC_STATIC[@]}"
done
tap_like "$(LD_LIBRARY_PATH=$libdir ldd shared/convert 2>&1)" "libferry\.so\.0 => $libdir/libferry\.so\.0" \
	"shared: the program loads the installed libferry.so.0"
tap_is "$(readelf -d static/convert 2>&1 | grep -c 'libferry')" 0 "static: the program needs no libferry.so"
export LD_LIBRARY_PATH=$libdir
run_examples shared shared
unset LD_LIBRARY_PATH
run_examples static static

# With -I.../include/ferry a header named error.h would hide the C library's.
cat >glibc-error.c <<'EOF'
#include <error.h>
#include <ferry/ferry.h>

int main(void)
{
	ferry_error err = FERRY_ERROR_INIT;
	error(0, 0, "%d", (int)err.code);
	return 0;
}
EOF
tap_ok "a program may include <error.h> (glibc's) beside <ferry/ferry.h>" \
	"${CC[@]}" "${CFLAGS[@]}" -o glibc-error glibc-error.c "${PC_SHARED[@]}"

tap_done
