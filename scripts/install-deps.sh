#!/bin/bash
# Installs the Debian 12 packages ferry needs, only those that are missing.
#
#   scripts/install-deps.sh build   # what `make demo` needs (compile + run)
#   scripts/install-deps.sh test    # what `make check` needs (build + tests)
#   scripts/install-deps.sh static  # what `make static` needs (build + sources)
#   scripts/install-deps.sh deb     # what `make deb` and `make package-test` need
#
# Runs apt-get (and apt-get update) only when something is missing, so on a
# ready machine it is a quick no-op and needs no network.
set -euo pipefail

# Compile and run ferry (meson.build needs cmocka too, for the unit tests),
# and the demo (its private registry: docker-registry).
BUILD_PKGS=(
	gcc make meson ninja-build pkg-config
	libarchive-dev libzstd-dev zlib1g-dev libssl-dev libjansson-dev
	libcmocka-dev libcurl4-openssl-dev libisal-dev libyaml-dev
	libmicrohttpd-dev libcrypt-dev
	scdoc
	docker-registry python3 openssl
)
# Everything the unit and end-to-end tests use on top of that.
TEST_PKGS=(
	"${BUILD_PKGS[@]}"
	clang libclang-rt-14-dev
	skopeo umoci docker.io podman valgrind jq
	zstd xz-utils bzip2 gzip openssl iproute2 procps python3 e2fsprogs util-linux
	apache2-utils curl podman
	zsh man-db bsdextrautils
	time file
)
# make static: the libraries Debian has no usable .a for are built from Debian
# source packages (scripts/static-deps.sh): apt-get source and autotools.
STATIC_PKGS=(
	"${BUILD_PKGS[@]}"
	dpkg-dev nasm autoconf automake libtool file
	libbz2-dev liblzma-dev
)
# make deb / make package-test: debhelper with meson, lintian, a Debian 12 root.
DEB_PKGS=(
	"${BUILD_PKGS[@]}"
	dpkg-dev debhelper lintian debootstrap fakeroot
)

case ${1:-} in
build) pkgs=("${BUILD_PKGS[@]}") ;;
test) pkgs=("${TEST_PKGS[@]}") ;;
static) pkgs=("${STATIC_PKGS[@]}") ;;
deb) pkgs=("${DEB_PKGS[@]}") ;;
*)
	echo "usage: $0 build|test|static|deb" >&2
	exit 2
	;;
esac

missing=()
for p in "${pkgs[@]}"; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} $1 packages are installed"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi

# Keep package scripts from starting services (a system dockerd, a registry
# on port 5000): the tests start their own private instances. Only add the
# policy file if there is none, and only for the duration of the install.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	added_policy=1
fi
cleanup() {
	if [ -n "$added_policy" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
