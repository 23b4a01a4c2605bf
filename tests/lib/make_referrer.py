#!/usr/bin/env python3
"""Add an OCI 1.1 referrer (an artifact whose subject is an image) to an OCI layout.

    make_referrer.py LAYOUT SUBJECT ARTIFACT_TYPE CONTENT [--style oras|regctl]

SUBJECT is a ref name in index.json (org.opencontainers.image.ref.name) or a
digest (sha256:...) of a manifest in the layout.  The artifact is laid out
as the OCI image spec 1.1 says: artifactType, the empty config
(application/vnd.oci.empty.v1+json, "{}"), CONTENT as its one blob (media
type ARTIFACT_TYPE), and subject.  It is listed in index.json as the tools
list referrers in their layouts:
  - oras (oras-go's oci.Store, `oras cp -r --to-oci-layout`): an entry with no
    ref name;
  - regctl (regclient's ocidir): the referrers tag schema, an index tagged
    sha256-<hex of the subject> listing every referrer of it.
Prints the artifact manifest's digest.
"""
import argparse
import hashlib
import json
import os
import sys


def put(layout, data):
    d = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", d)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + d


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def find(index, layout, subject):
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == subject or m["digest"] == subject:
            return {"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"]}
    if subject.startswith("sha256:"):
        path = os.path.join(layout, "blobs", "sha256", subject[7:])
        data = open(path, "rb").read()
        mt = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        return {"mediaType": mt, "digest": subject, "size": len(data)}
    sys.exit("make_referrer.py: no %s in %s" % (subject, layout))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("layout")
    ap.add_argument("subject")
    ap.add_argument("artifact_type")
    ap.add_argument("content")
    ap.add_argument("--style", choices=["oras", "regctl"], default="oras")
    a = ap.parse_args()
    with open(os.path.join(a.layout, "index.json")) as f:
        index = json.load(f)
    subject = find(index, a.layout, a.subject)
    content = open(a.content, "rb").read()
    empty = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": a.artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": put(a.layout, empty), "size": 2,
                   "data": "e30="},
        "layers": [{"mediaType": a.artifact_type, "digest": put(a.layout, content), "size": len(content)}],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2026-12-05T00:00:00Z"},
    }
    body = compact(manifest)
    desc = {"mediaType": manifest["mediaType"], "digest": put(a.layout, body), "size": len(body),
            "artifactType": a.artifact_type}
    if a.style == "oras":
        index["manifests"].append(desc)
    else:
        tag = subject["digest"].replace(":", "-")
        old = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
        listed = []
        if old:
            listed = json.load(open(os.path.join(a.layout, "blobs", "sha256", old[0]["digest"][7:])))["manifests"]
        listed.append(dict(desc, annotations=manifest["annotations"]))
        ix = compact({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": listed})
        index["manifests"] = [m for m in index["manifests"] if m not in old]
        index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(a.layout, ix),
                                   "size": len(ix), "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(a.layout, "index.json.new"), "w") as f:
        json.dump(index, f)
    os.replace(os.path.join(a.layout, "index.json.new"), os.path.join(a.layout, "index.json"))
    print(desc["digest"])


if __name__ == "__main__":
    main()
