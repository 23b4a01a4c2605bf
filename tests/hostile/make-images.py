#!/usr/bin/env python3
"""Writes an OCI layout of a few images with megabytes of incompressible layers.

    tests/hostile/make-images.py DIR [LAYER_KIB]

Input for tests/e2e/75-faults.sh (kill, disk full, concurrency): big enough
that a conversion takes a while, small enough for an ASan build.  Three
linux/amd64 images named docker.io/example/{base,app,tool}:1, app and tool
on top of base's layer; each layer LAYER_KIB KiB (default 2048) of
pseudo-random bytes in one file.  Deterministic; uses the helpers of
make-corpus.py.
"""
import importlib.util
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
_spec = importlib.util.spec_from_file_location(
    "make_corpus", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-corpus.py"))
mc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mc)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    kib = int(sys.argv[2]) if len(sys.argv) == 3 else 2048
    rnd = random.Random(20240101)

    def layer(name):
        return mc.rootfs([(name + ".bin", rnd.getrandbits(8 * kib * 1024).to_bytes(kib * 1024, "little"))])

    base = layer("base")
    o = mc.Oci()
    for name, layers in (("base", [base]), ("app", [base, layer("app")]), ("tool", [base, layer("tool")])):
        d = o.image(layers=layers, add=False)
        o.index["manifests"].append(dict(d, annotations={
            "io.containerd.image.name": "docker.io/example/%s:1" % name,
            "org.opencontainers.image.ref.name": "1"}))
    o.write_dir(out)


if __name__ == "__main__":
    main()
