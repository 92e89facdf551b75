#!/usr/bin/env bash
# Shell test (issue 4): a Python socketserver.ThreadingTCPServer echo server
# (tests/py/tcp_echo_server.py: a thread per connection, request_queue_size 256), run under
# `target/release/greenshim --`, serves N (default 200) concurrent netcat clients. Each client
# connects, waits at a gate until all N are connected (the server then holds N handler threads,
# and must have ONE OS thread: /proc/PID/status Threads: 1), then sends a distinct payload,
# half-closes (nc -N) and reads the echo back; every reply must equal what was sent (cmp), and
# the server must report served=N errors=0 and exit by itself. Prints PASS or FAIL, exits 0 or 1.
# Usage: scripts/t_python_servers.sh [N]
#   GS_NATIVE=1 runs the server natively instead; GS=PATH uses another launcher (default
#   target/release/greenshim; the launcher finds libgreenshim.so next to itself).
#   GREENSHIM_HUBS=N in the environment (scripts/test.sh --hubs N) reaches the server through
#   the launcher; the server must then have N OS threads, one per hub.
# Needs: cargo build --release (done by scripts/test.sh), python3, nc (netcat-openbsd).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200}
GS=${GS:-target/release/greenshim}
HUBS=${GREENSHIM_HUBS:-1}
T_START=$EPOCHREALTIME
WORK=
LAUNCHER_PID=
SERVER_PID=
NC_PIDS=()

fail() {
    echo "FAIL: $*"
    if [ -n "$WORK" ] && [ -f "$WORK/server.out" ]; then
        echo "--- server stdout"
        cat "$WORK/server.out" 2>/dev/null || true
        echo "--- server stderr (last 20 lines)"
        tail -n 20 "$WORK/server.err" 2>/dev/null || true
    fi
    exit 1
}

cleanup() {
    local p
    exec 3>&- 2>/dev/null || true
    for p in "${NC_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    if [ -n "$LAUNCHER_PID" ]; then
        # the launcher passes SIGTERM on to the server; then make sure of both
        kill -TERM "$LAUNCHER_PID" 2>/dev/null || true
        [ -n "$SERVER_PID" ] && [ "$SERVER_PID" != "$LAUNCHER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$LAUNCHER_PID" 2>/dev/null || true
    fi
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'fail "unexpected error (status $?) at line $LINENO"' ERR

[ -x "$GS" ] || fail "$GS not built (run cargo build --release)"
[ -f "$(dirname "$GS")/libgreenshim.so" ] || fail "$(dirname "$GS")/libgreenshim.so not built"
command -v python3 >/dev/null || fail "python3 not found"
command -v nc >/dev/null || fail "nc not found (apt-get install netcat-openbsd)"
nc -h 2>&1 | grep -q -- '-N' || fail "this nc has no -N (need netcat-openbsd)"
# the interpreter itself (not a wrapper such as a pyenv shim), so the launcher's child is Python
PY=$(python3 -c 'import sys; print(sys.executable)')
[ -x "$PY" ] || fail "cannot find the python3 executable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gs_t_python_servers.XXXXXX")
if [ "${GS_NATIVE:-0}" = 1 ]; then
    RUNNER=(env)
    MODE=native
else
    RUNNER=("$GS" --)
    MODE=greenshim
fi

# The server binds port 0 and prints its port; it exits by itself after N connections.
PYTHONUNBUFFERED=1 timeout -k 2 60 "${RUNNER[@]}" "$PY" tests/py/tcp_echo_server.py -n "$N" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
LAUNCHER_PID=$!
PORT=
for _ in $(seq 1 500); do
    PORT=$(sed -n 's/^port=//p' "$WORK/server.out" 2>/dev/null || true)  # the background job may not have opened it yet
    [ -n "$PORT" ] && break
    kill -0 "$LAUNCHER_PID" 2>/dev/null || fail "the server exited before printing port="
    sleep 0.02
done
[ -n "$PORT" ] || fail "the server printed no port= line within 10 s"
# timeout -> launcher (or env, which execs) -> python: the server is the deepest descendant
# (not counting the shim's live-view task, a child named greenshim-live)
SERVER_PID=$LAUNCHER_PID
for _ in 1 2 3; do
    c=$(for p in $(pgrep -P "$SERVER_PID" || true); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = greenshim-live ] || echo "$p"
    done | head -n1)
    [ -n "$c" ] || break
    SERVER_PID=$c
done
grep -q "python" "/proc/$SERVER_PID/cmdline" || fail "cannot find the server process (got pid $SERVER_PID)"
if [ "$MODE" = greenshim ]; then
    grep -q "libgreenshim.so" "/proc/$SERVER_PID/maps" || fail "the server does not have libgreenshim.so loaded"
fi

# Payloads: distinct sizes (1 KiB .. ~41 KiB) and contents.
for i in $(seq 1 "$N"); do
    head -c $((1024 + i * 200)) /dev/urandom >"$WORK/in.$i"
done

# The gate: a FIFO the script keeps open read-write (so opening it never blocks); each client
# reads one line from it (bash's `read` takes one byte at a time from a pipe: exactly one line)
# before it sends its payload. nc connects at once, so all N connect before any sends.
mkfifo "$WORK/gate"
exec 3<>"$WORK/gate"
for i in $(seq 1 "$N"); do
    { read -r _ <"$WORK/gate"; cat "$WORK/in.$i"; } |
        timeout 30 nc -N 127.0.0.1 "$PORT" >"$WORK/out.$i" 2>"$WORK/err.$i" &
    NC_PIDS+=("$!")
done

# Wait until the server holds all N connections (N + its listening socket), then look at it.
SOCKETS=0
for _ in $(seq 1 500); do
    SOCKETS=$(find "/proc/$SERVER_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l)
    [ "$SOCKETS" -ge $((N + 1)) ] && break
    sleep 0.02
done
THREADS=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")
T_CONNECTED=$EPOCHREALTIME

# Open the gate: one line per client.
for i in $(seq 1 "$N"); do echo; done >&3

rc=0
for i in "${!NC_PIDS[@]}"; do
    wait "${NC_PIDS[$i]}" || { echo "client $((i + 1)): nc exited with status $?: $(cat "$WORK/err.$((i + 1))")"; rc=1; }
done
NC_PIDS=()
exec 3>&-
T_DONE=$EPOCHREALTIME

# The server exits by itself after N connections.
for _ in $(seq 1 250); do
    kill -0 "$LAUNCHER_PID" 2>/dev/null || break
    sleep 0.02
done
if kill -0 "$LAUNCHER_PID" 2>/dev/null; then
    echo "the server did not exit within 5 s after serving $N connections"
    rc=1
else
    wait "$LAUNCHER_PID" || { echo "the server (launcher) exited with status $?"; rc=1; }
    LAUNCHER_PID=
fi

bad=0
for i in $(seq 1 "$N"); do
    if ! cmp -s "$WORK/in.$i" "$WORK/out.$i"; then
        [ "$bad" -lt 20 ] && echo "client $i: echo differs: sent $(stat -c %s "$WORK/in.$i") bytes, got $(stat -c %s "$WORK/out.$i")"
        bad=$((bad + 1))
    fi
done
[ "$bad" -eq 0 ] || rc=1
ms() { local a=${1/./} b=${2/./}; echo $(((10#$b - 10#$a) / 1000)); }
echo "mode: $MODE; echoes intact: $((N - bad))/$N; server Threads: $THREADS with $SOCKETS sockets open while all clients were connected"
echo "times: all connected after $(ms "$T_START" "$T_CONNECTED") ms, echoes done $(ms "$T_CONNECTED" "$T_DONE") ms after the gate opened"
if [ "$SOCKETS" -lt $((N + 1)) ]; then
    echo "only $SOCKETS sockets open in the server while the clients were connected, want $((N + 1))"
    rc=1
fi
if [ "$MODE" = greenshim ]; then
    [ "$THREADS" = "$HUBS" ] || { echo "server Threads: is $THREADS, want $HUBS (one per hub)"; rc=1; }
else
    [ "$THREADS" -gt "$N" ] 2>/dev/null || { echo "natively the server should have > $N threads, has $THREADS"; rc=1; }
fi
grep -q "^served=$N .* errors=0$" "$WORK/server.out" || { echo "the server did not report served=$N ... errors=0"; rc=1; }

if [ "$rc" -eq 0 ]; then
    echo "PASS: $N nc clients echoed by a Python ThreadingTCPServer ($MODE)"
    exit 0
fi
fail "see above"
