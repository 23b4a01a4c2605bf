#!/usr/bin/env python3
"""Images for 86-image-lists.sh, the same bytes every run.

    list_images.py DIR REPOS TAGS   an OCI layout of REPOS x TAGS images
                                    named docker.io/list/rN:TAG, where TAG
                                    runs through TAG_NAMES; every image has
                                    the shared base layer, its repository's
                                    layer (shared by the repository's tags)
                                    and a layer of its own
    list_images.py DIR --moved      one image docker.io/list/r0:1.0.0 unlike
                                    any above (a tag that moved)
    list_images.py DIR --big        one image docker.io/list/big:1 with a
                                    2 MiB layer of (seeded) random bytes
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

TAG_NAMES = ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "2.1.0-rc.1", "v3.0.0", "latest", "1.2.5"]


def tar_of(name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


class Layout:
    def __init__(self, d):
        self.d = d
        os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(d, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        self.index = []

    def blob(self, data):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.d, "blobs", "sha256", h), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + h, "size": len(data)}

    def layer(self, name, data):
        raw = tar_of(name, data)
        gz = gzip.compress(raw, mtime=0)
        d = self.blob(gz)
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        return d, "sha256:" + hashlib.sha256(raw).hexdigest()

    def image(self, name, layers):
        cfg = {"architecture": "amd64", "os": "linux", "config": {"Env": ["IMAGE=" + name]},
               "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]}}
        c = self.blob(json.dumps(cfg, sort_keys=True).encode())
        c["mediaType"] = "application/vnd.oci.image.config.v1+json"
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": c, "layers": [l[0] for l in layers]}
        md = self.blob(json.dumps(m, sort_keys=True).encode())
        md["mediaType"] = m["mediaType"]
        md["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
        self.index.append(md)

    def close(self):
        with open(os.path.join(self.d, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": self.index}, f)


def main():
    out = Layout(sys.argv[1])
    if sys.argv[2] == "--big":
        rnd = random.Random(86)
        out.image("docker.io/list/big:1", [out.layer("big", rnd.randbytes(2 << 20))])
    elif sys.argv[2] == "--moved":
        out.image("docker.io/list/r0:1.0.0", [out.layer("moved", b"this tag moved\n" * 100)])
    else:
        repos, tags = int(sys.argv[2]), int(sys.argv[3])
        base = out.layer("base", bytes(range(256)) * 256)
        for r in range(repos):
            own = out.layer("repo", (f"repository {r}\n" * 2000).encode())
            for t in TAG_NAMES[:tags]:
                mine = out.layer("image", f"image r{r}:{t}\n".encode() * 50)
                out.image(f"docker.io/list/r{r}:{t}", [base, own, mine])
    out.close()


main()
