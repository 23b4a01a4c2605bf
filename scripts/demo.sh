#!/bin/bash
# The ferry demo: docker-save tarball -> OCI layout -> docker-save tarball,
# then `docker tag` + `docker push` without a daemon: the sample retagged
# for a private registry (Debian's docker-registry, started here on
# 127.0.0.1:5000, or another free port when 5000 is taken), pushed, pulled
# back into an OCI layout, verified and listed; cosign signatures made with
# openssl checked offline by `ferry verify --key`; the registry's inventory
# (ferry inventory) and a delta against it that leaves out every layer
# (convert --have); the layout cut into volumes for media with a signed
# transfer manifest (--split, --sign-key); and the round-tripped tarball
# served as a registry by `ferry serve` (on another free loopback port), one
# image pulled back from it into a layout and verified.
#
#   scripts/demo.sh [BUILD_DIR]      default BUILD_DIR: build
#
# Works in a fresh directory under ${TMPDIR:-/tmp}, removed at the end
# unless KEEP=1.  The registry keeps its data there too and is stopped (by
# its PID) at the end, whatever happens.
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

# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"

OUT=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
reg_dir=
serve_pid=
cleanup() {
	if [ -n "$serve_pid" ] && kill -INT "$serve_pid" 2>/dev/null; then
		wait "$serve_pid" 2>/dev/null || true
		echo "demo: stopped ferry serve"
	fi
	if [ -n "$reg_dir" ]; then
		if registry_stop "$reg_dir"; then
			echo "demo: stopped the registry"
		else
			echo "demo: could not stop the registry (pid file in $reg_dir)" >&2
		fi
	fi
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

# ---- signatures: carried beside their images, checked offline -------------------------
# A key pair made with openssl, and each image signed as cosign signs
# (tests/lib/cosign_sign.py, openssl doing the signing), in a copy of the layout.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OUT/site-a.pem" 2>/dev/null
openssl pkey -in "$OUT/site-a.pem" -pubout -out "$OUT/site-a.pub"
step "copy the OCI layout, to sign its images" \
	convert -q "oci:$OUT/oci" "$OUT/signed/"
for tag in 13 1.0 2.1; do
	python3 "$repo/tests/lib/cosign_sign.py" "$OUT/signed" "$tag" "$OUT/site-a.pem" >/dev/null
done
echo "(signed every image with site-a.pem, as cosign sign --key does)"
step "check every image's signature offline, with the public key only" \
	verify --key "$OUT/site-a.pub" "oci:$OUT/signed"

# ---- volumes and a signed transfer manifest, for media --------------------------------
# (The sample is small: 1M volumes give it one; a real set has NAME.002 and on.)
openssl genpkey -algorithm ED25519 -out "$OUT/transfer.pem" 2>/dev/null
openssl pkey -in "$OUT/transfer.pem" -pubout -out "$OUT/transfer.pub"
step "cut the layout into 1M volumes for media, with a signed transfer manifest" \
	convert --split 1M --sign-key "$OUT/transfer.pem" "oci:$OUT/oci" "docker-archive:$OUT/media.tar"
expect_file "$OUT/media.tar.001"
expect_file "$OUT/media.tar.transfer.sig"
echo "\$ (cd $OUT && sha256sum -c media.tar.sha256)"
(cd "$OUT" && sha256sum -c media.tar.sha256)
step "check the set offline against its signed transfer manifest" \
	verify --key "$OUT/transfer.pub" "$OUT/media.tar"
step "list the images of the set, read from its first volume" \
	ls "$OUT/media.tar.001"

# ---- a registry: docker tag + docker push, without a daemon ---------------------------

# A TCP port on 127.0.0.1 that nothing answers on: 5000 if it is free.
free_port() {
	local p
	for p in 5000 $(seq 5001 5099) $(shuf -i 20000-60000 -n 50); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ferry remembers where it pushed blobs ($XDG_CACHE_HOME/ferry): keep that
# with the demo, since its registry does not outlive it.
export XDG_CACHE_HOME=$OUT/cache
port=$(free_port) || {
	echo "demo: no free TCP port on 127.0.0.1" >&2
	exit 1
}
reg=localhost:$port
echo
echo "== starting a private registry (docker-registry) on 127.0.0.1:$port"
reg_dir=$OUT/registry
if ! registry_start http "$reg_dir" "$port"; then
	echo "demo: the registry did not start (is docker-registry installed? make deps-build)" >&2
	exit 1
fi
echo "registry: http://$reg/ (pid $(cat "$reg_dir/registry.pid"), data in $reg_dir/data)"

step "retag every image for $reg (docker tag, without a daemon)" \
	convert --registry "$reg" "$sample" "$OUT/for-registry.tar"
expect_file "$OUT/for-registry.tar"
step "also name the app image $reg/team/app:13" \
	tag "$OUT/for-registry.tar" "$reg/example/app:13" "$reg/team/app:13"
step "list what will be pushed" \
	ls "$OUT/for-registry.tar"
step "push every image to the registry its name says (docker push, without a daemon)" \
	push "$OUT/for-registry.tar"
step "push again: the registry has every blob, so no blob is sent" \
	push "$OUT/for-registry.tar"
step "pull $reg/team/app:13 back into an OCI layout" \
	convert "docker://$reg/team/app:13" "$OUT/pulled/"
expect_file "$OUT/pulled/index.json"
step "verify every digest of the pulled image" \
	verify "oci:$OUT/pulled"
step "list the pulled image" \
	ls "oci:$OUT/pulled"
step "inventory of the registry (every repository of its catalog): what this site has" \
	inventory "docker://$reg" -o "$OUT/registry.inv.json"
expect_file "$OUT/registry.inv.json"
step "a delta of the pulled image against it: the registry has every layer, none is sent" \
	convert --have "$OUT/registry.inv.json" "oci:$OUT/pulled" "oci-archive:$OUT/delta.tar"
expect_file "$OUT/delta.tar"
printf '%s\n' "# the images to carry across" "$reg/example/app:13" "$reg/example/tool:2.1" "$reg/team/app:13" \
	>"$OUT/images.txt"
step "pull an image list into one archive (shared layers fetched once), locking each tag's digest" \
	convert --images-from "$OUT/images.txt" --lock "$OUT/images.lock" "$OUT/airgap.tar"
expect_file "$OUT/airgap.tar"
expect_file "$OUT/images.lock"

# ---- ferry serve: the round-tripped tarball is the registry ----------------------------

sport=$(free_port) || {
	echo "demo: no free TCP port on 127.0.0.1" >&2
	exit 1
}
echo
echo "== step $((n + 1)): serve the round-tripped tarball as a read-only registry on 127.0.0.1:$sport"
echo "\$ ferry serve --listen 127.0.0.1:$sport $OUT/roundtrip.tar &"
"$ferry" serve --listen "127.0.0.1:$sport" "$OUT/roundtrip.tar" 2>"$OUT/serve.log" &
serve_pid=$!
n=$((n + 1))
for _ in $(seq 100); do
	grep -q '^ferry: serving' "$OUT/serve.log" 2>/dev/null && break
	kill -0 "$serve_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^ferry: serving' "$OUT/serve.log"; then
	cat "$OUT/serve.log" >&2
	echo "demo: ferry serve did not start" >&2
	exit 1
fi
sed -n '1,/^ferry: SIGTERM/p' "$OUT/serve.log"
step "pull example/app:13 from ferry serve into an OCI layout" \
	convert "docker://127.0.0.1:$sport/example/app:13" "$OUT/served/"
expect_file "$OUT/served/index.json"
step "verify every digest of the image pulled from ferry serve" \
	verify "oci:$OUT/served"
kill -TERM "$serve_pid"
wait "$serve_pid"
serve_pid=
echo "(ferry serve stopped by SIGTERM; its access log:)"
sed '1,/^ferry: SIGTERM/d' "$OUT/serve.log"

echo
echo "== summary"
echo "input:      $sample ($(stat -c %s "$sample") bytes)"
echo "OCI layout: $OUT/oci ($(find "$OUT/oci/blobs" -type f | wc -l) blobs, $(du -sk "$OUT/oci" | cut -f1) KiB)"
echo "round trip: $OUT/roundtrip.tar ($(stat -c %s "$OUT/roundtrip.tar") bytes)"
echo "registry:   $reg, $(find "$reg_dir/data/docker/registry/v2/repositories" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | wc -l) repositories, $(find "$reg_dir/data/docker/registry/v2/blobs" -name data -type f 2>/dev/null | wc -l) blobs"
echo "pulled:     $reg/team/app:13 -> $OUT/pulled ($(find "$OUT/pulled/blobs" -type f | wc -l) blobs, $(du -sk "$OUT/pulled" | cut -f1) KiB)"
echo "served:     ferry serve on 127.0.0.1:$sport, example/app:13 -> $OUT/served ($(find "$OUT/served/blobs" -type f | wc -l) blobs)"
echo "demo: all $n steps succeeded"
