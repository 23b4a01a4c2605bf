#!/bin/bash
# Memory does not grow with layer size: converting an archive with a 300 MB
# layer (read indexed, and in one pass through a pipe; kept, compressed and
# decompressed) stays under the 64 MB of peak RSS the engine promises.
# (Under ASan the allocator's own quarantine dominates RSS: skipped there.)
. "$(dirname "$0")/../lib/tap.sh"

LIMIT_KB=$((64 * 1024))
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
	if [ -n "${ASAN_OPTIONS:-}" ]; then
		tap_skip "$name: peak RSS under 64 MB" "ASan build: its quarantine, not ferry, sets RSS"
	else
		tap_like "$kb" '^[0-9]+$' "$name: peak RSS measured ($kb KB)"
		[ "${kb:-999999999}" -lt "$LIMIT_KB" ] && ok=yes || ok="no: $kb KB"
		tap_is "$ok" yes "$name: peak RSS under 64 MB"
	fi
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
