#!/usr/bin/env python3
"""Write an OCI layout for tests/e2e/70-serve.sh:

  make-serve-layout.py DIR SIZE [REPO]

DIR holds
  - REPO:1 (default example/big:1) with a layer of SIZE random bytes in a real tar, so
    clients can unpack it, and
  - an artifact (artifactType application/vnd.example.sbom) whose subject is that image,
    listed in index.json without a name, as oras and regclient list referrers.

Prints "MANIFEST LAYER ARTIFACT" digests.
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def put(blobs, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def descriptor(media_type, digest, data):
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def main():
    out, size = sys.argv[1], int(sys.argv[2])
    repo = sys.argv[3] if len(sys.argv) > 3 else "example/big"
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        info.mtime = 0
        t.addfile(info, io.BytesIO(os.urandom(size)))
    layer = buf.getvalue()
    ld = put(blobs, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
    cd = put(blobs, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": descriptor("application/vnd.oci.image.config.v1+json", cd, config),
                           "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", ld, layer)]}).encode()
    md = put(blobs, manifest)
    sbom = ('{"sbom": "for %s:1"}' % repo).encode()
    sd = put(blobs, sbom)
    artifact = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "artifactType": "application/vnd.example.sbom",
                           "config": descriptor("application/vnd.oci.image.config.v1+json", cd, config),
                           "layers": [descriptor("application/vnd.example.sbom.v1+json", sd, sbom)],
                           "subject": descriptor("application/vnd.oci.image.manifest.v1+json", md, manifest),
                           "annotations": {"org.example.kind": "sbom"}}).encode()
    ad = put(blobs, artifact)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        dict(descriptor("application/vnd.oci.image.manifest.v1+json", md, manifest),
             annotations={"io.containerd.image.name": "docker.io/%s:1" % repo,
                          "org.opencontainers.image.ref.name": "1"}),
        dict(descriptor("application/vnd.oci.image.manifest.v1+json", ad, artifact),
             artifactType="application/vnd.example.sbom"),
    ]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(md, ld, ad)


if __name__ == "__main__":
    main()
