#!/usr/bin/env python3
"""Inputs for the two-lane tests in 25-roundtrip.sh, the same bytes every run.

    lanes_inputs.py oci DIR DIGEST_FILE   an OCI layout: one image, a big
                                          gzip layer (~32 MB unpacked) then
                                          six small ones; DIGEST_FILE gets
                                          the big layer's digest
    lanes_inputs.py twins ARCHIVE         a legacy docker-archive: two
                                          images whose first layers hold the
                                          same bytes under two paths
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile


def tar_of(name, data):
    """A ustar archive of one regular file, with fixed metadata."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def config(diff_ids):
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def oci(out, digest_file):
    os.makedirs(out + "/blobs/sha256", exist_ok=True)

    def put(b):
        with open("%s/blobs/sha256/%s" % (out, hashlib.sha256(b).hexdigest()), "wb") as f:
            f.write(b)
        return sha(b)

    rng = random.Random("ferry-lanes")
    text = b"".join(b"line %d of the big layer, %d\n" % (i, rng.randrange(1000)) for i in range(900000))
    layers = [tar_of("big.bin", rng.randbytes(6 << 20) + text)]
    layers += [tar_of("small-%d.txt" % i, rng.randbytes(64 << 10) + b"small %d\n" % i * 2000) for i in range(6)]
    descs = []
    for layer in layers:
        z = gzip.compress(layer, compresslevel=1, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(z), "size": len(z)})
    cfg = config([sha(layer) for layer in layers])
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": put(cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    idx = {"schemaVersion": 2,
           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(man),
                          "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "lanes"}}]}
    with open(out + "/index.json", "w") as f:
        json.dump(idx, f)
    with open(out + "/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(digest_file, "w") as f:
        f.write(descs[0]["digest"])


def twins(path):
    rng = random.Random("ferry-lanes-dup")
    shared = tar_of("shared.bin", rng.randbytes(12 << 20))
    entries, manifest = [], []
    for i in range(2):
        layers = [shared, tar_of("own-%d.txt" % i, b"image %d\n" % i * 1000)]
        paths = ["img%d-layer%d/layer.tar" % (i, j) for j in range(len(layers))]
        entries += zip(paths, layers)
        cfg = config([sha(layer) for layer in layers])
        cname = hashlib.sha256(cfg).hexdigest() + ".json"
        entries.append((cname, cfg))
        manifest.append({"Config": cname, "RepoTags": ["lanes/dup%d:1" % i], "Layers": paths})
    entries.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
            t.addfile(ti, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "oci":
        oci(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "twins":
        twins(sys.argv[2])
    else:
        sys.exit(__doc__)
