#!/bin/bash
# The static binary (make static: build-static/ferry-static, or $FERRY_STATIC)
# in an empty root: a chroot holding only that binary, the CA bundle
# /etc/ssl/certs/ca-certificates.crt, and the test's own data under /data.
# No /proc, no /dev, no libc, no NSS: numeric addresses only (127.0.0.1).
#
#  - ldd and file say it is static; --version names its libraries
#  - in the chroot: convert fixtures/sample.tar to an OCI layout, verify both
#  - push it to a loopback docker-registry over TLS (--cert-dir), pull it back
#    into a docker-archive, verify it; what skopeo sees (from outside) and
#    what came back have the sample's image IDs and diff_ids
#
# Without the binary: skipped, with a message, unless CI=true (a failure).
# Needs root (chroot).
# shellcheck disable=SC2317 # functions run through tap_ok look unreachable
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib-e2e.sh
. "$repo/tests/e2e/lib-e2e.sh"
# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"

STATIC=${FERRY_STATIC:-$repo/build-static/ferry-static}
CA=/etc/ssl/certs/ca-certificates.crt
CHROOT=$(command -v chroot || echo chroot) # env -i leaves no PATH

if [ ! -x "$STATIC" ]; then
	if [ "${CI:-}" = true ]; then
		tap_ok "ferry-static exists at $STATIC (make static)" test -x "$STATIC"
	else
		tap_skip "ferry-static in an empty root" "no $STATIC: run make static"
	fi
	tap_done
fi
if [ "$(id -u)" != 0 ]; then
	tap_skip "ferry-static in an empty root" "chroot needs root"
	tap_done
fi
if ! tap_ok "tools: docker-registry skopeo jq file chroot" need_tool docker-registry skopeo jq file chroot ||
	! tap_ok "the host has $CA" test -s "$CA"; then
	tap_done
fi

reg=$TAP_TMP/reg
cleanup_registry() { registry_stop "$reg"; }
prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand prev_trap now
trap "cleanup_registry; $prev_trap" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the binary itself -----------------------------------------------------------
tap_like "$(ldd "$STATIC" 2>&1)" 'not a dynamic executable' "ldd: not a dynamic executable"
tap_like "$(file -b "$STATIC")" 'statically linked' "file: statically linked"
tap_ok "ferry-static --version" "$STATIC" --version
for lib in libarchive libcurl OpenSSL zlib zstd isa-l jansson glibc libmicrohttpd; do
	tap_like "$(cat "$TAP_OUT")" "(^|[[:space:]])${lib}[ /][0-9]" "--version names $lib and its version"
done

# ---- the empty root ----------------------------------------------------------------
root=$TAP_TMP/root
mkdir -p "$root/etc/ssl/certs" "$root/data/certs"
cp "$STATIC" "$root/ferry"
cp "$CA" "$root/etc/ssl/certs/ca-certificates.crt"
cp "$SAMPLE" "$root/data/sample.tar"
# digest_named DIR NAME: the manifest digest of the image named NAME in a layout.
digest_named() {
	jq -r --arg n "$2" '[.manifests[] | select(.annotations["io.containerd.image.name"] == $n)][0].digest // "none"' \
		"$1/index.json" 2>/dev/null
}
# in_root CMD...: run ferry in the chroot, with an empty environment.
in_root() {
	env -i XDG_CACHE_HOME=/data/cache DOCKER_CONFIG=/data/docker "$CHROOT" "$root" /ferry "$@"
}
tap_is "$(cd "$root" && find . -mindepth 1 \( -type f -o -type l \) | LC_ALL=C sort | xargs)" \
	"./data/sample.tar ./etc/ssl/certs/ca-certificates.crt ./ferry" \
	"the root holds only ferry, the CA bundle and the input"

tap_ok "chroot: ferry --version" in_root --version
tap_ok "chroot: convert sample.tar to an OCI layout" in_root convert -q /data/sample.tar /data/layout/
tap_is "$(image_facts "$root/data/layout")" "$SAMPLE_FACTS" "chroot: the layout has the sample's image IDs and diff_ids"
tap_ok "chroot: verify the layout" in_root verify /data/layout/
tap_ok "chroot: verify sample.tar" in_root verify /data/sample.tar

# ---- a registry over TLS -----------------------------------------------------------
if tap_ok "https registry starts" registry_start https "$reg"; then
	A=$FERRY_REG_ADDR
	cp "$FERRY_REG_CERT_DIR"/* "$root/data/certs/"
	tap_ok "chroot: push the layout to $A over TLS (--cert-dir)" \
		in_root push -q --cert-dir /data/certs --registry "$A" /data/layout/
	tap_fails "chroot: the same push without --cert-dir is refused (the CA bundle does not trust it)" \
		in_root push -q --registry "$A" /data/layout/
	tap_like "$(cat "$TAP_OUT")" '(certificate|TLS)' "chroot: the refusal names the certificate"
	# Pushing gzips the layout's plain layers, so the manifests change: the
	# registry's digests (skopeo's word) are what must come back.
	declare -A pushed
	for t in app:13 base:1.0 tool:2.1; do
		ref=$A/example/$t
		tap_ok "skopeo inspect docker://$ref" skopeo inspect --cert-dir "$FERRY_REG_CERT_DIR" "docker://$ref"
		pushed[$t]=$(jq -r .Digest "$TAP_OUT")
		tap_like "${pushed[$t]}" '^sha256:[0-9a-f]{64}$' "$t: the registry has a manifest for it"
	done
	rm -rf "$TAP_TMP/sk"
	tap_ok "skopeo copies app:13 out of the registry" \
		skopeo copy -q --src-cert-dir "$FERRY_REG_CERT_DIR" "docker://$A/example/app:13" "oci:$TAP_TMP/sk:app"
	tap_is "$(image_facts "$TAP_TMP/sk")" "$ID_APP $L_BASE,$L_APP" "skopeo's copy has app:13's image ID and diff_ids"
	tap_ok "chroot: pull example/app:13 back into a docker-archive" \
		in_root convert -q --cert-dir /data/certs --format docker-archive "docker://$A/example/app:13" /data/app.tar
	tap_is "$(image_facts "$root/data/app.tar")" "$ID_APP $L_BASE,$L_APP" \
		"chroot: the pulled image has app:13's image ID and diff_ids"
	tap_ok "chroot: verify the pulled archive" in_root verify /data/app.tar
	for t in app:13 base:1.0 tool:2.1; do
		tap_ok "chroot: pull example/$t into an OCI layout" \
			in_root convert -q --cert-dir /data/certs "docker://$A/example/$t" /data/back/
		tap_is "$(digest_named "$root/data/back" "$A/example/$t")" "${pushed[$t]}" \
			"$t: pulled back with the registry's manifest digest"
	done
	tap_is "$(image_facts "$root/data/back")" "$SAMPLE_FACTS" "chroot: the pulled layout has the sample's image IDs and diff_ids"
fi
tap_done
