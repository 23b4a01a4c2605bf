#!/usr/bin/env python3
"""A tiny registry token service for tests (docker distribution token auth).

    token-server.py --port P --key KEY.pem --cert CERT.pem \
        --issuer ISS --service SVC --users FILE [--log FILE] [--ttl S]

Listens on 127.0.0.1 only.  GET /token?service=&scope=...&scope=... with
optional Basic credentials, or POST /token with an OAuth2 form
(grant_type=refresh_token or password).  Answers {"token","access_token",
"expires_in","issued_at"} with an RS256 JWT signed by `openssl dgst`,
carrying the signing certificate in the x5c header so that a registry
configured with rootcertbundle=CERT.pem accepts it.

FILE has one rule per line:
    user:password:ACTIONS     a user; ACTIONS (e.g. "pull,push" or "pull")
                              are granted on every repository, intersected
                              with what was asked
    refresh:TOKEN:user        an identity (refresh) token standing for user
    anonymous::ACTIONS        what requests without credentials get
Wrong credentials get 401.  Every request is appended to --log as one JSON
line: {"method","account","scopes","granted","grant_type"}.
"""
import argparse
import base64
import datetime
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Rules:
    def __init__(self, path):
        self.users = {}
        self.refresh = {}
        self.anonymous = set()
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                a, b, c = line.split(":", 2)
                if a == "refresh":
                    self.refresh[b] = c
                elif a == "anonymous":
                    self.anonymous = set(x for x in c.split(",") if x)
                else:
                    self.users[a] = (b, set(x for x in c.split(",") if x))

    def actions_for(self, user):
        if user is None:
            return self.anonymous
        return self.users[user][1]


def make_handler(args, rules, der_b64):
    def sign(payload):
        p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key],
                           input=payload, capture_output=True, check=True)
        return p.stdout

    def jwt(account, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [der_b64]}
        claims = {
            "iss": args.issuer, "sub": account or "", "aud": args.service,
            "exp": now + args.ttl, "nbf": now - 10, "iat": now,
            "jti": b64url(os.urandom(12)), "access": access,
        }
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        return signing_input + "." + b64url(sign(signing_input.encode()))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            if args.verbose:
                sys.stderr.write("token-server: " + (fmt % a) + "\n")

        def reply(self, status, obj, extra=None):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def record(self, entry):
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps(entry) + "\n")

        def grant(self, method, account, scopes, grant_type):
            allowed = rules.actions_for(account)
            access = []
            for s in scopes:
                for item in s.split(" "):
                    parts = item.split(":")
                    if len(parts) < 3:
                        continue
                    typ, name, acts = parts[0], ":".join(parts[1:-1]), parts[-1]
                    got = [a for a in acts.split(",") if a in allowed]
                    access.append({"type": typ, "name": name, "actions": got})
            self.record({"method": method, "account": account, "scopes": scopes,
                         "granted": access, "grant_type": grant_type})
            tok = jwt(account, access)
            issued = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.reply(200, {"token": tok, "access_token": tok,
                             "expires_in": args.ttl, "issued_at": issued})

        def deny(self, why):
            self.record({"method": self.command, "denied": why})
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]},
                       {"WWW-Authenticate": 'Basic realm="token"'})

        def check_service(self, service):
            if service != args.service:
                self.reply(400, {"errors": [{"code": "BAD_SERVICE",
                                             "message": "unknown service %r" % service}]})
                return False
            return True

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": u.path}]})
            q = urllib.parse.parse_qs(u.query)
            if not self.check_service(q.get("service", [""])[0]):
                return
            account = None
            auth = self.headers.get("Authorization")
            if auth:
                scheme, _, val = auth.partition(" ")
                if scheme.lower() != "basic":
                    return self.deny("unsupported authorization scheme")
                try:
                    user, _, pw = base64.b64decode(val).decode().partition(":")
                except Exception:
                    return self.deny("malformed basic credentials")
                if user not in rules.users or rules.users[user][0] != pw:
                    return self.deny("invalid username or password")
                account = user
            self.grant("GET", account, q.get("scope", []), None)

        def do_POST(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": u.path}]})
            n = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(n).decode())
            if not self.check_service(form.get("service", [""])[0]):
                return
            gt = form.get("grant_type", [""])[0]
            if gt == "refresh_token":
                user = rules.refresh.get(form.get("refresh_token", [""])[0])
                if user is None:
                    return self.deny("invalid refresh token")
            elif gt == "password":
                user = form.get("username", [""])[0]
                if user not in rules.users or rules.users[user][0] != form.get("password", [""])[0]:
                    return self.deny("invalid username or password")
            else:
                return self.reply(400, {"errors": [{"code": "UNSUPPORTED", "message": gt}]})
            scopes = form.get("scope", [])
            self.grant("POST", user, scopes, gt)

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--log")
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--pidfile")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    der = subprocess.run(["openssl", "x509", "-in", args.cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    rules = Rules(args.users)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port),
                                          make_handler(args, rules, base64.b64encode(der).decode()))
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
