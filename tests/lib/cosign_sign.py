#!/usr/bin/env python3
"""Sign an image of an OCI layout the way `cosign sign --key` does, offline.

    cosign_sign.py LAYOUT TAG KEY.pem [--payload-digest D] [--payload-file F]
                   [--referrer] [--name NAME]

Finds the index.json entry whose org.opencontainers.image.ref.name is TAG,
and adds a signature image for its digest, laid out as cosign's signature
spec describes (specs/SIGNATURE_SPEC.md in sigstore/cosign):
  - the payload: a simple-signing document, one blob, as cosign marshals it;
  - the signature: openssl over the payload's exact bytes (ECDSA P-256 with
    SHA-256, DER; or Ed25519), base64, in the layer's
    dev.cosignproject.cosign/signature annotation;
  - the config: go-containerregistry's empty image with that one layer;
  - the manifest: an OCI image manifest, tagged sha256-<hex>.sig.
The signing is done by openssl, not by ferry, so a test checks ferry against
an independent signer.  Options make hostile variants for tests: a payload
naming another digest, a payload file given as is (not JSON, huge), and
--referrer (an OCI 1.1 subject instead of the tag).
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys


def put_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", d)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + d


def put_blob_file(layout, src):
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    d = h.hexdigest()
    os.replace(src, os.path.join(layout, "blobs", "sha256", d))
    return "sha256:" + d, size


def sign(key, payload_path):
    kind = subprocess.run(["openssl", "pkey", "-in", key, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    if "ED25519" in kind.upper().split("\n")[0]:
        cmd = ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", payload_path]
    else:
        cmd = ["openssl", "dgst", "-sha256", "-sign", key, payload_path]
    return base64.b64encode(subprocess.run(cmd, capture_output=True, check=True).stdout).decode()


def compact(obj):
    # Go's encoding/json: no spaces, keys in struct order (dicts keep ours).
    return json.dumps(obj, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("layout")
    ap.add_argument("tag")
    ap.add_argument("key")
    ap.add_argument("--payload-digest", help="name this digest in the payload instead")
    ap.add_argument("--payload-file", help="use this file as the payload, as is")
    ap.add_argument("--referrer", action="store_true", help="an OCI 1.1 subject, not the .sig tag")
    ap.add_argument("--name", help="the docker-reference in the payload (default: the image's name)")
    ap.add_argument("--copies", type=int, default=1, help="this many signature manifests (referrers)")
    a = ap.parse_args()

    with open(os.path.join(a.layout, "index.json")) as f:
        index = json.load(f)
    target = None
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == a.tag:
            target = m
    if target is None:
        sys.exit("cosign_sign.py: no image tagged %s in %s" % (a.tag, a.layout))
    digest = target["digest"]
    full = target.get("annotations", {}).get("io.containerd.image.name", a.tag)
    repo = full.rsplit(":", 1)[0] if ":" in full.split("/")[-1] else full

    payload_path = os.path.join(a.layout, ".payload")
    if a.payload_file:
        payload_path = a.payload_file
    else:
        payload = compact({
            "critical": {
                "identity": {"docker-reference": a.name or repo},
                "image": {"docker-manifest-digest": a.payload_digest or digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        })
        with open(payload_path, "wb") as f:
            f.write(payload)
    signature = sign(a.key, payload_path)
    payload_digest, payload_size = put_blob_file(a.layout, payload_path)

    config = compact({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
        "config": {},
    })
    config_digest = put_blob(a.layout, config)
    for copy in range(a.copies):
        layer = {
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": payload_size,
            "digest": payload_digest,
            "annotations": {"dev.cosignproject.cosign/signature": signature},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "size": len(config), "digest": config_digest},
            "layers": [layer],
        }
        if a.referrer:
            manifest["subject"] = {"mediaType": target["mediaType"], "size": target["size"],
                                   "digest": digest}
            manifest["annotations"] = {"copy": str(copy)}
        body = compact(manifest)
        desc = {"mediaType": manifest["mediaType"], "digest": put_blob(a.layout, body), "size": len(body)}
        if not a.referrer:
            tag = digest.replace(":", "-") + ".sig"
            desc["annotations"] = {"io.containerd.image.name": repo + ":" + tag,
                                   "org.opencontainers.image.ref.name": tag}
        index["manifests"].append(desc)
    with open(os.path.join(a.layout, "index.json.new"), "w") as f:
        json.dump(index, f)
    os.replace(os.path.join(a.layout, "index.json.new"), os.path.join(a.layout, "index.json"))
    print(digest)


if __name__ == "__main__":
    main()
