#!/usr/bin/env python3
"""Print the blobs of an OCI layout that nothing reachable from index.json
references, one "sha256:<hex>" a line (tests; independent of ferry).

    unreferenced.py LAYOUT
"""
import json
import os
import sys


def main():
    top = sys.argv[1]
    refs, todo = set(), [os.path.join(top, "index.json")]
    while todo:
        try:
            with open(todo.pop()) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        stack = [doc]
        while stack:
            v = stack.pop()
            if isinstance(v, list):
                stack.extend(v)
            elif isinstance(v, dict):
                d = v.get("digest")
                if isinstance(d, str) and d not in refs:
                    refs.add(d)
                    mt = v.get("mediaType") or ""
                    if "manifest" in mt or "index" in mt:
                        alg, _, hexd = d.partition(":")
                        todo.append(os.path.join(top, "blobs", alg, hexd))
                stack.extend(v.values())
    blobs = os.path.join(top, "blobs")
    for alg in sorted(os.listdir(blobs)) if os.path.isdir(blobs) else []:
        for name in sorted(os.listdir(os.path.join(blobs, alg))):
            if not name.startswith(".") and "%s:%s" % (alg, name) not in refs:
                print("%s:%s" % (alg, name))


if __name__ == "__main__":
    main()
