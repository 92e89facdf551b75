#!/usr/bin/env python3
"""socketserver.ThreadingTCPServer echo server (a thread per connection).

Usage: tcp_echo_server.py [--port 0] [-n N]

Listens on 127.0.0.1:PORT (0: the kernel picks one) with request_queue_size 256,
daemon_threads and allow_reuse_address, prints "port=<n>" (flushed), and echoes every
connection (recv / sendall) until EOF. With -n N, once N connections have been served it prints
"served=<N> max_active=<most connections open at once> threads_at_exit=<Threads: of
/proc/self/status> errors=<k>", shuts the server down (server.shutdown() from another thread,
as the documentation shows) and exits 0.
"""

import argparse
import socketserver
import sys
import threading


def status_threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


class Stats:
    lock = threading.Lock()
    served = 0
    active = 0
    max_active = 0
    errors = 0
    exit_after = 0


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        with Stats.lock:
            Stats.active += 1
            Stats.max_active = max(Stats.max_active, Stats.active)
        ok = True
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
        except OSError as e:
            ok = False
            print(f"connection error: {e}", file=sys.stderr, flush=True)
        with Stats.lock:
            Stats.active -= 1
            Stats.served += 1
            if not ok:
                Stats.errors += 1
            done = Stats.served
        if Stats.exit_after and done == Stats.exit_after:
            print(f"served={done} max_active={Stats.max_active} "
                  f"threads_at_exit={status_threads()} errors={Stats.errors}", flush=True)
            threading.Thread(target=self.server.shutdown).start()


class Server(socketserver.ThreadingTCPServer):
    request_queue_size = 256
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("-n", type=int, default=0, help="exit after N connections")
    args = ap.parse_args()
    Stats.exit_after = args.n
    with Server(("127.0.0.1", args.port), EchoHandler) as server:
        print(f"port={server.server_address[1]}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
