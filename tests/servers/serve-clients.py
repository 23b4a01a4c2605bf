#!/usr/bin/env python3
"""Clients that misbehave or pile on, for tests/e2e/70-serve.sh (127.0.0.1 only).

  serve-clients.py raw PORT REQUEST-BYTES    send the bytes (Python escapes allowed:
                                             \\x00, \\r\\n), print the status code or "closed"
  serve-clients.py bigheader PORT SIZE       a GET with one header of SIZE bytes: status or "closed"
  serve-clients.py keepalive PORT PATH N     N GETs on one connection: prints "OK N" when all
                                             were 200 on the same socket
  serve-clients.py concurrent PORT PATH N SHA256
                                             N clients at once each GET PATH whole; prints
                                             "OK N" when every body hashes to SHA256
  serve-clients.py slow PORT SECONDS         send a request one byte a second; prints what
                                             the server did after SECONDS ("open" or "closed")
"""
import codecs
import hashlib
import http.client
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def status_of(sock):
    data = b""
    sock.settimeout(10)
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    if not data.startswith(b"HTTP/"):
        return "closed"
    return data.split(b" ")[1].decode()


def raw(port, request):
    return raw_bytes(port, codecs.escape_decode(request.encode())[0])


def bigheader(port, size):
    req = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    return raw_bytes(port, req)


def raw_bytes(port, req):
    with socket.create_connection((HOST, port)) as s:
        try:
            s.sendall(req)
        except (BrokenPipeError, ConnectionResetError):
            return "closed"
        return status_of(s)


def keepalive(port, path, n):
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    first = None
    for i in range(n):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            return "request %d: status %d" % (i + 1, resp.status)
        if first is None:
            first = conn.sock
        elif conn.sock is not first:
            return "request %d: the connection was not kept alive" % (i + 1)
    conn.close()
    return "OK %d" % n


def concurrent(port, path, n, want):
    results = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def one():
        try:
            start.wait(timeout=60)
            conn = http.client.HTTPConnection(HOST, port, timeout=120)
            conn.request("GET", path)
            resp = conn.getresponse()
            h = hashlib.sha256()
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
            ok = resp.status == 200 and h.hexdigest() == want
            r = "ok" if ok else "status %d sha %s" % (resp.status, h.hexdigest()[:12])
        except Exception as e:  # noqa: BLE001 - every failure is reported
            r = repr(e)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if r != "ok"]
    if bad:
        return "%d of %d failed: %s" % (len(bad), n, bad[0])
    return "OK %d" % n


def slow(port, seconds):
    req = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((HOST, port)) as s:
        for i in range(min(seconds, len(req) - 1)):
            try:
                s.sendall(req[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return "closed"
            time.sleep(1)
        s.settimeout(0.2)
        try:
            return "closed" if s.recv(1) == b"" else "answered early"
        except socket.timeout:
            return "open"
        except ConnectionResetError:
            return "closed"


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if cmd == "raw":
        print(raw(port, args[0]))
    elif cmd == "bigheader":
        print(bigheader(port, int(args[0])))
    elif cmd == "keepalive":
        print(keepalive(port, args[0], int(args[1])))
    elif cmd == "concurrent":
        print(concurrent(port, args[0], int(args[1]), args[2]))
    elif cmd == "slow":
        print(slow(port, int(args[0])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
