#!/bin/bash
# Builds the libraries ferry-static needs that Debian ships no usable static
# archive for, from Debian's own SOURCE packages, into a cached prefix:
#
#   scripts/static-deps.sh PREFIX     (make static uses build-static/deps)
#
# Why each one is built here rather than taken from Debian's -dev .a files:
#   curl          Debian's libcurl.a needs ldap, gssapi, rtmp, ssh2, psl, idn2,
#                 nghttp2 and brotli, most of which ship no .a: we build HTTP(S)
#                 only, on OpenSSL, with the threaded resolver.
#   libarchive    Debian's libarchive.a needs acl, lz4 and nettle (no .a for
#                 some): we build tar/gzip/zstd/xz/bzip2 only (what ferry reads).
#   libmicrohttpd Debian's needs GnuTLS, p11-kit, libunistring (no .a): we
#                 build it without HTTPS, so `ferry serve --tls` is refused by
#                 the static binary (the dynamic one has it).
#   isa-l         Debian ships no libisal.a.
# zlib, zstd, xz, bzip2, OpenSSL (libcrypto, libssl), jansson, libcrypt come
# from Debian's -dev packages (their .a files).  Each library is built once:
# PREFIX/.done-NAME marks it.  Needs deb-src lines (added when root).
set -euo pipefail

prefix=$(realpath -m "${1:?usage: $0 PREFIX}")
jobs=${JOBS:-2}
src="$prefix/src"
mkdir -p "$prefix" "$src"

# deb-src lines of the machine's own, or the ones this script added.
deb_src_file=/etc/apt/sources.list.d/ferry-deb-src.sources
have_deb_src() {
	grep -rqs --exclude="${deb_src_file##*/}" '^Types:.*deb-src\|^deb-src ' \
		/etc/apt/sources.list /etc/apt/sources.list.d/
}

# The Signed-By of the machine's deb822 stanza for URI, if it has one: apt
# refuses two entries for one source that name different keyrings.
signed_by_of() {
	awk -v uri="$1" 'BEGIN { RS = ""; FS = "\n" }
		{ u = 0; k = ""
		  for (i = 1; i <= NF; i++) {
			if ($i ~ /^URIs:/ && (" " $i " ") ~ (" " uri " ")) u = 1
			if ($i ~ /^Signed-By:/) k = $i
		  }
		  if (u && k != "") { print k; exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
}

if ! have_deb_src; then
	# shellcheck source=/dev/null
	. /etc/os-release
	uri=http://deb.debian.org/debian
	want=$(printf 'Types: deb-src\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n%s' \
		"$uri" "$VERSION_CODENAME" "$VERSION_CODENAME" "$(signed_by_of "$uri")")
	if [ "$(cat "$deb_src_file" 2>/dev/null)" != "$want" ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "static-deps: apt has no deb-src lines; add them (as root) and run again" >&2
			exit 1
		fi
		printf '%s\n' "$want" >"$deb_src_file"
		apt-get update -q
	fi
fi
for tool in dpkg-source nasm autoreconf libtoolize; do
	if ! command -v "$tool" >/dev/null; then
		echo "static-deps: needs $tool (dpkg-dev, nasm, autoconf, automake, libtool)" >&2
		exit 1
	fi
done

# fetch PKG: the Debian source of PKG, unpacked with its patches; prints the dir.
fetch() {
	local pkg=$1 dir
	dir=$(find "$src" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n1)
	if [ -z "$dir" ]; then
		(cd "$src" && apt-get source -q "$pkg" >&2) || return 1
		dir=$(find "$src" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n1)
	fi
	[ -n "$dir" ] && echo "$dir"
}

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export CFLAGS="-O2 -fPIC"
common=(--prefix="$prefix" --libdir="$prefix/lib" --enable-static --disable-shared)

build_curl() {
	local d
	d=$(fetch curl) || return 1
	(cd "$d" && { [ -x configure ] || autoreconf -fi; } &&
		./configure "${common[@]}" --with-openssl --with-zlib --with-zstd \
			--enable-threaded-resolver --enable-http --disable-ftp --disable-file --disable-ldap \
			--disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
			--disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher \
			--disable-mqtt --disable-manual --disable-docs --without-libidn2 --without-libpsl \
			--without-brotli --without-nghttp2 --without-nghttp3 --without-librtmp \
			--without-libssh2 --without-libssh --without-gssapi --without-libgsasl \
			--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path &&
		make -j"$jobs" -C lib && make -C lib install && make -C include install &&
		make install-pkgconfigDATA)
}

build_libarchive() {
	local d
	d=$(fetch libarchive) || return 1
	# its shipped ltmain.sh is another libtool's: regenerate with Debian's
	(cd "$d" && autoreconf -fi &&
		./configure "${common[@]}" --without-xml2 --without-expat --without-lz4 --without-nettle \
			--without-openssl --without-mbedtls --without-cng --without-libb2 --without-lzo2 \
			--disable-acl --disable-xattr --without-iconv --disable-bsdtar --disable-bsdcpio \
			--disable-bsdcat --with-zlib --with-bz2lib --with-lzma --with-zstd &&
		make -j"$jobs" libarchive.la && make install-libLTLIBRARIES install-includeHEADERS \
			install-pkgconfigDATA)
}

build_libmicrohttpd() {
	local d
	d=$(fetch libmicrohttpd) || return 1
	(cd "$d" && { [ -x configure ] || autoreconf -fi; } &&
		./configure "${common[@]}" --disable-https --disable-doc --disable-examples \
			--disable-curl &&
		make -j"$jobs" -C src/microhttpd && make -C src/microhttpd install &&
		make install-pkgconfigDATA)
}

build_isa_l() {
	local d
	d=$(fetch libisal) || return 1
	(cd "$d" && { [ -x configure ] || ./autogen.sh; } &&
		./configure "${common[@]}" && make -j"$jobs" && make install)
}

for lib in libmicrohttpd isa_l libarchive curl; do
	if [ ! -f "$prefix/.done-$lib" ]; then
		echo "static-deps: building $lib into $prefix" >&2
		"build_$lib"
		touch "$prefix/.done-$lib"
	fi
done
echo "static-deps: ready in $prefix" >&2
