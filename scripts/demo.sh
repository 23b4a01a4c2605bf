#!/bin/bash
# The ferry demo: docker-save tarball -> OCI layout -> docker-save tarball.
#
#   scripts/demo.sh [BUILD_DIR]      default BUILD_DIR: build
#
# Works in a fresh directory under ${TMPDIR:-/tmp}, removed at the end
# unless KEEP=1.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
ferry=$build/ferry
sample=fixtures/sample.tar
cd "$repo"

if [ ! -x "$ferry" ]; then
	echo "demo: $ferry not found; run 'make build' first" >&2
	exit 1
fi

OUT=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "demo: kept $OUT"
	else
		rm -rf "$OUT"
		echo "demo: removed $OUT (KEEP=1 keeps it)"
	fi
}
trap cleanup EXIT

n=0
step() {
	n=$((n + 1))
	echo
	echo "== step $n: $1"
	shift
	echo "\$ ferry $*"
	"$ferry" "$@"
}

# A step that claims success must also have written its output.
expect_file() {
	if [ ! -s "$1" ]; then
		echo "demo: step $n exited 0 but did not write $1" >&2
		exit 1
	fi
}

step "list the images in a docker-save tarball" \
	ls "$sample"
step "convert it to an OCI layout, retagging every image onto localhost:5000" \
	convert --registry localhost:5000 "$sample" "$OUT/oci/"
expect_file "$OUT/oci/oci-layout"
expect_file "$OUT/oci/index.json"
step "list the images in the OCI layout" \
	ls "oci:$OUT/oci"
step "convert the OCI layout back to a docker-save tarball" \
	convert "oci:$OUT/oci" "$OUT/roundtrip.tar"
expect_file "$OUT/roundtrip.tar"
step "verify every digest in the OCI layout" \
	verify "oci:$OUT/oci"
step "verify the round-tripped tarball" \
	verify "$OUT/roundtrip.tar"
step "list the images in the round-tripped tarball" \
	ls "$OUT/roundtrip.tar"

echo
echo "== summary"
echo "input:      $sample ($(stat -c %s "$sample") bytes)"
echo "OCI layout: $OUT/oci ($(find "$OUT/oci/blobs" -type f | wc -l) blobs, $(du -sk "$OUT/oci" | cut -f1) KiB)"
echo "round trip: $OUT/roundtrip.tar ($(stat -c %s "$OUT/roundtrip.tar") bytes)"
echo "demo: all $n steps succeeded"
