#!/usr/bin/env bash
# Shell test (issue 3): the thread-per-connection echo server tests/c/echo_tpc.c, run under
# `target/release/greenshim --`, serves 20 concurrent netcat (netcat-openbsd) clients: each
# sends a distinct multi-KB payload, half-closes (nc -N), reads the echo back; every reply must
# equal what was sent (cmp), and the server must have one OS thread (/proc/PID/status Threads: 1)
# while all 20 clients are connected. Prints PASS or FAIL and exits 0 or 1.
# GREENSHIM_HUBS=N in the environment (scripts/test.sh --hubs N) reaches the server through the
# launcher; the server must then have N OS threads, one per hub.
# Needs: cargo build --release (done by scripts/test.sh), gcc, nc (netcat-openbsd).
set -euo pipefail
cd "$(dirname "$0")/.."

N=20
GS=target/release/greenshim
HUBS=${GREENSHIM_HUBS:-1}
fail() {
    echo "FAIL: $*"
    if [ -n "${WORK:-}" ] && [ -f "$WORK/server.out" ]; then
        echo "--- server stdout/stderr"
        cat "$WORK/server.out" "$WORK/server.err" 2>/dev/null || true
    fi
    exit 1
}

[ -x "$GS" ] || fail "$GS not built (run cargo build --release)"
[ -f target/release/libgreenshim.so ] || fail "target/release/libgreenshim.so not built"
command -v nc >/dev/null || fail "nc not found (apt-get install netcat-openbsd)"
nc -h 2>&1 | grep -q -- '-N' || fail "this nc has no -N (need netcat-openbsd)"
command -v gcc >/dev/null || fail "gcc not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gs_t_net_nc.XXXXXX")
LAUNCHER_PID=
NC_PIDS=()
cleanup() {
    local p
    for p in "${NC_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    if [ -n "$LAUNCHER_PID" ]; then
        # the launcher passes SIGTERM on to the server; then make sure of both
        kill -TERM "$LAUNCHER_PID" 2>/dev/null || true
        if [ -n "${SERVER_PID:-}" ]; then
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$LAUNCHER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

gcc -O2 -pthread -o "$WORK/echo_tpc" tests/c/echo_tpc.c

# The server binds port 0 and tells us its port; it exits by itself after N connections.
"$GS" -- "$WORK/echo_tpc" -n "$N" >"$WORK/server.out" 2>"$WORK/server.err" &
LAUNCHER_PID=$!
PORT=
for _ in $(seq 1 250); do
    PORT=$(sed -n 's/^port=//p' "$WORK/server.out" 2>/dev/null || true)  # the background job may not have opened it yet
    [ -n "$PORT" ] && break
    sleep 0.02
done
[ -n "$PORT" ] || fail "the server printed no port= line within 5 s"
SERVER_PID=$(pgrep -P "$LAUNCHER_PID" | head -n1 || true)
[ -n "$SERVER_PID" ] || fail "cannot find the server process (child of the launcher $LAUNCHER_PID)"
grep -q "libgreenshim.so" "/proc/$SERVER_PID/maps" || fail "the server does not have libgreenshim.so loaded"

# Payloads: distinct sizes (4 KiB .. ~60 KiB) and contents.
for i in $(seq 1 "$N"); do
    head -c $((4096 + i * 2897)) /dev/urandom >"$WORK/in.$i"
done

# Each client: send the payload, keep the connection open 1.5 s (so that all 20 are connected
# at once while we look at the server), then EOF on stdin -> nc -N shuts down its write side,
# and nc reads the echo until the server closes.
for i in $(seq 1 "$N"); do
    { cat "$WORK/in.$i"; sleep 1.5; } | timeout 30 nc -N 127.0.0.1 "$PORT" >"$WORK/out.$i" 2>"$WORK/err.$i" &
    NC_PIDS+=("$!")
done

# While the clients are connected: the server's OS thread count, and that it really has them.
sleep 0.7
THREADS=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")
CONNECTED=$(ls -l "/proc/$SERVER_PID/fd" 2>/dev/null | grep -c 'socket:' || true)

rc=0
for i in "${!NC_PIDS[@]}"; do
    wait "${NC_PIDS[$i]}" || { echo "client $((i + 1)): nc exited with status $?: $(cat "$WORK/err.$((i + 1))")"; rc=1; }
done
NC_PIDS=()

# The server exits by itself after N connections.
for _ in $(seq 1 250); do
    kill -0 "$LAUNCHER_PID" 2>/dev/null || break
    sleep 0.02
done
if kill -0 "$LAUNCHER_PID" 2>/dev/null; then
    echo "the server did not exit after serving $N connections"
    rc=1
else
    wait "$LAUNCHER_PID" || { echo "the server (launcher) exited with status $?"; rc=1; }
    LAUNCHER_PID=
fi

bad=0
for i in $(seq 1 "$N"); do
    if ! cmp -s "$WORK/in.$i" "$WORK/out.$i"; then
        echo "client $i: echo differs: sent $(stat -c %s "$WORK/in.$i") bytes, got $(stat -c %s "$WORK/out.$i")"
        bad=$((bad + 1))
    fi
done
[ "$bad" -eq 0 ] || rc=1
echo "echoes intact: $((N - bad))/$N; server Threads: $THREADS with $CONNECTED sockets open (want $HUBS thread(s), $((N + 1)) sockets)"
[ "$THREADS" = "$HUBS" ] || { echo "server Threads: is $THREADS, want $HUBS (one per hub)"; rc=1; }
[ "$CONNECTED" -ge $((N + 1)) ] || { echo "only $CONNECTED sockets open in the server while the clients were connected, want $((N + 1))"; rc=1; }
grep -q "^served=$N " "$WORK/server.out" || { echo "the server did not report served=$N"; rc=1; }

if [ "$rc" -eq 0 ]; then
    echo "PASS: $N nc clients echoed by a thread-per-connection server on $HUBS OS thread(s) (one per hub)"
    exit 0
fi
fail "see above"
