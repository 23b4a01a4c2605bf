#!/bin/bash
# make package-test: install the Debian packages of DEBDIR (make deb) into a
# fresh Debian 12 root and try them there, as a user would:
#   ferry --version, man -w ferry, examples/convert.c compiled against
#   libferry-dev with pkg-config and run on fixtures/sample.tar (then
#   ferry verify on what it wrote).
#
#   scripts/package-test.sh build-deb
#
# Needs root, debootstrap and the network (a Debian mirror: $DEBIAN_MIRROR,
# default deb.debian.org).  Slow (a few minutes): not part of make check.
set -euo pipefail
cd "$(dirname "$0")/.."
debs=$(realpath "${1:?usage: $0 DEBDIR}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ls "$debs"/ferry_*.deb "$debs"/libferry0_*.deb "$debs"/libferry-dev_*.deb >/dev/null
if [ "$(id -u)" != 0 ]; then
	echo "package-test: needs root (debootstrap, chroot)" >&2
	exit 1
fi

root=$(mktemp -d "${TMPDIR:-/var/tmp}/ferry-package-test.XXXXXX")
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	umount "$root/proc" 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT

echo "package-test: debootstrap bookworm into $root" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
	{ tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
mkdir -p "$root/pkgs" "$root/work"
cp "$debs"/ferry_*.deb "$debs"/libferry0_*.deb "$debs"/libferry-dev_*.deb "$root/pkgs/"
cp examples/convert.c fixtures/sample.tar "$root/work/"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 "$@"; }
in_root apt-get update -q
pkgs=()
for f in "$root"/pkgs/*.deb; do pkgs+=("/pkgs/${f##*/}"); done
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"${pkgs[@]}" gcc libc6-dev pkgconf man-db

fail=0
check() { # check NAME CMD...: run it in the root, say ok or FAIL
	if in_root "${@:2}"; then echo "package-test: ok - $1"; else echo "package-test: FAIL - $1"; fail=1; fi
}
check "ferry --version" ferry --version
check "man -w ferry" man -w ferry
check "man -w ferry-convert" man -w ferry-convert
check "bash completion installed" test -s /usr/share/bash-completion/completions/ferry
check "cc convert.c \$(pkg-config --cflags --libs libferry)" \
	sh -c 'cc /work/convert.c $(pkg-config --cflags --libs libferry) -o /work/convert'
check "the example converts sample.tar" /work/convert /work/sample.tar /work/out/
check "ferry verify what it wrote" ferry verify /work/out/
check "the static library is installed" sh -c 'test -s /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/libferry.a'
exit $fail
