#!/usr/bin/env python3
"""image_order.py ARCHIVE: check that an archive holds its images one by one.

Every blob belongs to the first image of index.json that uses it (layers,
config, manifest; an index's children first). Read in tar order, the owners
of the blobs must never go back: image 1's blobs, then image 2's, and so on.
Exits 1 naming the first blob out of place.
"""
import json
import sys
import tarfile


def blob_name(digest):
    algo, hexpart = digest.split(":", 1)
    return "blobs/%s/%s" % (algo, hexpart)


def main():
    with tarfile.open(sys.argv[1]) as tar:
        names = [m.name for m in tar.getmembers()]
        read = lambda d: json.load(tar.extractfile(blob_name(d)))
        owner = {}

        def claim(digest, i):
            owner.setdefault(digest, i)

        def walk(desc, i):
            doc = read(desc["digest"])
            for child in doc.get("manifests", []):
                walk(child, i)
            for layer in doc.get("layers", []):
                claim(layer["digest"], i)
            if "config" in doc:
                claim(doc["config"]["digest"], i)
            claim(desc["digest"], i)

        index = json.load(tar.extractfile("index.json"))
        for i, desc in enumerate(index["manifests"]):
            walk(desc, i)
    last = -1
    for name in names:
        if not name.startswith("blobs/sha256/") or name.endswith("/"):
            continue
        i = owner.get("sha256:" + name.rsplit("/", 1)[1])
        if i is None:
            continue
        if i < last:
            print("%s (image %d) comes after a blob of image %d" % (name, i + 1, last + 1))
            return 1
        last = i
    return 0


if __name__ == "__main__":
    sys.exit(main())
