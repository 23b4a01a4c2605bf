#!/bin/bash
# Throughput of ferry against skopeo on the same synthetic images.
#
#   scripts/bench.sh [BUILD_DIR]        (make bench; default BUILD_DIR: build)
#
# Run by hand only: it takes a while, needs a few GB of disk, and its figures
# depend on the machine; nothing here checks a time. Prints the machine, then
# one table per workload (median wall time, MB/s of unique input layer bytes,
# time relative to ferry, peak RSS) and a summary in markdown at the end.
#
# Environment (sizes in MB = 10^6 bytes, all multiplied by BENCH_SCALE):
#   BENCH_DIR        work dir, kept between runs so the data is generated once
#                    (default ${TMPDIR:-/tmp}/ferry-bench; never inside the repo)
#   BENCH_SCALE      size factor (default 1; 0.1 for a quick run)
#   BENCH_RUNS       runs of each tool per workload (default 5; 3 if BENCH_SCALE < 1)
#   BENCH_ONLY       workloads to run, e.g. "W1 W5" (default: W1 W2 W3 W4 W5 W6 W7 W8 W11 W12 W13)
#   BENCH_MIX        text:random:zeros share of the layer bytes (default 45:35:20)
#   BENCH_W1_MB      W1's image, 4 layers (default 525)
#   BENCH_W4_BASE_MB W4's shared base layer (default 420)
#   BENCH_W4_APP_MB  W4's per-image layer (default 30)
#   BENCH_W6_IMAGES  W6's image count (default 50, not scaled)
#   BENCH_W6_BASE_MB W6's shared base layer (default 5)
#   BENCH_W6_APP_MB  W6's per-image layer (default 1)
#   BENCH_W11_SPLIT  W11's volume size (default 100M, not scaled; at least 1M)
#   BENCH_W12_MB     W12's source, 10 layers (default 1000)
#   BENCH_W13_IMAGES W13's image count (default 1000, not scaled)
#   BENCH_WARM_MB    MB of memory touched and freed just before each timed
#                    run (default 1536; 0: none).  On a virtual machine that
#                    hands free memory back to its host (free page reporting,
#                    as Firecracker guests do), whoever next writes that
#                    much to the page cache pays for getting it back: up to
#                    3x the time of a W1 run, for any tool, depending on what
#                    ran a few seconds before.  Touched just before, the
#                    memory is the guest's again, for every tool alike.
#   BENCH_REGISTRY   where W5 and W6's registry keeps its storage: "disk"
#                    (beside the other outputs), "memory" (a tmpfs, /dev/shm),
#                    or "both" (default: every W5/W6 workload once on each)
#   FERRY            the ferry binary (default BUILD_DIR/ferry)
#
# Workloads (ferry and skopeo run alternately, outputs removed and synced
# between runs, inputs read once first so they come from the page cache):
#   W1  docker-archive -> OCI layout keeping the layers uncompressed
#       (skopeo --dest-oci-accept-uncompressed-layers), plus the least work
#       possible: tee a copy and sha256 it, and the same with the copy
#       fdatasync'd (ferry, unlike skopeo, reports success only once its
#       output is on disk)
#   W2  docker-archive -> OCI with gzip layers, and with zstd layers
#   W3  OCI layout with gzip layers -> docker-archive
#   W4  three images sharing a base layer -> OCI with gzip; ferry converts
#       the archive in one run, skopeo copies one image at a time
#   W5  push W1 to a local docker-registry: first push (fresh registry storage,
#       fresh ferry cache) and re-push of the unchanged archive
#   W6  W6_IMAGES small images in one archive: one ferry push vs one skopeo copy
#       per image (fresh registry storage and ferry cache each run)
#   W7  push W3's OCI layout (gzip layers, nothing to compress): first push
#   W8  pulls with skopeo from `ferry serve` serving W1's and W6's archives as they
#       are, against docker-registry serving the same images after a push into it
#       (by ferry, untimed; its storage on disk): W8a the W1 image, W8b the
#       W6_IMAGES small images one copy each; then W8c, requests per second of
#       one small-manifest GET with 32 keep-alive connections (ab -k), both servers,
#       and W8d, the small images again in one `skopeo sync` process (W8b's time is
#       mostly skopeo starting once per image, the same against either server).
#       The RSS columns of W8a/W8b/W8d are skopeo's.
#   W11 volumes (convert --split): W11a writes W1 as a docker-archive cut into
#       volumes of W11_SPLIT against writing it whole; W11b reads the set
#       (-> OCI layout) against reading the whole archive.  Issue 13 asks
#       reading a set to run within 10% of reading the archive whole.
#   W12 a delta (convert --have): a source of W12_MB in 10 layers, whose far
#       side has 9 of them (an inventory of an archive holding those, made
#       untimed), written as an oci-archive; against the full conversion
#       and against writing the one new layer alone (the floor).
#   W13 ferry inventory of an archive of W13_IMAGES small images (a shared
#       base and a layer each), against `ferry ls` of it and `tar tf` (the
#       floor: reading the archive's headers).
#   W5, W6 and W7 run once with the registry's storage on disk and once with it
#   in memory: docker-registry fsyncs every file it writes (several per
#   request), and on a virtual disk that costs from 0.5 to 1 s of its CPU
#   for the same W6 push; in memory the figures measure the clients.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
FERRY=${FERRY:-$build/ferry}

die() {
	echo "bench: $*" >&2
	exit 1
}

[ -x "$FERRY" ] || die "$FERRY not found; run 'make build' first"
for tool in skopeo docker-registry python3 openssl /usr/bin/time; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run 'make deps' first"
done

SCALE=${BENCH_SCALE:-1}
python3 -c 'import sys; assert 0 < float(sys.argv[1]) <= 100' "$SCALE" 2>/dev/null ||
	die "BENCH_SCALE must be a number in (0, 100], not '$SCALE'"
if [ -z "${BENCH_RUNS:-}" ]; then
	if python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 1)' "$SCALE"; then
		BENCH_RUNS=3
	else
		BENCH_RUNS=5
	fi
fi
RUNS=$BENCH_RUNS
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive integer" ;; esac
ONLY=${BENCH_ONLY:-W1 W2 W3 W4 W5 W6 W7 W8 W11 W12 W13}
MIX=${BENCH_MIX:-45:35:20}
W1_MB=${BENCH_W1_MB:-525}
W4_BASE_MB=${BENCH_W4_BASE_MB:-420}
W4_APP_MB=${BENCH_W4_APP_MB:-30}
W6_IMAGES=${BENCH_W6_IMAGES:-50}
W6_BASE_MB=${BENCH_W6_BASE_MB:-5}
W6_APP_MB=${BENCH_W6_APP_MB:-1}
WARM_MB=${BENCH_WARM_MB:-1536}
W11_SPLIT=${BENCH_W11_SPLIT:-100M}
W12_MB=${BENCH_W12_MB:-1000}
W13_IMAGES=${BENCH_W13_IMAGES:-1000}
case $WARM_MB in '' | *[!0-9]*) die "BENCH_WARM_MB must be a whole number of MB" ;; esac
REGISTRY=${BENCH_REGISTRY:-both}
case $REGISTRY in disk | memory | both) ;; *) die "BENCH_REGISTRY must be disk, memory or both, not '$REGISTRY'" ;; esac

BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/ferry-bench}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)
case $BENCH_DIR/ in "$(cd "$repo" && pwd -P)"/*) die "BENCH_DIR must be outside the repository" ;; esac
DATA=$BENCH_DIR/data-scale-$SCALE # generated inputs, kept
RUN=$BENCH_DIR/run                # outputs, registries, caches: per run
OUT=$RUN/out
LOG=$RUN/log
rm -rf "$RUN"
mkdir -p "$DATA" "$OUT"
: >"$LOG"
# ferry remembers compressed digests there: keep it out of ~/.cache and
# start empty (W5 and W6 empty it again before each first push).
export XDG_CACHE_HOME=$RUN/cache-ferry

# shellcheck source=tests/lib/registry.sh
. "$repo/tests/lib/registry.sh"
REG_DIR=
REG_STORAGE=disk # where fresh_registry puts the next registry: disk or memory
MEM_DIR=         # the tmpfs directory for REG_STORAGE=memory
stop_registry() {
	if [ -n "$REG_DIR" ]; then
		# || true: registry.sh is written for callers without set -e
		registry_stop "$REG_DIR" || true
		rm -rf "$REG_DIR"
		REG_DIR=
	fi
}
# A registry with empty storage; FERRY_REG_ADDR says where.
fresh_registry() {
	stop_registry
	if [ "$REG_STORAGE" = memory ]; then
		REG_DIR=$MEM_DIR/registry
	else
		REG_DIR=$RUN/registry
	fi
	rm -rf "$REG_DIR"
	registry_start http "$REG_DIR" >>"$LOG" 2>&1 || die "cannot start docker-registry (see $LOG)"
}
# ferry serve for W8, on a free loopback port; SERVE_ADDR says where.
SERVE_PID=
start_serve() {
	local port i
	port=$(_registry_free_port) || die "no free port for ferry serve"
	"$FERRY" serve -q --listen "127.0.0.1:$port" "$@" >>"$LOG" 2>&1 &
	SERVE_PID=$!
	for ((i = 0; i < 300; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			export SERVE_ADDR=127.0.0.1:$port
			return 0
		fi
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "ferry serve did not start (see $LOG)"
}
stop_serve() {
	if [ -n "$SERVE_PID" ]; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
		SERVE_PID=
	fi
}
cleanup() {
	stop_serve
	stop_registry
	rm -rf "$OUT" "$RUN/cache-"*
	if [ -n "$MEM_DIR" ]; then rm -rf "$MEM_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Data generation: deterministic docker-save (legacy layout) archives.

# Writes a docker-save tarball from a JSON spec (argv[2]) to argv[1], and
# argv[1].info (JSON: unique layer bytes, image names). Layers are tars of
# files of mixed sizes, each file text-like (gzip ~3:1), random or zeros, in
# the byte shares of spec.mix; every byte comes from a PRNG seeded by the
# layer's seed, so the same spec always gives the same archive.
IFS= read -r -d '' GEN_PY <<'EOF' || true
import hashlib, io, itertools, json, os, random, sys, tarfile

MTIME = 1704067200  # 2024-01-01, fixed so the archive is reproducible
out, spec = sys.argv[1], json.loads(sys.argv[2])
mix = spec["mix"]

# A vocabulary with Zipf-like weights: random words from it gzip about 3:1.
vrng = random.Random("ferry-bench-vocabulary")
letters = "etaoinshrdlcumwfgypbvkjxqz"
vocab = ["".join(vrng.choices(letters, weights=range(26, 0, -1),
                              k=vrng.choice([2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 12])))
         for _ in range(2000)]
vocab += ["\n"] * 150
cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))


class Text:
    """An endless stream of text-like bytes from rng."""
    def __init__(self, rng):
        self.rng, self.buf = rng, b""

    def take(self, n):
        while len(self.buf) < n:
            words = self.rng.choices(vocab, cum_weights=cum, k=150000)
            self.buf += " ".join(words).encode()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def file_size(rng):
    r = rng.random()
    lo, hi = ((512, 16 << 10) if r < 0.60 else (16 << 10, 1 << 20) if r < 0.90
              else (1 << 20, 8 << 20) if r < 0.99 else (8 << 20, 64 << 20))
    return int(lo * (hi / lo) ** rng.random())  # log-uniform


class HashWriter:
    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.f.write(b)
        self.h.update(b)
        self.n += len(b)
        return len(b)

    def tell(self):
        return self.n


def info(name, size=0, kind=tarfile.REGTYPE, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mode, ti.mtime = size, kind, mode, MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def make_layer(layer, path):
    """Writes one layer tar to path; returns (sha256 hex, size)."""
    rng = random.Random("ferry-bench:%s:%d:%s" % (layer["seed"], layer["size"], mix))
    text = Text(rng)
    files = []
    for kind, share in zip(("txt", "bin", "zero"), mix):
        left = layer["size"] * share // sum(mix)
        while left > 0:
            n = min(file_size(rng), left)
            files.append((kind, n))
            left -= n
    rng.shuffle(files)
    top = "opt/%s" % layer["seed"]
    ndirs = max(1, len(files) // 40)
    with open(path, "wb") as f:
        w = HashWriter(f)
        with tarfile.open(fileobj=w, mode="w", format=tarfile.GNU_FORMAT) as t:
            t.addfile(info("opt/", kind=tarfile.DIRTYPE, mode=0o755))
            t.addfile(info(top + "/", kind=tarfile.DIRTYPE, mode=0o755))
            for d in range(ndirs):
                t.addfile(info("%s/d%03d/" % (top, d), kind=tarfile.DIRTYPE, mode=0o755))
            for i, (kind, n) in enumerate(files):
                data = (text.take(n) if kind == "txt" else
                        rng.randbytes(n) if kind == "bin" else bytes(n))
                name = "%s/d%03d/f%05d.%s" % (top, i % ndirs, i, kind)
                t.addfile(info(name, n), io.BytesIO(data))
    return w.h.hexdigest(), w.n


tmpdir = out + ".layers"
os.makedirs(tmpdir, exist_ok=True)
layers = {}  # (seed, size) -> (hex, size, path)
for image in spec["images"]:
    for layer in image["layers"]:
        key = (layer["seed"], layer["size"])
        if key not in layers:
            path = os.path.join(tmpdir, "%d.tar" % len(layers))
            hexd, size = make_layer(layer, path)
            layers[key] = (hexd, size, path)
            if size > 10e6:
                print("bench: generated layer %s: %.0f MB" % (layer["seed"], size / 1e6),
                      file=sys.stderr)

manifest, names = [], []
with tarfile.open(out + ".tmp", "w", format=tarfile.GNU_FORMAT, copybufsize=1 << 20) as t:
    written = set()
    for n, image in enumerate(spec["images"]):
        ids = [layers[(l["seed"], l["size"])] for l in image["layers"]]
        for hexd, size, path in ids:
            if hexd in written:
                continue
            written.add(hexd)
            t.addfile(info(hexd + "/", kind=tarfile.DIRTYPE, mode=0o755))
            for name, data in (("VERSION", b"1.0"), ("json", json.dumps({"id": hexd}).encode())):
                t.addfile(info("%s/%s" % (hexd, name), len(data)), io.BytesIO(data))
            with open(path, "rb") as f:
                t.addfile(info(hexd + "/layer.tar", size), f)
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                       "Cmd": ["/bin/sh"], "Labels": {"bench.image": image["name"]}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + i[0] for i in ids]},
            "history": [{"created": "2024-01-01T00:00:00Z",
                         "created_by": "bench layer %s" % l["seed"]} for l in image["layers"]],
        }, sort_keys=True).encode()
        chex = hashlib.sha256(config).hexdigest()
        t.addfile(info(chex + ".json", len(config)), io.BytesIO(config))
        manifest.append({"Config": chex + ".json", "RepoTags": [image["name"]],
                         "Layers": [i[0] + "/layer.tar" for i in ids]})
        names.append(image["name"])
    data = json.dumps(manifest).encode()
    t.addfile(info("manifest.json", len(data)), io.BytesIO(data))
for _, _, path in layers.values():
    os.unlink(path)
os.rmdir(tmpdir)
with open(out + ".info", "w") as f:
    json.dump({"unique_layer_bytes": sum(l[1] for l in layers.values()), "names": names}, f)
os.rename(out + ".tmp", out)
EOF

# Unique layer bytes of an OCI layout (the blobs its manifests name).
IFS= read -r -d '' OCI_BYTES_PY <<'EOF' || true
import json, os, sys
root = sys.argv[1]
def blob(d):
    with open(os.path.join(root, "blobs", *d.split(":", 1))) as f:
        return json.load(f)
seen, total, todo = set(), 0, [json.load(open(os.path.join(root, "index.json")))]
while todo:
    doc = todo.pop()
    for m in doc.get("manifests", []):
        todo.append(blob(m["digest"]))
    for l in doc.get("layers", []):
        if l["digest"] not in seen:
            seen.add(l["digest"])
            total += l["size"]
print(total)
EOF

# The table of one workload from the samples of each tool (medians; peak RSS
# and output size of the largest run); the last line, SUMMARY|..., is its
# row in the final markdown summary, ferry against the first skopeo row.
IFS= read -r -d '' REPORT_PY <<'EOF' || true
import statistics, sys
wid, title = sys.argv[1], sys.argv[2]
nbytes = int(sys.argv[3]) if sys.argv[3] != "-" else None  # None: no MB/s
def mbs(t):
    return nbytes / 1e6 / max(t, 1e-3) if nbytes else None
rows, a = [], sys.argv[4:]
for i in range(0, len(a), 5):
    tool, times, rss, size, failed = a[i:i + 5]
    times = [float(x) for x in times.split()]
    ok = times and not failed
    rows.append({"tool": tool, "med": statistics.median(times) if ok else None,
                 "min": min(times) if ok else None,
                 "rss": max(int(x) for x in rss.split()) if rss.split() else None,
                 "size": int(size) if size else None})
fr = next((r for r in rows if r["tool"].startswith("ferry")), None)
sk = next((r for r in rows if r["tool"].startswith("skopeo")), None)
print("    %-36s %8s %8s %8s %9s %9s %8s" % (
    "tool", "median s", "min s", "MB/s", "vs ferry", "RSS MB", "out MB"))
for r in rows:
    if r["med"] is None:
        print("    %-36s %8s" % (r["tool"], "FAILED"))
        continue
    print("    %-36s %8.2f %8.2f %8s %9s %9.1f %8s" % (
        r["tool"], r["med"], r["min"], "%.0f" % mbs(r["med"]) if nbytes else "-",
        "%.2fx" % (r["med"] / fr["med"]) if fr and fr["med"] else "-",
        r["rss"] / 1024, "%.1f" % (r["size"] / 1e6) if r["size"] is not None else "-"))
def cell(r):
    if not r:
        return "-"  # no such tool in this workload (W11 compares ferry with ferry)
    if r["med"] is None:
        return "FAILED"
    if not nbytes:
        return "%.2f s" % r["med"]
    return "%.2f s (%.0f MB/s)" % (r["med"], mbs(r["med"]))
print("SUMMARY|%s %s|%s|%s|%s|%s|%s" % (
    wid, title, "%.0f" % (nbytes / 1e6) if nbytes else "-", cell(fr), cell(sk),
    "%.2f" % (sk["med"] / fr["med"]) if sk and fr and sk["med"] and fr["med"] else "-",
    "%.0f MB" % (fr["rss"] / 1024) if fr and fr["rss"] else "-"))
EOF

mb() { # MB -> bytes, scaled
	awk -v mb="$1" -v s="$SCALE" 'BEGIN { printf "%d", mb * s * 1000000 }'
}

# gen NAME SPEC: DATA/NAME unless it exists from the same spec.
gen() {
	local name=$1 spec=$2 f=$DATA/$1
	if [ -f "$f" ] && [ -f "$f.spec" ] && [ "$(cat "$f.spec")" = "$spec" ]; then
		return 0
	fi
	echo "bench: generating $f (once; kept for later runs)"
	rm -rf "$f" "$f.spec" "$f.info" "$f.tmp" "$f.layers"
	python3 -c "$GEN_PY" "$f" "$spec" || die "generating $f failed"
	printf '%s' "$spec" >"$f.spec"
}

# A JSON layer spec: layer SEED MB
layer() { printf '{"seed":"%s","size":%s}' "$1" "$(mb "$2")"; }
mixjson=[${MIX//:/,}]

gen_w1() {
	local l=() f
	for f in 0.45:0 0.30:1 0.17:2 0.08:3; do
		l+=("$(layer "w1-l${f#*:}" "$(awk -v a="$W1_MB" -v f="${f%:*}" 'BEGIN { print a * f }')")")
	done
	gen w1.tar "{\"mix\":$mixjson,\"images\":[{\"name\":\"bench/w1:latest\",\"layers\":[$(
		IFS=,
		echo "${l[*]}"
	)]}]}"
}

# W3's input: W1 as an OCI layout with gzip layers, made by ferry.
gen_w3() {
	local d=$DATA/w3-oci spec
	gen_w1
	spec="$(cat "$DATA/w1.tar.spec") gzip $("$FERRY" --version | head -n 1)"
	if [ -f "$d.spec" ] && [ "$(cat "$d.spec")" = "$spec" ]; then
		return 0
	fi
	echo "bench: generating $d (ferry convert --compress gzip)"
	rm -rf "$d" "$d.spec"
	"$FERRY" convert -q --compress gzip "$DATA/w1.tar" "oci:$d" || die "ferry could not make $d"
	printf '%s' "$spec" >"$d.spec"
}

gen_w4() {
	local base imgs=() x
	base=$(layer w4-base "$W4_BASE_MB")
	for x in a b c; do
		imgs+=("{\"name\":\"bench/w4-$x:latest\",\"layers\":[$base,$(layer "w4-app-$x" "$W4_APP_MB")]}")
	done
	gen w4.tar "{\"mix\":$mixjson,\"images\":[$(
		IFS=,
		echo "${imgs[*]}"
	)]}"
}

gen_w6() {
	local base imgs=() i
	base=$(layer w6-base "$W6_BASE_MB")
	for ((i = 0; i < W6_IMAGES; i++)); do
		imgs+=("$(printf '{"name":"bench/small-%02d:latest","layers":[%s,%s]}' \
			"$i" "$base" "$(layer "w6-app-$i" "$W6_APP_MB")")")
	done
	gen w6.tar "{\"mix\":$mixjson,\"images\":[$(
		IFS=,
		echo "${imgs[*]}"
	)]}"
}

# W12: 10 layers; the far side has the first 9 (w12-have.tar), the 10th alone is w12-top.tar.
gen_w12() {
	local l=() i
	for ((i = 0; i < 10; i++)); do
		l+=("$(layer "w12-l$i" "$(awk -v a="$W12_MB" 'BEGIN { print a / 10 }')")")
	done
	gen w12.tar "{\"mix\":$mixjson,\"images\":[{\"name\":\"bench/w12:2\",\"layers\":[$(
		IFS=,
		echo "${l[*]}"
	)]}]}"
	gen w12-have.tar "{\"mix\":$mixjson,\"images\":[{\"name\":\"bench/w12:1\",\"layers\":[$(
		IFS=,
		echo "${l[*]:0:9}"
	)]}]}"
	gen w12-top.tar "{\"mix\":$mixjson,\"images\":[{\"name\":\"bench/w12-top:2\",\"layers\":[${l[9]}]}]}"
	"$FERRY" inventory "$DATA/w12-have.tar" -o "$DATA/w12-have.json" || die "W12: ferry inventory failed"
}

# W13: W13_IMAGES images of a 2 kB layer each over a shared 2 kB base (sizes not scaled).
gen_w13() {
	local imgs=() i base='{"seed":"w13-base","size":2048}'
	for ((i = 0; i < W13_IMAGES; i++)); do
		imgs+=("$(printf '{"name":"bench/many-%04d:latest","layers":[%s,{"seed":"w13-%d","size":2048}]}' \
			"$i" "$base" "$i")")
	done
	gen w13.tar "{\"mix\":$mixjson,\"images\":[$(
		IFS=,
		echo "${imgs[*]}"
	)]}"
}

unique_bytes() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["unique_layer_bytes"])' "$1.info"; }

# Touches WARM_MB of memory and frees it (see BENCH_WARM_MB).
warm_memory() {
	[ "$WARM_MB" = 0 ] && return 0
	python3 -c 'import sys
b = bytearray(int(sys.argv[1]) << 20)
b[::4096] = b"\x01" * (len(b) // 4096)' "$WARM_MB"
}

# Reads every file of the inputs once so the runs read from the page cache.
warm() { find "$@" -type f -exec cat {} + >/dev/null; }

# ---------------------------------------------------------------------------
# Measuring.

declare -A T RSS SIZE FAILED # "WORKLOAD/TOOL" -> samples (space-separated)
SIZE_DIR=$OUT

# measure KEY FUNC: runs FUNC once under /usr/bin/time, records wall time,
# peak RSS (KB, the largest process in the tree) and the bytes in SIZE_DIR
# (what was written; none if SIZE_DIR is empty).
measure() {
	local key=$1 fn=$2 t0 t1 rc=0
	[ -z "${FAILED[$key]:-}" ] || return 0
	echo "== $key: $fn" >>"$LOG"
	warm_memory
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$RUN/rss" bash -c "$fn" >>"$LOG" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	if [ "$rc" != 0 ]; then
		FAILED[$key]=1
		echo "bench: $key FAILED (exit $rc); last lines of $LOG:" >&2
		tail -n 5 "$LOG" | sed 's/^/    /' >&2
		return 0
	fi
	T[$key]="${T[$key]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	RSS[$key]="${RSS[$key]:-} $(tail -n 1 "$RUN/rss")"
	if [ -n "$SIZE_DIR" ]; then
		SIZE[$key]=$(du -sb "$SIZE_DIR" | cut -f1)
	fi
}

clean_out() {
	rm -rf "$OUT"
	mkdir -p "$OUT"
	sync
}

# bench_workload ID TITLE BYTES|- TOOL=FUNC...: RUNS rounds, each running every
# tool once in the order given. A function FUNC_prep, if defined, runs
# (untimed) before FUNC.
bench_workload() {
	local id=$1 title=$2 bytes=$3 i spec tool fn
	shift 3
	printf '\n%s  %s\n    %d runs each; ' "$id" "$title" "$RUNS"
	if [ "$bytes" = - ]; then
		echo "a fixed amount of work: no MB/s"
	else
		awk -v b="$bytes" 'BEGIN { printf "unique input layer bytes: %.1f MB\n", b / 1e6 }'
	fi
	for ((i = 1; i <= RUNS; i++)); do
		for spec in "$@"; do
			tool=${spec%%=*} fn=${spec#*=}
			clean_out
			if declare -F "${fn}_prep" >/dev/null; then "${fn}_prep"; fi
			measure "$id/$tool" "$fn"
			printf . >&2
		done
	done
	echo >&2
	clean_out
	report "$id" "$title" "$bytes" "$@"
}

report() {
	local id=$1 title=$2 bytes=$3 spec tool
	shift 3
	local args=()
	for spec in "$@"; do
		tool=${spec%%=*}
		args+=("$tool" "${T[$id/$tool]:-}" "${RSS[$id/$tool]:-}" "${SIZE[$id/$tool]:-}" "${FAILED[$id/$tool]:-}")
	done
	local res
	res=$(python3 -c "$REPORT_PY" "$id" "$title" "$bytes" "${args[@]}")
	grep -v '^SUMMARY|' <<<"$res"
	grep '^SUMMARY|' <<<"$res" | cut -d'|' -f2- >>"$RUN/summary"
}

# ---------------------------------------------------------------------------
# The tools' commands (run by bash -c, so exported).

export FERRY DATA OUT RUN W11_SPLIT

w1_ferry() { "$FERRY" convert -q "$DATA/w1.tar" "$OUT/oci/"; }
w1_skopeo() { skopeo --insecure-policy copy -q --dest-oci-accept-uncompressed-layers "docker-archive:$DATA/w1.tar" "oci:$OUT/oci:latest"; }
w1_ref() { tee "$OUT/copy" <"$DATA/w1.tar" | openssl dgst -sha256 >/dev/null; }
w1_ref_sync() { w1_ref && sync --data "$OUT/copy"; }

w2gz_ferry() { "$FERRY" convert -q --compress gzip "$DATA/w1.tar" "$OUT/oci/"; }
w2gz_skopeo() { skopeo --insecure-policy copy -q "docker-archive:$DATA/w1.tar" "oci:$OUT/oci:latest"; }
# ferry's gzip defaults to level 1, skopeo's to its library's default level:
# the same levels both ways too.
w2gz6_ferry() { "$FERRY" convert -q --compress gzip:6 "$DATA/w1.tar" "$OUT/oci/"; }
w2gz1_skopeo() { skopeo --insecure-policy copy -q --dest-compress-level 1 "docker-archive:$DATA/w1.tar" "oci:$OUT/oci:latest"; }
w2zst_ferry() { "$FERRY" convert -q --compress zstd "$DATA/w1.tar" "$OUT/oci/"; }
w2zst_skopeo() { skopeo --insecure-policy copy -q --dest-compress-format zstd "docker-archive:$DATA/w1.tar" "oci:$OUT/oci:latest"; }

w11w_split() { "$FERRY" convert -q --split "$W11_SPLIT" "$DATA/w1.tar" "docker-archive:$OUT/set.tar"; }
w11w_whole() { "$FERRY" convert -q "$DATA/w1.tar" "docker-archive:$OUT/whole.tar"; }
w11r_set() { "$FERRY" convert -q "$DATA/w11/set.tar" "$OUT/oci/"; }
w11r_whole() { "$FERRY" convert -q "$DATA/w11/whole.tar" "$OUT/oci/"; }
w12_delta() { "$FERRY" convert -q --have "$DATA/w12-have.json" "$DATA/w12.tar" "oci-archive:$OUT/delta.tar"; }
w12_full() { "$FERRY" convert -q "$DATA/w12.tar" "oci-archive:$OUT/full.tar"; }
w12_top() { "$FERRY" convert -q "$DATA/w12-top.tar" "oci-archive:$OUT/top.tar"; }
w13_inventory() { "$FERRY" inventory "$DATA/w13.tar" -o "$OUT/inventory.json"; }
w13_ls() { "$FERRY" ls "$DATA/w13.tar" >"$OUT/ls"; }
w13_tar() { tar tf "$DATA/w13.tar" >"$OUT/list"; }
# W11b's inputs, made once: W1 as a set of volumes and whole.
gen_w11() {
	[ -f "$DATA/w11/set.tar.sha256" ] && [ -f "$DATA/w11/whole.tar" ] && return 0
	rm -rf "$DATA/w11"
	mkdir -p "$DATA/w11"
	"$FERRY" convert -q --split "$W11_SPLIT" "$DATA/w1.tar" "docker-archive:$DATA/w11/set.tar" >>"$LOG" 2>&1 &&
		"$FERRY" convert -q "$DATA/w1.tar" "docker-archive:$DATA/w11/whole.tar" >>"$LOG" 2>&1 ||
		die "W11: making its inputs failed (see $LOG)"
}

w3_ferry() { "$FERRY" convert -q "oci:$DATA/w3-oci" "$OUT/out.tar"; }
w3_skopeo() { skopeo --insecure-policy copy -q "oci:$DATA/w3-oci" "docker-archive:$OUT/out.tar:bench/w1:latest"; }

w4_ferry() { "$FERRY" convert -q --compress gzip "$DATA/w4.tar" "oci:$OUT/oci"; }
w4_skopeo() {
	local x
	for x in a b c; do
		skopeo --insecure-policy copy -q "docker-archive:$DATA/w4.tar:bench/w4-$x:latest" "oci:$OUT/oci:w4-$x" || return
	done
}

# W5/W6: FERRY_REG_ADDR and XDG_CACHE_HOME are set by the _prep functions.
w5_ferry() { "$FERRY" push -q "$DATA/w1.tar" "docker://$FERRY_REG_ADDR/w5/ferry:latest"; }
w5_skopeo() { skopeo --insecure-policy copy -q --dest-tls-verify=false "docker-archive:$DATA/w1.tar" "docker://$FERRY_REG_ADDR/w5/skopeo:latest"; }
w5_ferry_prep() {
	fresh_registry
	rm -rf "$XDG_CACHE_HOME"
}
w5_skopeo_prep() { fresh_registry; }
# Re-push: same registry and ferry cache as the untimed first push.
w5re_ferry() { w5_ferry; }
w5re_skopeo() { w5_skopeo; }

# --registry rather than docker://HOST:PORT, which ferry 0.1.0 takes for a
# full reference (repository HOST, tag PORT).
w6_ferry() { "$FERRY" push -q --registry "$FERRY_REG_ADDR" "$DATA/w6.tar"; }
w6_skopeo() {
	local name
	while read -r name; do
		skopeo --insecure-policy copy -q --dest-tls-verify=false "docker-archive:$DATA/w6.tar:$name" \
			"docker://$FERRY_REG_ADDR/$name" || return
	done <"$DATA/w6.tar.names"
}
w6_ferry_prep() { w5_ferry_prep; }
w6_skopeo_prep() { fresh_registry; }
w7_ferry() { "$FERRY" push -q "oci:$DATA/w3-oci" "docker://$FERRY_REG_ADDR/w7/ferry:latest"; }
w7_skopeo() { skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$DATA/w3-oci" "docker://$FERRY_REG_ADDR/w7/skopeo:latest"; }
w7_ferry_prep() { w5_ferry_prep; }
w7_skopeo_prep() { fresh_registry; }

# W8: skopeo pulls from ferry serve (SERVE_ADDR) or from docker-registry (FERRY_REG_ADDR).
w8big() { skopeo --insecure-policy copy -q --src-tls-verify=false --dest-oci-accept-uncompressed-layers \
	"docker://$1/bench/w1:latest" "oci:$OUT/oci:latest"; }
w8big_serve() { w8big "$SERVE_ADDR"; }
w8big_registry() { w8big "$FERRY_REG_ADDR"; }
w8small() {
	local name i=0
	while read -r name; do
		skopeo --insecure-policy copy -q --src-tls-verify=false --dest-oci-accept-uncompressed-layers \
			"docker://$1/$name" "oci:$OUT/oci:i$i" || return
		i=$((i + 1))
	done <"$DATA/w6.tar.names"
}
w8small_serve() { w8small "$SERVE_ADDR"; }
w8small_registry() { w8small "$FERRY_REG_ADDR"; }
# One skopeo process for all of them (skopeo sync from a YAML list), so the
# servers, not skopeo's start-up per image, set the time.
w8sync() {
	python3 - "$1" "$DATA/w6.tar.names" >"$OUT/sync.yaml" <<'PY'
import sys
host, names = sys.argv[1], open(sys.argv[2]).read().split()
repos = {}
for n in names:
    repo, tag = n.rsplit(":", 1)
    repos.setdefault(repo, []).append(tag)
print("%s:\n  tls-verify: false\n  images:" % host)
for repo, tags in repos.items():
    print("    %s: [%s]" % (repo, ", ".join(tags)))
PY
	skopeo --insecure-policy sync --src yaml --dest dir "$OUT/sync.yaml" "$OUT/sync"
}
w8sync_serve() { w8sync "$SERVE_ADDR"; }
w8sync_registry() { w8sync "$FERRY_REG_ADDR"; }

# ab_rps ADDR PATH: requests per second of 20000 GETs over 32 keep-alive connections.
ab_rps() {
	ab -q -k -c 32 -n "$(python3 -c 'import sys; print(max(2000, int(20000 * min(1, float(sys.argv[1])))))' "$SCALE")" \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
		"http://$1$2" 2>>"$LOG" | awk '/^Requests per second/ {print $4} /^Failed requests/ {f = $3} END {if (f) print "failed:" f}'
}

export -f w8big w8big_serve w8big_registry w8small w8small_serve w8small_registry \
	w8sync w8sync_serve w8sync_registry
export -f w1_ferry w1_skopeo w1_ref w1_ref_sync w2gz_ferry w2gz_skopeo w2gz6_ferry w2gz1_skopeo w2zst_ferry w2zst_skopeo \
	w3_ferry w3_skopeo w4_ferry w4_skopeo w5_ferry w5_skopeo w5re_ferry w5re_skopeo \
	w6_ferry w6_skopeo w7_ferry w7_skopeo w11w_split w11w_whole w11r_set w11r_whole \
	w12_delta w12_full w12_top w13_inventory w13_ls w13_tar

# ---------------------------------------------------------------------------

wants() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

echo "ferry benchmark against skopeo"
echo "  machine:  $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
	"sha_ni: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)," \
	"$(awk '/MemTotal/ {printf "%.0f GB RAM", $2 / 1048576}' /proc/meminfo)"
echo "  kernel:   $(uname -sr)"
echo "  ferry:    $("$FERRY" --version | head -n 1) ($FERRY)"
echo "  skopeo:   $(skopeo --version)"
echo "  load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
echo "  scale:    BENCH_SCALE=$SCALE, $RUNS runs, mix text:random:zeros $MIX, data in $DATA"
echo "  memory:   $WARM_MB MB touched and freed before each run (BENCH_WARM_MB); registry storage: $REGISTRY (BENCH_REGISTRY)"

wants W1 || wants W2 || wants W5 || wants W11 && gen_w1
wants W3 || wants W7 && gen_w3
wants W4 && gen_w4
if wants W6; then
	gen_w6
	python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["names"]))' \
		"$DATA/w6.tar.info" >"$DATA/w6.tar.names"
fi

if wants W1; then
	warm "$DATA/w1.tar"
	bench_workload W1 "docker-archive -> OCI, layers kept" "$(unique_bytes "$DATA/w1.tar")" \
		ferry=w1_ferry skopeo=w1_skopeo "tee+sha256 (reference)=w1_ref" \
		"tee+sha256+fdatasync (reference)=w1_ref_sync"
fi
if wants W2; then
	warm "$DATA/w1.tar"
	bench_workload W2a "docker-archive -> OCI, gzip" "$(unique_bytes "$DATA/w1.tar")" \
		"ferry --compress gzip=w2gz_ferry" "skopeo (default gzip)=w2gz_skopeo" \
		"ferry --compress gzip:6=w2gz6_ferry" "skopeo --dest-compress-level 1=w2gz1_skopeo"
	bench_workload W2b "docker-archive -> OCI, zstd" "$(unique_bytes "$DATA/w1.tar")" \
		"ferry --compress zstd=w2zst_ferry" "skopeo --dest-compress-format zstd=w2zst_skopeo"
fi
if wants W3; then
	warm "$DATA/w3-oci"
	bench_workload W3 "OCI (gzip layers) -> docker-archive" "$(python3 -c "$OCI_BYTES_PY" "$DATA/w3-oci")" \
		ferry=w3_ferry "skopeo=w3_skopeo"
fi
if wants W4; then
	warm "$DATA/w4.tar"
	bench_workload W4 "3 images sharing a base -> OCI, gzip" "$(unique_bytes "$DATA/w4.tar")" \
		"ferry (one run)=w4_ferry" "skopeo (one copy per image)=w4_skopeo"
fi
# The registry storages W5 and W6 run on, each with its label.
storages=()
case $REGISTRY in
disk) storages=(disk) ;;
memory) storages=(memory) ;;
both) storages=(disk memory) ;;
esac
if wants W5 || wants W6 || wants W7; then
	if [[ " ${storages[*]} " == *" memory "* ]]; then
		if [ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
			MEM_DIR=$(mktemp -d /dev/shm/ferry-bench.XXXXXX); then
			:
		else
			echo "bench: no tmpfs at /dev/shm: W5, W6 and W7 run with the registry on disk only" >&2
			storages=(disk)
		fi
	fi
fi
reg_label() { if [ "$1" = memory ]; then echo ", registry in memory"; fi; }
reg_suffix() { if [ "$1" = memory ]; then echo "m"; fi; }

for REG_STORAGE in "${storages[@]}"; do
	label=$(reg_label "$REG_STORAGE")
	sfx=$(reg_suffix "$REG_STORAGE")
	if [ "$REG_STORAGE" = memory ]; then regdata=$MEM_DIR/registry/data; else regdata=$RUN/registry/data; fi
	if wants W5; then
		warm "$DATA/w1.tar"
		SIZE_DIR=$regdata # what the registry stores
		bench_workload "W5a$sfx" "push to a local registry, first push$label" "$(unique_bytes "$DATA/w1.tar")" \
			ferry=w5_ferry skopeo=w5_skopeo
		# One registry and ferry cache for all re-pushes, filled once untimed.
		w5_ferry_prep
		clean_out
		if bash -c w5_ferry >>"$LOG" 2>&1 && bash -c w5_skopeo >>"$LOG" 2>&1; then
			SIZE_DIR= # holds both tools' pushes: no size
			bench_workload "W5b$sfx" "push to a local registry, re-push unchanged$label" - \
				ferry=w5re_ferry skopeo=w5re_skopeo
		else
			echo "bench: W5b$sfx skipped: the first push failed (see $LOG)" >&2
		fi
		stop_registry
	fi
	if wants W6; then
		warm "$DATA/w6.tar"
		SIZE_DIR=$regdata
		bench_workload "W6$sfx" "$W6_IMAGES small images, first push$label" "$(unique_bytes "$DATA/w6.tar")" \
			"ferry (one push)=w6_ferry" "skopeo (one copy per image)=w6_skopeo"
		stop_registry
	fi
	if wants W7; then
		warm "$DATA/w3-oci"
		SIZE_DIR=$regdata
		bench_workload "W7$sfx" "push an OCI layout of gzip layers, first push$label" \
			"$(python3 -c "$OCI_BYTES_PY" "$DATA/w3-oci")" ferry=w7_ferry skopeo=w7_skopeo
		stop_registry
	fi
done

if wants W8; then
	command -v ab >/dev/null 2>&1 || die "ab not found (apache2-utils); run 'make deps' first"
	[ -f "$DATA/w1.tar" ] || gen_w1
	if [ ! -f "$DATA/w6.tar.names" ]; then
		gen_w6
		python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["names"]))' \
			"$DATA/w6.tar.info" >"$DATA/w6.tar.names"
	fi
	warm "$DATA/w1.tar" "$DATA/w6.tar"
	start_serve "$DATA/w1.tar" "$DATA/w6.tar"
	REG_STORAGE=disk
	fresh_registry
	for f in w1.tar w6.tar; do
		# --compress none: the registry then holds the very layers ferry serve
		# serves from the archive, so both send the same bytes.
		"$FERRY" push -q --compress none --registry "$FERRY_REG_ADDR" "$DATA/$f" >>"$LOG" 2>&1 ||
			die "W8: pushing $f into docker-registry failed (see $LOG)"
	done
	SIZE_DIR=
	bench_workload W8a "skopeo pulls the W1 image" "$(unique_bytes "$DATA/w1.tar")" \
		"ferry serve=w8big_serve" "skopeo from docker-registry=w8big_registry"
	bench_workload W8b "skopeo pulls the $W6_IMAGES small images" "$(unique_bytes "$DATA/w6.tar")" \
		"ferry serve=w8small_serve" "skopeo from docker-registry=w8small_registry"
	bench_workload W8d "skopeo sync pulls the $W6_IMAGES small images in one process" "$(unique_bytes "$DATA/w6.tar")" \
		"ferry serve=w8sync_serve" "skopeo from docker-registry=w8sync_registry"
	manifest=/v2/$(head -n 1 "$DATA/w6.tar.names" | sed 's|:|/manifests/|')
	printf '\nW8c  GET %s, 32 keep-alive connections (ab -k): requests per second\n' "$manifest"
	printf '    %-36s %s\n' "ferry serve" "$(ab_rps "$SERVE_ADDR" "$manifest")" \
		"docker-registry" "$(ab_rps "$FERRY_REG_ADDR" "$manifest")"
	stop_serve
	stop_registry
fi

if wants W11; then
	gen_w11
	warm "$DATA/w1.tar"
	bench_workload W11a "docker-archive cut into $W11_SPLIT volumes, against whole" "$(unique_bytes "$DATA/w1.tar")" \
		"ferry --split $W11_SPLIT=w11w_split" "ferry, one archive (reference)=w11w_whole"
	warm "$DATA/w11"
	bench_workload W11b "read a volume set -> OCI, against the whole archive" "$(unique_bytes "$DATA/w1.tar")" \
		"ferry, the set=w11r_set" "ferry, the whole archive (reference)=w11r_whole"
fi

if wants W12; then
	gen_w12
	warm "$DATA/w12.tar" "$DATA/w12-top.tar"
	bench_workload W12 "delta of a 10-layer source whose far side has 9 layers" "$(unique_bytes "$DATA/w12.tar")" \
		"ferry convert --have=w12_delta" "ferry, full conversion (reference)=w12_full" \
		"ferry, the new layer alone (floor)=w12_top"
fi

if wants W13; then
	gen_w13
	warm "$DATA/w13.tar"
	bench_workload W13 "inventory of an archive of $W13_IMAGES images" - \
		"ferry inventory=w13_inventory" "ferry ls (reference)=w13_ls" "tar tf (floor)=w13_tar"
fi

if [ -s "$RUN/summary" ]; then
	echo
	echo "Summary (markdown; MB/s of unique input layer bytes, median of $RUNS runs):"
	echo
	echo "| workload | MB | ferry | skopeo | skopeo/ferry | ferry peak RSS |"
	echo "|---|---:|---:|---:|---:|---:|"
	while IFS='|' read -r w b f s r m; do
		echo "| $w | $b | $f | $s | $r | $m |"
	done <"$RUN/summary"
fi
echo
echo "bench: log of this run in $LOG"
