#!/bin/bash
# Memory does not grow with layer size: converting an archive with a 300 MB
# layer (read indexed, and in one pass through a pipe; kept, compressed and
# decompressed) stays under the 64 MB of peak RSS the engine promises.  Nor
# with document size: a 256 MiB config is refused before it is read.
# (Under ASan the allocator's own quarantine dominates RSS: skipped there.)
. "$(dirname "$0")/../lib/tap.sh"

LIMIT_KB=$((64 * 1024))

# under_limit NAME KB: a peak RSS measured, and under 64 MB (not judged under ASan).
under_limit() {
	local name=$1 kb=$2 ok
	if [ -n "${ASAN_OPTIONS:-}" ]; then
		tap_skip "$name: peak RSS under 64 MB" "ASan build: its quarantine, not ferry, sets RSS"
		return
	fi
	tap_like "$kb" '^[0-9]+$' "$name: peak RSS measured ($kb KB)"
	[ "${kb:-999999999}" -lt "$LIMIT_KB" ] && ok=yes || ok="no: $kb KB"
	tap_is "$ok" yes "$name: peak RSS under 64 MB"
}

# ---- a 256 MiB config: valid JSON padded with spaces, right digest and size --------
# docs/safety.md: documents over FERRY_JSON_MAX are refused before they are read.
fat=$TAP_TMP/fat-config
python3 - "$fat" <<'PY'
import hashlib, json, os, sys
out = sys.argv[1]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
layer = b"\0" * 1024  # an empty tar: two zero blocks
head = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
    "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()[:-1]
pad, chunk = 256 << 20, b" " * (1 << 20)
h = hashlib.sha256(head)
tmp = os.path.join(blobs, "config.tmp")
with open(tmp, "wb") as f:  # streamed: 256 MiB never in memory
    f.write(head)
    for _ in range(pad // len(chunk)):
        f.write(chunk)
        h.update(chunk)
    f.write(b"}")
    h.update(b"}")
os.rename(tmp, os.path.join(blobs, h.hexdigest()))
cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + h.hexdigest(),
       "size": len(head) + pad + 1}
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": cfg, "layers": [dict(put(layer), mediaType="application/vnd.oci.image.layer.v1.tar")]})
md = dict(put(man.encode()), mediaType="application/vnd.oci.image.manifest.v1+json",
          annotations={"io.containerd.image.name": "docker.io/memory/fat:1"})
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [md]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
PY
tap_like "$(find "$fat/blobs" -size +256M | wc -l)" '^1$' "a layout with a 256 MiB config was made"
for cmd in ls convert; do
	args=(ls "$fat")
	[ $cmd = convert ] && args=(convert -q "$fat" "$TAP_TMP/fat-out/")
	/usr/bin/time -f '%M' -o "$TAP_TMP/rss" "$FERRY" "${args[@]}" >/dev/null 2>"$TAP_TMP/err" </dev/null
	tap_is "$?" 6 "256 MiB config, $cmd: exit 6"
	tap_like "$(grep '^ferry: ' "$TAP_TMP/err")" 'byte limit' "256 MiB config, $cmd: says 'byte limit'"
	under_limit "256 MiB config, $cmd" "$(tail -n 1 "$TAP_TMP/rss")"
done
tap_ok "256 MiB config: no destination written" test ! -e "$TAP_TMP/fat-out"
rm -rf "$fat"

# ---- a 300 MB layer -------------------------------------------------------------------
big=$TAP_TMP/big.tar
python3 - "$big" <<'PY'
import hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
d = os.path.dirname(out)
layer = os.path.join(d, "layer.tar")
blob = os.path.join(d, "zeros")
with open(blob, "wb") as f:
    f.truncate(300 * 1000 * 1000)  # sparse: cheap to make, 300 MB to read
with tarfile.open(layer, "w", format=tarfile.GNU_FORMAT) as t:
    t.add(blob, arcname="zeros")
os.unlink(blob)
h = hashlib.sha256()
with open(layer, "rb") as f:
    for b in iter(lambda: f.read(1 << 22), b""):
        h.update(b)
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h.hexdigest()]}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": ch + ".json", "RepoTags": ["memory/big:1"], "Layers": ["l1/layer.tar"]}]).encode()
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
    for name, data in (("manifest.json", man), (ch + ".json", cfg)):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    t.add(layer, arcname="l1/layer.tar")
os.unlink(layer)
PY
tap_ok "a 300 MB layer archive was made" test -s "$big"

# peak RSS in KB of "ferry ARGS..." (stdin from $2 when it is not -)
peak() {
	local in=$1
	shift
	/usr/bin/time -f '%M' -o "$TAP_TMP/rss" "$FERRY" "$@" <"$in" >/dev/null 2>"$TAP_TMP/err" || return 1
	tail -n 1 "$TAP_TMP/rss"
}

check() {
	local name=$1 in=$2 out=$3
	shift 3
	rm -rf "$out"
	local kb
	if ! kb=$(peak "$in" "$@"); then
		tap_is "failed: $(cat "$TAP_TMP/err")" "" "$name: runs"
		return
	fi
	tap_ok "$name: output verifies" "$FERRY" verify -q "$out"
	under_limit "$name" "$kb"
	rm -rf "$out"
}

check "indexed -> OCI, kept" /dev/null "$TAP_TMP/o1" convert -q "$big" "$TAP_TMP/o1/"
check "indexed -> OCI, zstd" /dev/null "$TAP_TMP/o2" convert -q --compress zstd "$big" "$TAP_TMP/o2/"
check "pipe -> docker-archive .tar.gz" "$big" "$TAP_TMP/o3.tar.gz" convert -q - "$TAP_TMP/o3.tar.gz"
"$FERRY" convert -q --compress gzip "$big" "$TAP_TMP/gz/" 2>/dev/null
check "OCI gzip -> docker-archive (decompressed)" /dev/null "$TAP_TMP/o4.tar" convert -q --compress none "$TAP_TMP/gz" "$TAP_TMP/o4.tar"
check "OCI gzip -> docker-archive (kept, diff_ids checked)" /dev/null "$TAP_TMP/o5.tar" convert -q "$TAP_TMP/gz" "$TAP_TMP/o5.tar"
rm -rf "$TAP_TMP/gz" "$big"
tap_done
