#!/usr/bin/env python3
"""Concurrent HTTP load client for `python3 -m http.server` (run natively, plain threads).

Usage: http_clients.py --port PORT --expect FILE [--path /index.html] [--count 200]
                       [--stagger-ms 3] [--server-pid PID] [--hold SECONDS] [--timeout 20]

http.server listens with a backlog of 5 (socketserver's request_queue_size), so COUNT truly
simultaneous connects would overflow its accept queue even natively. Instead this client:
  1. opens the COUNT connections one after the other, STAGGER ms apart (so the backlog never
     overflows), and on each sends only the request line "GET PATH HTTP/1.1\r\n": the server
     accepts it, starts a handler thread and that thread blocks reading the headers;
  2. once all COUNT connections are open and have sent their request line (a barrier), prints
     "all-connected"; with --server-pid it waits (up to 5 s) until the server holds COUNT
     accepted sockets and prints "server_threads=<Threads: of /proc/PID/status>" and
     "server_sockets=<sockets open in the server>" - COUNT requests are in flight at once, the
     server holds COUNT handler threads; then it sleeps --hold seconds (default 0);
  3. releases all connections at once: each sends the rest of its headers, reads the response
     until EOF and checks: status 200, a Content-Length header equal to the body's length, and
     the body byte-for-byte equal to the contents of --expect.
Output: "ok <COUNT>/<COUNT> wall_ms=<ms>" and exit 0; otherwise one "FAIL conn <i>: <why>" line
per failed connection (the first 20) and "failed <k> of <COUNT> wall_ms=<ms>", exit 1.
"""

import argparse
import os
import socket
import sys
import threading
import time


def server_threads(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def server_sockets(pid):
    n = 0
    try:
        d = f"/proc/{pid}/fd"
        for name in os.listdir(d):
            try:
                if os.readlink(os.path.join(d, name)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        return -1
    return n


def parse_response(data):
    """(status, headers dict (lower-case names), body) or raise ValueError."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no end of headers in {len(data)} bytes: {data[:80]!r}")
    lines = head.split(b"\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError(f"bad header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, headers, body


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/index.html")
    ap.add_argument("--expect", required=True, help="file whose contents the body must equal")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--stagger-ms", type=float, default=3.0)
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()

    with open(args.expect, "rb") as f:
        expected = f.read()
    n = args.count
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    fails = {}
    fails_lock = threading.Lock()

    def fail(i, why):
        with fails_lock:
            fails.setdefault(i, why)

    barrier = threading.Barrier(n + 1)
    request_line = f"GET {args.path} HTTP/1.1\r\n".encode()
    rest = f"Host: {args.host}:{args.port}\r\nUser-Agent: http_clients.py\r\n" \
           f"Connection: close\r\n\r\n".encode()

    def client(i, sock):
        try:
            try:
                barrier.wait(timeout=max(0.1, deadline - time.monotonic()))
            except threading.BrokenBarrierError:
                fail(i, "the barrier broke (not every connection got through step 1)")
                return
            sock.sendall(rest)
            chunks = []
            while True:
                b = sock.recv(65536)
                if not b:
                    break
                chunks.append(b)
            data = b"".join(chunks)
            if not data:
                fail(i, "empty response (connection closed without a byte)")
                return
            status, headers, body = parse_response(data)
            if status != 200:
                fail(i, f"status {status}")
                return
            cl = headers.get("content-length")
            if cl is None:
                fail(i, "no Content-Length header")
                return
            if int(cl) != len(body) or len(body) != len(expected):
                fail(i, f"Content-Length {cl}, body {len(body)} bytes, expected {len(expected)}")
                return
            if body != expected:
                k = next(j for j in range(len(body)) if body[j] != expected[j])
                fail(i, f"body differs from the file at byte {k}")
                return
        except Exception as e:  # noqa: BLE001 - every failure is reported per connection
            fail(i, f"{type(e).__name__}: {e}")
        finally:
            sock.close()

    threads = []
    for i in range(n):
        target = t0 + i * args.stagger_ms / 1000.0
        d = target - time.monotonic()
        if d > 0:
            time.sleep(d)
        try:
            s = socket.create_connection((args.host, args.port),
                                         timeout=max(0.1, deadline - time.monotonic()))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(request_line)
        except Exception as e:  # noqa: BLE001
            fail(i, f"connect/send request line: {type(e).__name__}: {e}")
            barrier.abort()
            break
        t = threading.Thread(target=client, args=(i, s), daemon=True)
        t.start()
        threads.append(t)

    connected_ms = (time.monotonic() - t0) * 1e3
    if not barrier.broken:
        print(f"all-connected n={n} after_ms={connected_ms:.0f}", flush=True)
        if args.server_pid:
            # the server accepts asynchronously: wait until it holds all n connections
            want = n + 1  # + its listening socket
            until = time.monotonic() + 5.0
            socks = server_sockets(args.server_pid)
            while socks < want and time.monotonic() < until:
                time.sleep(0.01)
                socks = server_sockets(args.server_pid)
            print(f"server_threads={server_threads(args.server_pid)}", flush=True)
            print(f"server_sockets={socks}", flush=True)
        if args.hold > 0:
            time.sleep(args.hold)
        try:
            barrier.wait(timeout=max(0.1, deadline - time.monotonic()))
        except threading.BrokenBarrierError:
            pass

    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    for i, t in enumerate(threads):
        if t.is_alive():
            fail(i, f"no complete response within {args.timeout:.0f} s")
    for i in range(len(threads), n):
        fail(i, "never connected")

    wall_ms = (time.monotonic() - t0) * 1e3
    if fails:
        for i in sorted(fails)[:20]:
            print(f"FAIL conn {i}: {fails[i]}")
        print(f"failed {len(fails)} of {n} wall_ms={wall_ms:.0f}")
        sys.stdout.flush()
        os._exit(1)  # daemon threads may still be blocked in recv
    print(f"ok {n}/{n} wall_ms={wall_ms:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
