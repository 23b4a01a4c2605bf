#!/usr/bin/env python3
"""A TCP proxy in front of a registry that injects one kind of fault (tests).

    fault-proxy.py --target HOST:PORT --port-file FILE [--fault FAULT]
                   [--times N] [--min-body BYTES] [--path-re REGEX]
                   [--settle SECONDS] [--log FILE] [--timeout SECONDS]

Listens on 127.0.0.1 (an ephemeral port, written to --port-file once it
listens) and forwards each connection to --target, reading the HTTP/1.1
requests and responses that go through so that it knows where each body
starts and ends (a connection that does not start like HTTP, such as a
TLS handshake, is passed through untouched).  FAULT is one of:

    none          forward everything untouched
    drop-upload   the first PATCH or PUT to .../blobs/uploads/... whose body
                  has at least --min-body bytes: forward its head and half of
                  its body, then close both connections.  Requests that come
                  next wait until --settle seconds (default 0.5) have passed,
                  so that the registry has dealt with the broken request
                  before the client tries again (as over a real network)
    500-upload    the first PATCH or PUT to .../blobs/uploads/...: read it,
                  do not forward it, answer 500 and close the connection
    500-post      the same for the first POST .../blobs/uploads/ (the start
                  of an upload)
    corrupt-blob  a 200 answer to a GET .../blobs/<digest> whose body has at
                  least --min-body bytes: one byte in the middle of the body
                  is flipped
    stall-blob    a 200 answer to a GET .../blobs/<digest> whose body has at
                  least --min-body bytes: the head and half of the body are
                  sent, then nothing more (the connection stays open)
    stall-upload  the first PATCH or PUT to .../blobs/uploads/... whose body
                  has at least --min-body bytes: its head and half of its
                  body are forwarded, the rest is read and dropped, and no
                  answer ever comes (the connection stays open)
    huge-manifest a GET .../manifests/...: answered by the proxy with a 200
                  whose Content-Length is 10^15, a few bytes, then nothing

--times N: how many times the fault is applied (default 1; 0 = every time).
--path-re REGEX: only requests whose path matches it can be faulted.

Every request is logged to --log as "METHOD PATH STATUS", and every fault
as a line starting with "FAULT ".  The proxy exits by itself after
--timeout seconds (default 120), and on SIGTERM or SIGINT.  It only ever
listens on and connects to loopback addresses.
"""
import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time

MAX_HEAD = 64 << 10


class Closed(Exception):
    """The peer went away (or we closed the connection on purpose)."""


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.applied = 0
        self.dropped_at = None
        self.logf = open(args.log, "a", buffering=1) if args.log else None

    def log(self, line):
        with self.lock:
            if self.logf:
                self.logf.write(line + "\n")
            if self.args.verbose:
                sys.stderr.write("fault-proxy: " + line + "\n")

    def settle(self):
        """After a drop, hold requests back until --settle seconds have passed."""
        with self.lock:
            t = self.dropped_at
        if t is not None:
            left = t + self.args.settle - time.monotonic()
            if left > 0:
                time.sleep(left)

    def take(self, fault, method, path, body_len):
        """True (once, or --times times) when this request gets the fault."""
        a = self.args
        if a.fault != fault:
            return False
        if a.path_re and not re.search(a.path_re, path):
            return False
        if body_len is not None and body_len < a.min_body:
            return False
        with self.lock:
            if a.times and self.applied >= a.times:
                return False
            self.applied += 1
            return True


def read_head(rf):
    """Bytes of one message head (start line + headers + blank line); None at a clean EOF."""
    lines = []
    size = 0
    while True:
        line = rf.readline(MAX_HEAD)
        if not line:
            if lines:
                raise Closed("connection closed inside a message head")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # tolerate stray blank lines between messages
        lines.append(line)
        size += len(line)
        if size > MAX_HEAD:
            raise Closed("message head too large")
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def parse_head(head):
    text = head.decode("latin-1")
    first, _, rest = text.partition("\r\n")
    headers = {}
    for h in rest.split("\r\n"):
        if ":" in h:
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
    return first.split(" ", 2), headers


def body_length(headers):
    """(length, chunked): length None when not given."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return None, True
    if "content-length" in headers:
        return int(headers["content-length"]), False
    return None, False


def read_exact(rf, n):
    data = rf.read(n)
    if len(data) != n:
        raise Closed("connection closed inside a body")
    return data


def read_chunked_raw(rf):
    """The raw bytes of a chunked body, framing included."""
    out = []
    while True:
        line = rf.readline(MAX_HEAD)
        if not line:
            raise Closed("connection closed inside a chunked body")
        out.append(line)
        n = int(line.split(b";")[0].strip() or b"0", 16)
        if n == 0:
            while True:  # trailers, up to the blank line
                t = rf.readline(MAX_HEAD)
                if not t:
                    raise Closed("connection closed inside trailers")
                out.append(t)
                if t in (b"\r\n", b"\n"):
                    return b"".join(out)
        out.append(read_exact(rf, n + 2))


def hard_close(*socks):
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def stall(sock):
    """Send nothing more, keep the connection open until the peer closes it (or the proxy exits)."""
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass


class Conn:
    def __init__(self, st, client, upstream):
        self.st = st
        self.client = client
        self.up = upstream
        self.pending = []  # (method, path) of requests forwarded, oldest first
        self.plock = threading.Lock()
        self.wlock = threading.Lock()  # writes to the client

    def to_client(self, data):
        with self.wlock:
            self.client.sendall(data)

    def requests(self):
        st = self.st
        rf = self.client.makefile("rb")
        try:
            while True:
                head = read_head(rf)
                if head is None:
                    break
                (method, path, *_), headers = parse_head(head)
                n, chunked = body_length(headers)
                st.settle()
                is_upload = "/blobs/uploads/" in path
                data_upload = is_upload and method in ("PATCH", "PUT")

                if data_upload and not chunked and st.take("drop-upload", method, path, n or 0):
                    half = (n or 0) // 2
                    self.up.sendall(head)
                    self.up.sendall(read_exact(rf, half))
                    st.log("FAULT drop-upload %s %s after %d of %d body bytes" % (method, path, half, n or 0))
                    with st.lock:
                        st.dropped_at = time.monotonic()
                    hard_close(self.up, self.client)
                    return
                if (method == "GET" and "/manifests/" in path
                        and st.take("huge-manifest", method, path, None)):
                    st.log("FAULT huge-manifest %s %s" % (method, path))
                    self.to_client(b"HTTP/1.1 200 OK\r\n"
                                   b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                                   b"Content-Length: 1000000000000000\r\n\r\n{\"schemaVersion\":")
                    stall(self.client)
                    return
                if data_upload and not chunked and st.take("stall-upload", method, path, n or 0):
                    half = (n or 0) // 2
                    self.up.sendall(head)
                    self.up.sendall(read_exact(rf, half))
                    st.log("FAULT stall-upload %s %s after %d of %d body bytes" % (method, path, half, n or 0))
                    stall(self.client)
                    return
                kind = "500-upload" if data_upload else "500-post" if is_upload and method == "POST" else None
                if kind and st.take(kind, method, path, None):
                    # Read the whole request so that the client sees the answer, not a reset.
                    if chunked:
                        read_chunked_raw(rf)
                    elif n:
                        read_exact(rf, n)
                    body = json.dumps({"errors": [{"code": "UNKNOWN",
                                                   "message": "fault-proxy: injected failure"}]}).encode()
                    self.to_client(b"HTTP/1.1 500 Internal Server Error\r\n"
                                   b"Content-Type: application/json\r\n"
                                   b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                                   b"Connection: close\r\n\r\n" + body)
                    st.log("FAULT %s %s %s answered 500" % (kind, method, path))
                    try:
                        self.client.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    hard_close(self.up)
                    return

                with self.plock:
                    self.pending.append((method, path))
                self.up.sendall(head)
                if chunked:
                    self.up.sendall(read_chunked_raw(rf))
                elif n:
                    left = n
                    while left:
                        piece = rf.read(min(left, 1 << 16))
                        if not piece:
                            raise Closed("client closed inside a body")
                        self.up.sendall(piece)
                        left -= len(piece)
            try:
                self.up.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except (Closed, OSError, ValueError):
            hard_close(self.up, self.client)
        finally:
            rf.close()

    def responses(self):
        st = self.st
        rf = self.up.makefile("rb")
        try:
            while True:
                head = read_head(rf)
                if head is None:
                    break
                (_, status, *_), headers = parse_head(head)
                status = int(status)
                if 100 <= status < 200:
                    self.to_client(head)
                    continue
                with self.plock:
                    method, path = self.pending.pop(0) if self.pending else ("?", "?")
                n, chunked = body_length(headers)
                if method == "HEAD" or status in (204, 304):
                    body = b""
                elif chunked:
                    body = read_chunked_raw(rf)
                elif n is not None:
                    body = read_exact(rf, n)
                else:
                    body = rf.read()  # until the registry closes
                note = ""
                if (method == "GET" and status == 200 and n and re.search(r"/blobs/[a-z0-9]+:[0-9a-f]+$", path)
                        and st.take("corrupt-blob", method, path, n)):
                    b = bytearray(body)
                    b[n // 2] ^= 0x01
                    body = bytes(b)
                    st.log("FAULT corrupt-blob %s %s byte %d of %d flipped" % (method, path, n // 2, n))
                    note = " (corrupted)"
                if (method == "GET" and status == 200 and n and re.search(r"/blobs/[a-z0-9]+:[0-9a-f]+$", path)
                        and st.take("stall-blob", method, path, n)):
                    st.log("FAULT stall-blob %s %s after %d of %d body bytes" % (method, path, n // 2, n))
                    self.to_client(head + body[:n // 2])
                    stall(self.client)
                    return
                st.log("%s %s %d%s" % (method, path, status, note))
                self.to_client(head + body)
            try:
                self.client.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except (Closed, OSError, ValueError):
            hard_close(self.up, self.client)
        finally:
            rf.close()

    def raw(self, src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            hard_close(src, dst)

    def run(self):
        try:
            first = self.client.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first.isalpha():
            # Not HTTP (a TLS handshake, say): pass it through as it is.
            self.st.log("non-HTTP connection passed through")
            t = threading.Thread(target=self.raw, args=(self.up, self.client), daemon=True)
            t.start()
            self.raw(self.client, self.up)
            t.join()
            self.client.close()
            self.up.close()
            return
        t = threading.Thread(target=self.responses, daemon=True)
        t.start()
        self.requests()
        t.join()
        self.client.close()
        self.up.close()


def loopback(host):
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(i[4][0].startswith("127.") or i[4][0] == "::1" for i in infos)


def main():
    ap = argparse.ArgumentParser(description="fault-injecting proxy for registry tests")
    ap.add_argument("--target", required=True, help="HOST:PORT of the registry (loopback)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fault", default="none",
                    choices=["none", "drop-upload", "500-upload", "500-post", "corrupt-blob", "stall-blob", "stall-upload",
                             "huge-manifest"])
    ap.add_argument("--times", type=int, default=1)
    ap.add_argument("--min-body", type=int, default=1)
    ap.add_argument("--path-re")
    ap.add_argument("--log")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    host, _, port = args.target.rpartition(":")
    host = host.strip("[]")
    if not loopback(host):
        ap.error("--target must be a loopback address")
    target = (host, int(port))
    st = State(args)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.port_file)

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            client, _ = srv.accept()
        except socket.timeout:
            continue
        client.settimeout(None)
        try:
            up = socket.create_connection(target, timeout=10)
            up.settimeout(None)
        except OSError as e:
            st.log("cannot connect to %s: %s" % (args.target, e))
            client.close()
            continue
        threading.Thread(target=Conn(st, client, up).run, daemon=True).start()
    st.log("timeout: exiting after %gs" % args.timeout)
    os._exit(0)


if __name__ == "__main__":
    main()
