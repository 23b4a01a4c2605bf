#!/bin/bash
# ferry's own image (make image), made by libferry's ferry_build through
# examples/image.c: ferry-static and the CA bundle, no base, a non-root user.
#
#  - built twice from the same inputs: the same manifest digest and the same
#    bytes; another SOURCE_DATE_EPOCH gives another digest
#  - ferry verify passes on the OCI layout and the docker-archive
#  - the docker-archive loads into the private dockerd with the config's
#    image ID, user 65532 and the entrypoint
#  - umoci unpacks the layout; the rootfs holds exactly the binary and the CA
#    bundle, owned by root; it runs `ferry --version` in a chroot
#
# Needs ferry-static (make static; $FERRY_STATIC): without it skipped, with
# a message, unless CI=true (a failure).  Needs root (chroot).
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"

STATIC=${FERRY_STATIC:-$repo/build-static/ferry-static}
MAKER=$(dirname "$FERRY")/example-image
CA=/etc/ssl/certs/ca-certificates.crt
CHROOT=$(command -v chroot || echo chroot) # env -i leaves no PATH

if [ ! -x "$STATIC" ]; then
	if [ "${CI:-}" = true ]; then
		tap_ok "ferry-static exists at $STATIC (make static)" test -x "$STATIC"
	else
		tap_skip "ferry's own image" "no $STATIC: run make static"
	fi
	tap_done
fi
if [ "$(id -u)" != 0 ]; then
	tap_skip "ferry's own image" "chroot needs root"
	tap_done
fi
if ! tap_ok "tools: umoci docker jq chroot" need_tool umoci docker jq chroot ||
	! tap_ok "example-image is built next to ferry" test -x "$MAKER"; then
	tap_done
fi

VERSION=$("$FERRY" --version | sed -n '1s/^ferry //p')
NAME=docker.io/ferry/ferry:$VERSION

# make_image DIR EPOCH: build into DIR; prints the manifest digest.
make_image() {
	SOURCE_DATE_EPOCH=$2 "$MAKER" "$STATIC" "$CA" "$1" >"$1.out" 2>&1 &&
		awk 'NR == 1 { print $1 }' "$1.out"
}

tap_ok "build the image" make_image "$TAP_TMP/a" 1700000000
D1=$(awk 'NR == 1 { print $1 }' "$TAP_TMP/a.out")
tap_like "$D1" '^sha256:[0-9a-f]{64}$' "the build prints the manifest digest"
tap_is "$(jq -r '.manifests[0].digest' "$TAP_TMP/a/oci/index.json")" "$D1" "index.json holds that digest"
tap_is "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' "$TAP_TMP/a/oci/index.json")" "$NAME" \
	"the image is named $NAME"
tap_ok "build it again from the same inputs" make_image "$TAP_TMP/b" 1700000000
tap_is "$(awk 'NR == 1 { print $1 }' "$TAP_TMP/b.out")" "$D1" "the same manifest digest"
tap_is "$(cd "$TAP_TMP/b" && tree_sums .)" "$(cd "$TAP_TMP/a" && tree_sums .)" \
	"the same bytes, layout and docker-archive"
tap_ok "build it with another SOURCE_DATE_EPOCH" make_image "$TAP_TMP/c" 1700000001
tap_like "$(awk 'NR == 1 { print $1 }' "$TAP_TMP/c.out")" "^sha256:" "it reports a digest"
if [ "$(awk 'NR == 1 { print $1 }' "$TAP_TMP/c.out")" != "$D1" ]; then
	tap_ok "another date gives another digest" true
else
	tap_ok "another date gives another digest" false
fi

tap_ok "ferry verify the layout" "$FERRY" verify "$TAP_TMP/a/oci/"
tap_ok "ferry verify the docker-archive" "$FERRY" verify "$TAP_TMP/a/ferry.tar"

# What the files say, not ferry: the config of the layout's manifest.
blob() { echo "$TAP_TMP/a/oci/blobs/sha256/${1#sha256:}"; }
CONFIG=$(jq -r .config.digest "$(blob "$D1")")
tap_is "$(jq -r .config.User "$(blob "$CONFIG")")" "65532:65532" "the config runs as user 65532"
tap_is "$(jq -c .layers "$(blob "$D1")" | jq length)" 1 "one layer, no base image"

if ! peers_checked_elsewhere "docker load, user and entrypoint"; then
	check_docker_load "docker" "$TAP_TMP/a/ferry.tar" "ferry/ferry:$VERSION=$CONFIG"
	tap_is "$(docker image inspect --format '{{.Config.User}} {{json .Config.Entrypoint}}' "ferry/ferry:$VERSION" 2>&1)" \
		'65532:65532 ["/usr/local/bin/ferry"]' "docker sees the user and the entrypoint"
fi

bundle=$TAP_TMP/bundle
tap_ok "umoci unpack" umoci unpack --image "$TAP_TMP/a/oci:$VERSION" "$bundle"
rootfs=$bundle/rootfs
tap_is "$(cd "$rootfs" && find . -mindepth 1 ! -type d -printf '%p %m %U:%G\n' | LC_ALL=C sort | xargs)" \
	"./etc/ssl/certs/ca-certificates.crt 644 0:0 ./usr/local/bin/ferry 755 0:0" \
	"the rootfs holds the binary and the CA bundle, owned by root"
tap_is "$(sha "$rootfs/usr/local/bin/ferry")" "$(sha "$STATIC")" "the binary is ferry-static"
tap_ok "chroot rootfs: ferry --version" env -i "$CHROOT" --userspec=65532:65532 "$rootfs" /usr/local/bin/ferry --version
tap_like "$(head -n 1 "$TAP_OUT")" "^ferry $VERSION\$" "it says ferry $VERSION"
docker_reset >/dev/null 2>&1
tap_done
