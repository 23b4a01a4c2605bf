#!/usr/bin/env python3
"""Check a ferry --json document against the schema documented in ferry(1)
(JSON OUTPUT) and README.md.

    json_check.py KIND [FILE]      KIND: convert push verify batch ls inspect failure

Reads FILE (or stdin), prints one line per violation and exits 1 if there
is any. Every field is checked for presence and type; unknown fields are
violations too, so that the documentation and the program cannot drift apart
silently. Used by tests/e2e/80-ux.sh and 85-batch.sh.
"""
import json
import re
import sys

DIGEST = ("re", r"^sha256:[0-9a-f]{64}$")
STR, INT, NUM, BOOL = "str", "int", "num", "bool"


def nullable(s):
    return ("nullable", s)


def enum(*vals):
    return ("enum", vals)


def obj(required, optional=None):
    return ("obj", required, optional or {})


def lst(s):
    return ("list", s)


IMAGE = obj({"names": lst(STR), "digest": DIGEST, "mediaType": nullable(STR), "config": nullable(DIGEST)})
BLOB = obj({"digest": DIGEST, "size": nullable(INT),
            "action": enum("written", "uploaded", "existing", "deduplicated", "mounted", "left-out")})
FAIL_FIELDS = {"error": STR, "code": INT}


def run_doc(command, push):
    req = {"command": enum(command), "source": STR, "destination": STR, "images": lst(IMAGE), "referrers": INT,
           "blobs": lst(BLOB), "bytes_read": INT, "bytes_written": INT, "seconds": NUM,
           "blobs_left_out": INT, "bytes_left_out": INT,
           "ok": enum(True)}
    # "manifests": registry destinations only (always for push, convert to docker://)
    if push:
        req["manifests"] = lst(STR)
        return obj(req)
    return obj(req, {"manifests": lst(STR)})


SCHEMAS = {
    "convert": run_doc("convert", False),
    "push": run_doc("push", True),
    "verify": obj({"command": enum("verify"), "location": STR, "problems": lst(STR), "unreferenced": lst(STR),
                   "warnings": lst(STR), "expected": lst(STR), "ok": BOOL}, FAIL_FIELDS),
    "batch": obj({
        "command": enum("batch"), "jobfile": STR, "state": nullable(STR), "shard": nullable(STR),
        "jobs": lst(obj({
            "line": INT, "index": INT, "key": ("re", r"^[0-9a-f]{64}$"), "job": STR,
            "status": enum("done", "skipped", "failed", "not run"), "code": nullable(INT),
            "digests": lst(DIGEST), "error": nullable(STR), "skipped": nullable(STR),
            "seconds": nullable(NUM),
            "result": nullable(("any-of", [run_doc("convert", False), run_doc("push", True),
                                           ("failure", None)])),
        })),
        "done": INT, "skipped": INT, "failed": INT, "seconds": NUM, "ok": BOOL,
    }, FAIL_FIELDS),
    "ls": obj({"location": STR, "format": enum("docker-archive", "oci", "oci-archive", "docker"),
               "images": lst(obj({"names": lst(STR), "digest": nullable(DIGEST),
                                  "mediaType": nullable(STR), "config": nullable(DIGEST),
                                  "platforms": lst(STR), "layers": INT, "size": INT,
                                  "referrers": INT})),
               "expected": lst(obj({"digest": DIGEST, "size": INT}))}),
    "inspect": obj({"names": lst(STR), "digest": nullable(DIGEST), "mediaType": nullable(STR),
                    "platform": nullable(STR), "manifest": nullable("object"),
                    "config": nullable("object"), "expected": lst(DIGEST),
                    "referrers": lst(obj({"artifactType": nullable(STR), "digest": DIGEST, "size": INT,
                                          "subject": DIGEST, "names": lst(STR)}))}),
    "failure": obj({"command": STR, "ok": enum(False), "error": STR, "code": INT}),
}


def check(v, s, path, errs):
    if isinstance(s, str):
        ok = {
            "str": isinstance(v, str),
            "int": isinstance(v, int) and not isinstance(v, bool),
            "num": isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "object": isinstance(v, dict),
        }[s]
        if not ok:
            errs.append(f"{path}: expected {s}, got {json.dumps(v)[:80]}")
        return
    kind = s[0]
    if kind == "nullable":
        if v is not None:
            check(v, s[1], path, errs)
    elif kind == "enum":
        if v not in s[1] or isinstance(v, bool) != isinstance(s[1][0], bool):
            errs.append(f"{path}: {json.dumps(v)} is not one of {list(s[1])}")
    elif kind == "re":
        if not isinstance(v, str) or not re.match(s[1], v):
            errs.append(f"{path}: {json.dumps(v)[:80]} does not match {s[1]}")
    elif kind == "list":
        if not isinstance(v, list):
            errs.append(f"{path}: expected a list")
            return
        for i, x in enumerate(v):
            check(x, s[1], f"{path}[{i}]", errs)
    elif kind == "obj":
        if not isinstance(v, dict):
            errs.append(f"{path}: expected an object")
            return
        req, opt = s[1], s[2]
        for k, ks in req.items():
            if k not in v:
                errs.append(f"{path}.{k}: missing")
            else:
                check(v[k], ks, f"{path}.{k}", errs)
        for k, ks in opt.items():
            if k in v:
                check(v[k], ks, f"{path}.{k}", errs)
        for k in v:
            if k not in req and k not in opt:
                errs.append(f"{path}.{k}: not in the documented schema")
        # ok false <=> error and code present
        if "ok" in v and isinstance(v["ok"], bool) and opt.get("error"):
            has = "error" in v and "code" in v
            if v["ok"] == has:
                errs.append(f"{path}: error and code must be present exactly when ok is false")
    elif kind == "failure":
        sub = []
        check(v, SCHEMAS["failure"], path, sub)
        errs.extend(sub)
    elif kind == "any-of":
        best = None
        for alt in s[1]:
            sub = []
            check(v, alt, path, sub)
            if not sub:
                return
            if best is None or len(sub) < len(best):
                best = sub
        errs.extend(best)


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in SCHEMAS:
        print(f"usage: {sys.argv[0]} {'|'.join(SCHEMAS)} [FILE]", file=sys.stderr)
        return 2
    text = open(sys.argv[2]).read() if len(sys.argv) == 3 else sys.stdin.read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        print(f"not one JSON document: {e}")
        return 1
    errs = []
    check(doc, SCHEMAS[sys.argv[1]], "$", errs)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
