#!/usr/bin/env python3
"""Writes a corpus of hostile image archives and layouts for tests/e2e/70-hostile.sh.

    tests/hostile/make-corpus.py OUTDIR [--abs-target PATH]

OUTDIR gets one file (or, for OCI layouts, one directory) per case plus
cases.tsv, the manifest the test reads.  Each line of cases.tsv is

    NAME <TAB> EXIT <TAB> MESSAGE <TAB> STAGE <TAB> DIR_EXIT <TAB> COMMANDS

NAME      the case, a path relative to OUTDIR
EXIT      the exit code `ferry convert NAME OUT.tar` must give (README.md);
          0 marks a control case that is hostile-looking but valid
MESSAGE   a substring of the one-line error (case-insensitive; '-' for controls)
STAGE     "open": the trap is met while the source is opened, so ls,
          verify and both converts all fail with EXIT and MESSAGE;
          "data": it is in layer bytes, which only convert and verify read:
          ls exits 0 and verify reports it as a problem (exit 3)
DIR_EXIT  what `ferry convert NAME OUT/` (an OCI layout keeping each layer's
          bytes as they are) must give; differs from EXIT only when the trap
          is inside a compressed layer that such a copy never decompresses
          (its digest and size are right, so the bytes are copied verbatim)
COMMANDS  which of ls, verify, dir (convert to OUT/), tar (convert to
          OUT.tar) to run: all four, except for a case whose every run costs
          seconds.  Two more, listed only where they recompress the case's
          layers (so they decode them and EXIT applies, as for tar): gzip
          and zstd (convert --compress gzip|zstd to OUT/)

Lines starting with '#' are comments.  --abs-target is where absolute names
and link targets in the corpus point (default: a path under /tmp that should
not exist); the test points it at a victim file it watches.

Tarballs are written header by header (ustar, plus pax or GNU records for
long names) because tarfile refuses, or silently repairs, most of the traps.
The decompression bomb is made by streaming /dev/zero through the zstd
command; nothing large is held in memory.  Deterministic apart from the
absolute target path.  Python 3.8+ standard library and the zstd command.
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys

T0 = 1704067200  # 2024-01-01

# ---- small helpers ----------------------------------------------------------


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def gz(data, mtime=0):
    return gzip.compress(data, compresslevel=6, mtime=mtime)


def zstd(data, extra=()):
    return subprocess.run(["zstd", "-q", "-c", *extra], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def pseudo_random(n, seed):
    """n bytes that do not compress (so stream offsets mean something)."""
    out = bytearray()
    h = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    return bytes(out[:n])


# ---- tar writing, one header at a time -----------------------------------------


def _octal(n, width):
    return (b"%0*o" % (width - 1, n)) + b"\0"


def _header(name, size=0, typeflag=b"0", linkname=b"", mode=0o644):
    if isinstance(name, str):
        name = name.encode()
    if isinstance(linkname, str):
        linkname = linkname.encode()
    h = bytearray(512)
    h[0:len(name[:100])] = name[:100]
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(0, 8)
    h[116:124] = _octal(0, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(T0, 12)
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:157 + len(linkname[:100])] = linkname[:100]
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[265:269] = b"root"
    h[297:301] = b"root"
    csum = sum(h)
    h[148:156] = b"%06o\0 " % csum
    return bytes(h)


def _pad(data):
    return data + b"\0" * (-len(data) % 512)


def _pax_record(key, value):
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


class Tar:
    """A tarball built entry by entry, in the order given."""

    def __init__(self):
        self.buf = bytearray()

    def _long(self, name, linkname):
        """Long names: a pax header (and the ustar fields hold a truncated name)."""
        rec = b""
        if len(name) > 100:
            rec += _pax_record("path", name)
        if len(linkname) > 100:
            rec += _pax_record("linkpath", linkname)
        if rec:
            self.buf += _header("././@PaxHeader", len(rec), b"x") + _pad(rec)

    def entry(self, name, data=b"", typeflag=b"0", linkname=b"", mode=0o644):
        name = name.encode() if isinstance(name, str) else name
        linkname = linkname.encode() if isinstance(linkname, str) else linkname
        self._long(name, linkname)
        self.buf += _header(name, len(data) if typeflag == b"0" else 0, typeflag, linkname, mode)
        if typeflag == b"0":
            self.buf += _pad(data)
        return self

    def file(self, name, data):
        return self.entry(name, data)

    def dir(self, name):
        return self.entry(name, typeflag=b"5", mode=0o755)

    def symlink(self, name, target):
        return self.entry(name, typeflag=b"2", linkname=target, mode=0o777)

    def hardlink(self, name, target):
        return self.entry(name, typeflag=b"1", linkname=target)

    def gnu_longname(self, name, data):
        """A GNU ././@LongLink 'L' record, then the entry."""
        name = name.encode()
        self.buf += _header("././@LongLink", len(name) + 1, b"L") + _pad(name + b"\0")
        self.buf += _header(name[:100], len(data)) + _pad(data)
        return self

    def raw(self, data):
        self.buf += data
        return self

    def bytes(self, end=True):
        return bytes(self.buf) + (b"\0" * 1024 if end else b"")


# ---- valid images to start from ------------------------------------------------------


def rootfs(files):
    t = Tar()
    for name, data in files:
        t.file(name, data)
    return t.bytes()


def config(diff_ids, arch="amd64"):
    return jdump({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z"} for _ in diff_ids],
    })


def desc(mt, data, **kw):
    d = {"mediaType": mt, "digest": sha(data), "size": len(data)}
    d.update(kw)
    return d


MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_ZST = "application/vnd.oci.image.layer.v1.tar+zstd"

LAYER = rootfs([("etc/hello.txt", b"hello from the hostile corpus\n")])
BIG_LAYER = rootfs([("data/blob.bin", pseudo_random(300 << 10, "big"))])


def docker_archive(layers=None, tags=("example/app:1",), manifest=None, config_bytes=None,
                   config_path=None, layer_paths=None, before=(), after=(), end=True):
    """A legacy docker-save tarball: <hex>.json config, <n>/layer.tar, manifest.json last.

    before/after: extra Tar-method calls, as (method, args) pairs, placed
    before the image files or between them and manifest.json.
    """
    layers = [LAYER] if layers is None else layers
    cfg = config_bytes if config_bytes is not None else config([sha(l) for l in layers])
    cpath = config_path or sha(cfg)[7:] + ".json"
    lpaths = layer_paths or ["l%d/layer.tar" % i for i in range(len(layers))]
    mj = manifest if manifest is not None else jdump(
        [{"Config": cpath, "RepoTags": list(tags), "Layers": lpaths}])
    t = Tar()
    for meth, args in before:
        getattr(t, meth)(*args)
    t.file(cpath, cfg)
    for p, l in zip(lpaths, layers):
        if layer_paths is None:
            t.dir(os.path.dirname(p) + "/")  # docker save writes the directory entries too
        t.file(p, l)
    for meth, args in after:
        getattr(t, meth)(*args)
    t.file("manifest.json", mj)
    return t.bytes(end)


class Oci:
    """An OCI layout held in memory: blobs plus index.json, written as a tar or a directory."""

    def __init__(self):
        self.blobs = {}  # path -> bytes, in insertion order
        self.index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}

    def blob(self, data, path=None):
        self.blobs[path or "blobs/sha256/" + sha(data)[7:]] = data
        return data

    def image(self, layers=None, mts=None, diff_ids=None, ref="1", config_bytes=None, manifest_edit=None,
              add=True):
        """Add an image; returns the manifest descriptor."""
        layers = [LAYER] if layers is None else layers
        mts = mts or [MT_LAYER] * len(layers)
        if diff_ids is None:
            diff_ids = [sha(l) for l in layers]
        cfg = config_bytes if config_bytes is not None else config(diff_ids)
        self.blob(cfg)
        for l in layers:
            self.blob(l)
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": desc(MT_CONFIG, cfg),
             "layers": [desc(mt, l) for mt, l in zip(mts, layers)]}
        if manifest_edit:
            manifest_edit(m)
        mb = self.blob(jdump(m))
        d = desc(MT_MANIFEST, mb)
        if add:
            self.add(d, ref)
        return d

    def add(self, d, ref="1"):
        d = dict(d)
        if ref:
            d["annotations"] = {"org.opencontainers.image.ref.name": ref,
                                "io.containerd.image.name": "docker.io/example/app:" + ref}
        self.index["manifests"].append(d)

    def tar(self, index_bytes=None, layout=b'{"imageLayoutVersion":"1.0.0"}', end=True):
        t = Tar()
        t.file("oci-layout", layout)
        t.file("index.json", index_bytes if index_bytes is not None else jdump(self.index))
        t.dir("blobs/")
        t.dir("blobs/sha256/")
        for p, data in self.blobs.items():
            t.file(p, data)
        return t.bytes(end)

    def write_dir(self, path, index_bytes=None):
        os.makedirs(os.path.join(path, "blobs", "sha256"))
        with open(os.path.join(path, "oci-layout"), "wb") as f:
            f.write(b'{"imageLayoutVersion":"1.0.0"}')
        with open(os.path.join(path, "index.json"), "wb") as f:
            f.write(index_bytes if index_bytes is not None else jdump(self.index))
        for p, data in self.blobs.items():
            with open(os.path.join(path, p), "wb") as f:
                f.write(data)


def oci_with(**kw):
    o = Oci()
    o.image(**kw)
    return o


def edit_index(o, fn):
    ix = json.loads(jdump(o.index))
    fn(ix)
    return jdump(ix)


def flip(data, off):
    b = bytearray(data)
    b[off] ^= 0xFF
    return bytes(b)


# ---- the cases ----------------------------------------------------------------

CASES = []  # (name, exit, message, stage, dir_exit, commands, builder)


def case(name, exit_code, message, stage="open", dir_exit=None, commands="ls,verify,dir,tar"):
    def reg(fn):
        CASES.append((name, exit_code, message, stage, exit_code if dir_exit is None else dir_exit,
                      commands, fn))
        return fn
    return reg


def register(abs_target):
    A = abs_target

    # -- controls: hostile-looking but valid; the harness must let them through
    @case("control-plain.tar", 0, "-")
    def _():
        return docker_archive()

    @case("control-dot-slash.tar", 0, "-")
    def _():
        # tar -C dir . makes every name start with "./": harmless.
        cfg = config([sha(LAYER)])
        c = sha(cfg)[7:] + ".json"
        return (Tar().dir("./").file("./" + c, cfg).dir("./l0/").file("./l0/layer.tar", LAYER)
                .file(".//manifest.json", jdump([{"Config": "./" + c, "RepoTags": ["example/app:1"],
                                                   "Layers": ["./l0/./layer.tar"]}])).bytes())

    @case("control-chain-16-links.tar", 0, "-")
    def _():
        after = [("symlink", ("link%d" % i, "link%d" % (i + 1))) for i in range(15)]
        after.append(("symlink", ("link15", "l0/layer.tar")))
        return docker_archive(layer_paths=["l0/layer.tar"], after=after,
                              manifest=jdump([{"Config": sha(config([sha(LAYER)]))[7:] + ".json",
                                               "RepoTags": ["example/app:1"], "Layers": ["link0"]}]))

    @case("control-index-depth-8.tar", 0, "-")
    def _():
        return nested_index(8)

    @case("control-name-4096.tar", 0, "-")
    def _():
        # The longest name accepted, on an entry nobody asks for.
        return docker_archive(before=[("file", ("n/" * 2047 + "xy", b"x"))])

    @case("control-hardlink-layer.tar", 0, "-")
    def _():
        # A second image whose layer is a hard link to the first one's.
        cfg = config([sha(LAYER)])
        c = sha(cfg)[7:] + ".json"
        return docker_archive(after=[("hardlink", ("l1/layer.tar", "l0/layer.tar"))], manifest=jdump([
            {"Config": c, "RepoTags": ["example/app:1"], "Layers": ["l0/layer.tar"]},
            {"Config": c, "RepoTags": ["example/app:2"], "Layers": ["l1/layer.tar"]}]))

    # -- entry names
    @case("name-dotdot.tar", 4, '".." component')
    def _():
        return docker_archive(before=[("file", ("../victim", b"pwned\n"))])

    @case("name-dotdot-deep.tar", 4, '".." component')
    def _():
        return docker_archive(after=[("file", ("blobs/sha256/../../../../victim", b"pwned\n"))])

    @case("name-dotdot-after-manifest.tar", 4, '".." component')
    def _():
        # After manifest.json: a reader that stops early would never see it.
        t = Tar().raw(docker_archive(end=False)).file("../../victim", b"pwned\n")
        return t.bytes()

    @case("name-absolute.tar", 4, "absolute name")
    def _():
        return docker_archive(before=[("file", (A, b"pwned\n"))])

    @case("name-dot-slash-duplicate.tar", 4, "appears twice")
    def _():
        # "./manifest.json" and "manifest.json" are one name, with different contents.
        return docker_archive(before=[("file", ("./manifest.json", b"[]"))])

    @case("name-dot-dir-duplicate.tar", 4, "appears twice")
    def _():
        return docker_archive(after=[("file", ("l0/./layer.tar", b"not the layer"))])

    @case("name-backslash.tar", 4, "bad name")
    def _():
        return docker_archive(before=[("file", ("..\\..\\victim", b"pwned\n"))])

    @case("name-too-long-pax.tar", 4, "too long")
    def _():
        return docker_archive(before=[("file", ("d/" * 2100 + "x", b"x"))])

    @case("name-too-long-gnu.tar", 4, "too long")
    def _():
        return docker_archive(before=[("gnu_longname", ("a" * 5000, b"x"))])

    @case("manifest-config-dotdot.tar", 4, '".." component')
    def _():
        return docker_archive(manifest=jdump([{"Config": "../victim", "RepoTags": [], "Layers": []}]))

    @case("manifest-layer-absolute.tar", 4, "absolute name")
    def _():
        cfg = config([sha(LAYER)])
        return docker_archive(manifest=jdump([{"Config": sha(cfg)[7:] + ".json", "RepoTags": [],
                                               "Layers": [A]}]))

    @case("manifest-layer-long.tar", 4, "too long")
    def _():
        cfg = config([sha(LAYER)])
        return docker_archive(manifest=jdump([{"Config": sha(cfg)[7:] + ".json", "RepoTags": [],
                                               "Layers": ["l/" * 2500 + "layer.tar"]}]))

    # -- links
    @case("symlink-outside.tar", 4, "points outside the archive")
    def _():
        return docker_archive(layer_paths=["l0/real.tar"], after=[("symlink", ("l0/layer.tar", "../../victim"))],
                              manifest=jdump([{"Config": sha(config([sha(LAYER)]))[7:] + ".json",
                                               "RepoTags": [], "Layers": ["l0/layer.tar"]}]))

    @case("symlink-absolute.tar", 4, "absolute path")
    def _():
        return docker_archive(after=[("symlink", ("evil.tar", A))])

    @case("symlink-manifest-outside.tar", 4, "points outside the archive")
    def _():
        # manifest.json itself a link out of the archive.
        return Tar().symlink("manifest.json", "../manifest.json").bytes()

    @case("hardlink-outside.tar", 4, '".." component')
    def _():
        return docker_archive(after=[("hardlink", ("l0/other.tar", "../victim"))])

    @case("hardlink-absolute.tar", 4, "absolute name")
    def _():
        return docker_archive(after=[("hardlink", ("l0/other.tar", A))])

    @case("symlink-loop.tar", 4, "more than 16 links")
    def _():
        cfg = config([sha(LAYER)])
        return docker_archive(after=[("symlink", ("a.tar", "b.tar")), ("symlink", ("b.tar", "a.tar"))],
                              manifest=jdump([{"Config": sha(cfg)[7:] + ".json", "RepoTags": [],
                                               "Layers": ["a.tar"]}]))

    @case("symlink-self.tar", 4, "more than 16 links")
    def _():
        return Tar().symlink("manifest.json", "manifest.json").bytes()

    @case("hardlink-loop.tar", 4, "more than 16 links")
    def _():
        cfg = config([sha(LAYER)])
        return docker_archive(after=[("hardlink", ("a.tar", "b.tar")), ("hardlink", ("b.tar", "a.tar"))],
                              manifest=jdump([{"Config": sha(cfg)[7:] + ".json", "RepoTags": [],
                                               "Layers": ["a.tar"]}]))

    @case("symlink-blob-alias-wrong.tar", 3, "descriptor says")
    def _():
        # A link is an alias, not a licence: the manifest's name links to the
        # config's bytes, which do not hash to that name.
        o = oci_with()
        mp = "blobs/sha256/" + o.index["manifests"][0]["digest"][7:]
        cp = [p for p in o.blobs if p != mp and o.blobs[p].startswith(b'{"architecture"')][0]
        o.blobs[mp] = None
        t = Tar().file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}').file("index.json", jdump(o.index))
        for p, data in o.blobs.items():
            if data is None:
                t.symlink(p, os.path.basename(cp))
            else:
                t.file(p, data)
        return t.bytes()

    @case("symlink-chain-17-links.tar", 4, "more than 16 links")
    def _():
        after = [("symlink", ("link%d" % i, "link%d" % (i + 1))) for i in range(16)]
        after.append(("symlink", ("link16", "l0/layer.tar")))
        return docker_archive(after=after,
                              manifest=jdump([{"Config": sha(config([sha(LAYER)]))[7:] + ".json",
                                               "RepoTags": [], "Layers": ["link0"]}]))

    @case("symlink-dir-then-file-outside.tar", 4, "points outside the archive")
    def _():
        # A directory link out of the archive, then a file "inside" it.
        return docker_archive(before=[("symlink", ("esc", "../..")), ("file", ("esc/victim", b"pwned\n"))])

    @case("symlink-dir-then-file-absolute.tar", 4, "absolute path")
    def _():
        return docker_archive(before=[("symlink", ("esc", os.path.dirname(A))),
                                      ("file", ("esc/" + os.path.basename(A), b"pwned\n"))])

    @case("control-file-under-dir-symlink.tar", 0, "-")
    def _():
        # blobs/ is a link to a directory of the archive; the blob is written
        # "through" it.  Links alias entries, never directories on disk: the
        # blob is not found under its real name.
        o = oci_with()
        t = Tar().file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}').file("index.json", jdump(o.index))
        t.dir("store/").dir("store/sha256/").symlink("blobs", "store")
        for p, data in o.blobs.items():
            t.file(p, data)  # blobs/sha256/...: through the link
        return t.bytes()

    # -- digests used as paths
    def bad_index_digest(d):
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(digest=d)))

    @case("digest-dotdot.tar", 4, "invalid digest")
    def _():
        return bad_index_digest("sha256:../../../../../../victim")

    @case("digest-dotdot-64.tar", 4, "invalid digest")
    def _():
        return bad_index_digest("sha256:" + ("../" * 21) + "v")

    @case("digest-uppercase.tar", 4, "not lowercase hex")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(
            digest=ix["manifests"][0]["digest"].upper().replace("SHA256", "sha256"))))

    @case("digest-short.tar", 4, "needs 64 hex digits")
    def _():
        return bad_index_digest("sha256:abcdef")

    @case("digest-unknown-algorithm.tar", 4, "unsupported algorithm")
    def _():
        return bad_index_digest("md5:d41d8cd98f00b204e9800998ecf8427e")

    @case("digest-no-algorithm.tar", 4, "invalid digest")
    def _():
        return bad_index_digest("/" + A)

    @case("digest-nul.tar", 4, "not valid JSON")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(digest="sha256:\u0000/../victim")))

    @case("digest-config-dotdot.tar", 4, "invalid digest")
    def _():
        o = Oci()
        o.image(manifest_edit=lambda m: m["config"].update(digest="sha256:../../victim"))
        return o.tar()

    @case("digest-layer-slash.tar", 4, "invalid digest")
    def _():
        o = Oci()
        o.image(manifest_edit=lambda m: m["layers"][0].update(digest="sha512:/" + A))
        return o.tar()

    @case("digest-sha512-missing.tar", 5, "no entry", stage="data")
    def _():
        o = Oci()
        o.image(manifest_edit=lambda m: m["layers"][0].update(digest="sha512:" + "ab" * 64))
        return o.tar()

    # -- blobs that do not match their descriptors
    @case("manifest-digest-mismatch.tar", 3, "has digest")
    def _():
        o = oci_with()
        mpath = "blobs/sha256/" + o.index["manifests"][0]["digest"][7:]
        o.blobs[mpath] = o.blobs[mpath].replace(b'"schemaVersion":2', b'"schemaVersion":2 ')
        o.index["manifests"][0]["size"] = len(o.blobs[mpath])
        return o.tar()

    @case("manifest-size-mismatch.tar", 3, "descriptor says")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(size=ix["manifests"][0]["size"] + 1)))

    @case("config-digest-mismatch.tar", 3, "has digest")
    def _():
        o = Oci()
        cfg = config([sha(LAYER)])
        d = o.image(config_bytes=cfg)
        m = json.loads(o.blobs["blobs/sha256/" + d["digest"][7:]])
        o.blobs["blobs/sha256/" + m["config"]["digest"][7:]] = cfg.replace(b"amd64", b"arm64")
        return o.tar()

    @case("config-name-mismatch.tar", 3, "has digest")
    def _():
        # Legacy docker-archive: the config's file name is its digest, and lies.
        cfg = config([sha(LAYER)])
        return docker_archive(config_path=sha(cfg + b" ")[7:] + ".json")

    @case("layer-digest-mismatch.tar", 3, "content hashes to", stage="data")
    def _():
        o = Oci()
        o.image()
        lp = "blobs/sha256/" + sha(LAYER)[7:]
        o.blobs[lp] = flip(LAYER, 600)
        return o.tar()

    @case("layer-gzip-digest-mismatch.tar", 3, "content hashes to", stage="data",
          commands="ls,verify,dir,tar,zstd")
    def _():
        # The same layer gzipped with another header mtime: as long, the
        # right diff_id, but not the bytes the descriptor names.  Only the
        # digest of what is read stands between them and a decompressing copy.
        good = gz(BIG_LAYER)
        o = oci_with(layers=[good], mts=[MT_LAYER_GZ], diff_ids=[sha(BIG_LAYER)])
        bad = gz(BIG_LAYER, mtime=1)
        assert len(bad) == len(good) and bad != good
        o.blobs["blobs/sha256/" + sha(good)[7:]] = bad
        return o.tar()

    @case("layer-size-mismatch.tar", 3, "descriptor says", stage="data")
    def _():
        o = Oci()
        o.image(manifest_edit=lambda m: m["layers"][0].update(size=m["layers"][0]["size"] + 512))
        return o.tar()

    @case("layer-diffid-mismatch.tar", 3, "sha256:", stage="data")
    def _():
        # Legacy: the layer has no digest of its own but the config's diff_id.
        return docker_archive(layers=[flip(LAYER, 600)],
                              config_bytes=config([sha(LAYER)]))

    # Compressed layers whose content is not their diff_id: recompressing
    # (zstd from gzip, gzip from zstd) has only the diff_id to go by.
    @case("layer-diffid-mismatch-gzip.tar", 3, "diff_id", stage="data", dir_exit=0,
          commands="ls,verify,dir,tar,zstd")
    def _():
        return oci_with(layers=[gz(flip(LAYER, 600))], mts=[MT_LAYER_GZ], diff_ids=[sha(LAYER)]).tar()

    @case("layer-diffid-mismatch-zstd.tar", 3, "diff_id", stage="data", dir_exit=0,
          commands="ls,verify,dir,tar,gzip")
    def _():
        return oci_with(layers=[zstd(flip(LAYER, 600))], mts=[MT_LAYER_ZST], diff_ids=[sha(LAYER)]).tar()

    @case("layer-diffid-count.tar", 4, "diff_ids for 1 layers")
    def _():
        return docker_archive(config_bytes=config([sha(LAYER), sha(LAYER)]))

    # -- truncation
    @case("trunc-in-header.tar", 4, "truncated")
    def _():
        full = docker_archive(layers=[BIG_LAYER])
        cfg = config([sha(BIG_LAYER)])
        # Cut inside the header that follows the config entry.
        off = 512 + len(_pad(cfg)) + 200
        return full[:off]

    @case("trunc-in-blob.tar", 4, "truncated")
    def _():
        full = docker_archive(layers=[BIG_LAYER])
        return full[:len(full) // 2]

    @case("trunc-before-manifest.tar", 4, "no manifest.json")
    def _():
        full = docker_archive(layers=[BIG_LAYER], end=False)
        mj = jdump([{"Config": sha(config([sha(BIG_LAYER)]))[7:] + ".json", "RepoTags": [],
                     "Layers": ["l0/layer.tar"]}])
        return full[:len(full) - len(_pad(mj)) - 512]

    @case("trunc-in-manifest.tar", 4, "truncated")
    def _():
        full = docker_archive(layers=[BIG_LAYER], end=False)
        return full[:len(full) - 300]

    @case("trunc-oci-blob.tar", 4, "truncated")
    def _():
        full = oci_with(layers=[BIG_LAYER]).tar()
        return full[:len(full) - 100 * 1024]

    # -- compressed as a whole
    big_da = docker_archive(layers=[BIG_LAYER])

    @case("whole-gzip-truncated.tar.gz", 4, "truncated")
    def _():
        g = gz(big_da)
        return g[:len(g) // 2]

    @case("whole-gzip-corrupt-header.tar.gz", 4, "archive format")
    def _():
        return flip(gz(big_da), 100)

    @case("whole-gzip-corrupt-layer.tar.gz", 3, "diff_id", stage="data")
    def _():
        # One byte of a stored deflate block: gzip cannot tell (its CRC is
        # never reached), the layer's diff_id can.
        return flip(gz(big_da), 20000)

    @case("whole-zstd-truncated.tar.zst", 4, "truncated")
    def _():
        z = zstd(big_da)
        return z[:len(z) // 2]

    @case("whole-zstd-corrupt.tar.zst", 4, "decompression failed")
    def _():
        return flip(zstd(big_da), 20000)

    @case("whole-zstd-corrupt-header.tar.zst", 4, "archive format")
    def _():
        return flip(zstd(big_da), 100)

    @case("whole-not-a-tar.tar.gz", 4, "archive format")
    def _():
        return gz(pseudo_random(20000, "junk"))

    # -- compressed layers
    def layer_case(blob, mt):
        # Descriptor digest and size describe the damaged bytes, so only
        # decompression can tell; the diff_id is the good content's.
        return oci_with(layers=[blob], mts=[mt], diff_ids=[sha(BIG_LAYER)]).tar()

    @case("layer-gzip-truncated.tar", 4, "gzip stream truncated", stage="data", dir_exit=0)
    def _():
        g = gz(BIG_LAYER)
        return layer_case(g[:len(g) // 2], MT_LAYER_GZ)

    @case("layer-gzip-corrupt.tar", 4, "corrupt gzip stream", stage="data", dir_exit=0)
    def _():
        g = gz(BIG_LAYER)
        return layer_case(flip(flip(g, 40), 41), MT_LAYER_GZ)

    @case("layer-zstd-truncated.tar", 4, "zstd stream truncated", stage="data", dir_exit=0)
    def _():
        z = zstd(BIG_LAYER)
        return layer_case(z[:len(z) // 2], MT_LAYER_ZST)

    @case("layer-zstd-corrupt.tar", 4, "corrupt zstd stream", stage="data", dir_exit=0)
    def _():
        z = zstd(BIG_LAYER)
        return layer_case(flip(flip(z, 30), 31), MT_LAYER_ZST)

    @case("layer-zstd-window-2gib.tar", 4, "corrupt zstd stream", stage="data", dir_exit=0)
    def _():
        # A frame asking for a 2 GiB window: decoding it would need 2 GiB.
        # (Fed through a pipe, zstd cannot shrink the window to the input's size.)
        z = zstd(pseudo_random(70000, "window"), extra=("--long=31",))
        return layer_case(z, MT_LAYER_ZST)

    @case("layer-zstd-bomb.tar", 6, "decompressed size exceeds", stage="data", dir_exit=0)
    def _():
        # ~1.1 GiB of zeros in a ~40 kB frame: past max(1100 x size, 1 GiB).
        n = 1100 * 1024 * 1024 + 12345
        z = subprocess.run("head -c %d /dev/zero | zstd -q -c" % n, shell=True,
                           stdout=subprocess.PIPE, check=True).stdout
        h = hashlib.sha256()
        zero = bytes(1 << 23)
        left = n
        while left:
            k = min(left, len(zero))
            h.update(zero[:k])
            left -= k
        # The diff_id is right: only the size cap can stop it.
        return oci_with(layers=[z], mts=[MT_LAYER_ZST], diff_ids=["sha256:" + h.hexdigest()]).tar()

    # -- JSON bombs and malformed JSON
    def with_manifest_json(mj):
        return docker_archive(manifest=mj)

    @case("json-deep-nesting.tar", 4, "not valid JSON")
    def _():
        return with_manifest_json(b"[" * 100000 + b"]" * 100000)

    @case("json-deep-nesting-index.tar", 4, "not valid JSON")
    def _():
        return oci_with().tar(b'{"schemaVersion":2,"manifests":' + b"[" * 100000 + b"]" * 100000 + b"}")

    @case("json-string-5mib.tar", 6, "byte limit")
    def _():
        return with_manifest_json(jdump([{"Config": "x" * (5 << 20), "RepoTags": [], "Layers": []}]))

    @case("json-manifest-over-4mib.tar", 6, "byte limit")
    def _():
        # A valid manifest padded past 4 MiB, with the right digest and size.
        o = Oci()
        d = o.image(add=False)
        mb = o.blobs.pop("blobs/sha256/" + d["digest"][7:])
        big = mb[:-1] + b" " * ((4 << 20) + 10) + b"}"
        o.blob(big)
        o.add(desc(MT_MANIFEST, big))
        return o.tar()

    @case("json-index-over-4mib.tar", 6, "byte limit")
    def _():
        o = oci_with()
        ix = jdump(o.index)
        return o.tar(ix[:-1] + b" " * ((4 << 20) + 1) + b"}")

    @case("json-config-over-4mib.tar", 6, "byte limit")
    def _():
        cfg = config([sha(LAYER)])
        return oci_with(config_bytes=cfg[:-1] + b"\t" * (5 << 20) + b"}").tar()

    @case("json-wrong-types-manifest.tar", 4, "has no Config")
    def _():
        return with_manifest_json(b'[{"Config":5,"RepoTags":"x","Layers":{}}]')

    @case("json-wrong-types-layers.tar", 4, "not a string")
    def _():
        cfg = config([sha(LAYER)])
        return with_manifest_json(jdump([{"Config": sha(cfg)[7:] + ".json", "RepoTags": [],
                                          "Layers": [["l0/layer.tar"]]}]))

    @case("json-wrong-types-index.tar", 4, "not an image index")
    def _():
        return oci_with().tar(b'{"schemaVersion":2,"manifests":{"a":1}}')

    @case("json-size-string.tar", 4, "no valid size")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(size=str(ix["manifests"][0]["size"]))))

    @case("json-size-negative.tar", 4, "no valid size")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(size=-1)))

    @case("json-size-huge.tar", 3, "descriptor says")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(size=2 ** 63 - 1)))

    @case("json-size-float.tar", 4, "no valid size")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].update(size=1e300)))

    @case("json-duplicate-keys.tar", 4, "duplicate")
    def _():
        cfg = config([sha(LAYER)])
        c = sha(cfg)[7:] + ".json"
        return with_manifest_json(b'[{"Config":"%s","Config":"l0/layer.tar","RepoTags":[],'
                                  b'"Layers":["l0/layer.tar"]}]' % c.encode())

    @case("json-duplicate-keys-index.tar", 4, "duplicate")
    def _():
        o = oci_with()
        d = json.dumps(o.index["manifests"][0])
        return o.tar(('{"schemaVersion":2,"manifests":[%s],"manifests":[]}' % d).encode())

    @case("json-invalid-utf8.tar", 4, "not valid JSON")
    def _():
        cfg = config([sha(LAYER)])
        return with_manifest_json(b'[{"Config":"%s","RepoTags":["example/app:\xff\xfe"],'
                                  b'"Layers":["l0/layer.tar"]}]' % (sha(cfg)[7:] + ".json").encode())

    @case("json-truncated.tar", 4, "not valid JSON")
    def _():
        return with_manifest_json(b'[{"Config":"x.json","RepoTags":[')

    @case("json-manifest-object.tar", 4, "not a JSON array")
    def _():
        return with_manifest_json(b'{"Config":"x.json"}')

    @case("json-manifest-string.tar", 4, "not valid JSON")
    def _():
        return with_manifest_json(b'"manifest"')

    @case("json-manifest-null.tar", 4, "not valid JSON")
    def _():
        return with_manifest_json(b"null")

    @case("json-manifest-item-not-object.tar", 4, "is not an object")
    def _():
        return with_manifest_json(b"[1,2,3]")

    # -- missing and duplicate entries
    @case("missing-config.tar", 5, "no entry")
    def _():
        return with_manifest_json(jdump([{"Config": "nope.json", "RepoTags": [], "Layers": []}]))

    @case("missing-layer.tar", 5, "no entry", stage="data")
    def _():
        cfg = config([sha(LAYER), sha(LAYER)])
        return docker_archive(config_bytes=cfg, manifest=jdump([{
            "Config": sha(cfg)[7:] + ".json", "RepoTags": [], "Layers": ["l0/layer.tar", "gone/layer.tar"]}]))

    @case("missing-layer-is-directory.tar", 5, "no entry", stage="data")
    def _():
        cfg = config([sha(LAYER)])
        return docker_archive(after=[("dir", ("d/",))], manifest=jdump([{
            "Config": sha(cfg)[7:] + ".json", "RepoTags": [], "Layers": ["d"]}]))

    @case("layer-is-device.tar", 4, "not a regular file")
    def _():
        cfg = config([sha(LAYER)])
        return docker_archive(after=[("entry", ("dev.tar", b"", b"3"))], manifest=jdump([{
            "Config": sha(cfg)[7:] + ".json", "RepoTags": [], "Layers": ["dev.tar"]}]))

    @case("missing-manifest-blob.tar", 5, "no entry")
    def _():
        o = oci_with()
        del o.blobs["blobs/sha256/" + o.index["manifests"][0]["digest"][7:]]
        return o.tar()

    @case("missing-index.tar", 5, "index.json")
    def _():
        return Tar().file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}').bytes()

    @case("missing-layer-blob.tar", 5, "no entry", stage="data")
    def _():
        o = oci_with()
        del o.blobs["blobs/sha256/" + sha(LAYER)[7:]]
        return o.tar()

    @case("duplicate-manifest-json.tar", 4, "appears twice")
    def _():
        return Tar().raw(docker_archive(end=False)).file("manifest.json", b"[]").bytes()

    @case("duplicate-layer.tar", 4, "appears twice")
    def _():
        return docker_archive(after=[("file", ("l0/layer.tar", flip(LAYER, 600)))])

    @case("duplicate-blob.tar", 4, "appears twice")
    def _():
        o = oci_with()
        t = Tar().raw(o.tar(end=False))
        t.file("blobs/sha256/" + sha(LAYER)[7:], flip(LAYER, 600))
        return t.bytes()

    @case("duplicate-hardlink-and-file.tar", 4, "appears twice")
    def _():
        return docker_archive(after=[("hardlink", ("l0/layer.tar", "manifest.json"))])

    # -- names
    def tagged(tag):
        return docker_archive(tags=(tag,))

    @case("tag-too-long.tar", 4, "invalid")
    def _():
        return tagged("example/app:" + "t" * 129)

    @case("tag-name-too-long.tar", 4, "invalid")
    def _():
        return tagged("example/" + "a" * 300 + ":1")

    @case("tag-uppercase.tar", 4, "lowercase")
    def _():
        return tagged("Example/App:1")

    @case("tag-path-traversal.tar", 4, "invalid")
    def _():
        return tagged("../../victim:1")

    @case("tag-empty.tar", 4, "invalid")
    def _():
        return tagged("")

    @case("tag-bad-char.tar", 4, "invalid")
    def _():
        return tagged("example/app:1 2")

    @case("ref-name-path.tar", 4, "invalid")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0].__setitem__(
            "annotations", {"org.opencontainers.image.ref.name": "../../victim"})))

    @case("ref-containerd-name-bad.tar", 4, "invalid")
    def _():
        o = oci_with()
        return o.tar(edit_index(o, lambda ix: ix["manifests"][0]["annotations"].update(
            {"io.containerd.image.name": "docker.io/example/app:" + "x" * 200})))

    # -- index nesting and fan-out
    @case("index-depth-9.tar", 6, "nested deeper than 8")
    def _():
        return nested_index(9)

    @case("index-fanout.tar", 6, "more than 100000 images", commands="ls,tar")
    def _():
        # 5 x 25000 references to one manifest: few bytes, many images.  Each
        # run loads 100000 of them before it stops (seconds under ASan), so
        # only two commands run it.
        o = Oci()
        md = o.image(add=False)
        child = jdump({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [md] * 25000})
        o.blob(child)
        cd = desc(MT_INDEX, child)
        top = jdump({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [cd] * 5})
        o.blob(top)
        o.add(desc(MT_INDEX, top))
        return o.tar()

    @case("oci-layout-bad-version.tar", 4, "imageLayoutVersion")
    def _():
        return oci_with().tar(layout=b'{"imageLayoutVersion":"9.9.9"}')

    # -- OCI layout directories with links out of them
    @case("layout-blob-symlink-outside", 4, "outside the layout")
    def _dir(path, outside):
        o = oci_with()
        o.write_dir(path)
        mp = "blobs/sha256/" + o.index["manifests"][0]["digest"][7:]
        # The real manifest lives outside the layout; the layout links to it.
        with open(os.path.join(outside, "manifest"), "wb") as f:
            f.write(o.blobs[mp])
        os.unlink(os.path.join(path, mp))
        os.symlink(os.path.relpath(os.path.join(outside, "manifest"), os.path.join(path, "blobs", "sha256")),
                   os.path.join(path, mp))

    @case("layout-blobs-symlink-absolute", 4, "outside the layout")
    def _dir(path, outside):
        o = oci_with()
        o.write_dir(path)
        shutil.move(os.path.join(path, "blobs"), os.path.join(outside, "blobs"))
        os.symlink(os.path.abspath(os.path.join(outside, "blobs")), os.path.join(path, "blobs"))

    @case("layout-index-symlink-outside", 4, "outside the layout")
    def _dir(path, outside):
        o = oci_with()
        o.write_dir(path)
        shutil.move(os.path.join(path, "index.json"), os.path.join(outside, "index.json"))
        os.symlink("../layout-outside/index.json", os.path.join(path, "index.json"))


def nested_index(levels):
    """index.json -> `levels` nested indexes -> one manifest."""
    o = Oci()
    d = o.image(add=False)
    for _ in range(levels):
        ix = jdump({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [d]})
        o.blob(ix)
        d = desc(MT_INDEX, ix)
    o.add(d)
    return o.tar()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--abs-target", default="/tmp/ferry-hostile-no-such-dir/victim")
    ap.add_argument("--only", help="only cases whose name contains this")
    a = ap.parse_args()
    if not os.path.isabs(a.abs_target):
        ap.error("--abs-target must be absolute")
    register(a.abs_target)
    os.makedirs(a.outdir, exist_ok=True)
    lines = ["# name\texit\tmessage\tstage\tdir_exit\tcommands"]
    for name, code, msg, stage, dir_exit, commands, fn in CASES:
        if a.only and a.only not in name:
            continue
        path = os.path.join(a.outdir, name)
        if fn.__name__ == "_dir":
            outside = os.path.join(a.outdir, "layout-outside")
            os.makedirs(outside, exist_ok=True)
            shutil.rmtree(path, ignore_errors=True)
            fn(path, outside)
        else:
            with open(path, "wb") as f:
                f.write(fn())
        assert msg and "\t" not in msg and "\n" not in msg
        lines.append("%s\t%d\t%s\t%s\t%d\t%s" % (name, code, msg, stage, dir_exit, commands))
    with open(os.path.join(a.outdir, "cases.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%d cases in %s" % (len(lines) - 1, a.outdir))


if __name__ == "__main__":
    sys.exit(main())
