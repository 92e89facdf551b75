#!/usr/bin/env bash
# The main job: build greenshim, then run real, unmodified threaded servers under the launcher
# and show them serving hundreds of concurrent clients on ONE OS thread:
#   1. `python3 -m http.server` (a ThreadingHTTPServer: a thread per request) and 200 concurrent
#      HTTP clients (tests/py/http_clients.py), every response checked byte for byte;
#   2. tests/c/echo_tpc.c (a C thread-per-connection echo server) and 1000 concurrent clients
#      (tests/c/net_client.c), every echo checked;
#   (1 and 2 are then repeated natively, for comparison: a kernel thread per request there)
#   3. tests/c/sleepers.c: 10,000 pthreads that each sleep 1 s, natively and under greenshim.
# For each it prints the server's OS thread count ("Threads:" of /proc/PID/status) while the
# clients are in flight, the number of correct responses and the wall time.
# Exits 0 only if every check passes. Takes well under 30 s once built.
# Needs: cargo, python3, a C compiler (cc), Linux x86_64 with glibc.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
die() {
    echo "demo: $*" >&2
    exit 1
}
trap 'echo "demo: unexpected error (status $?) at line $LINENO" >&2' ERR

echo "== cargo build --release"
cargo build --release
GS=target/release/greenshim
[ -x "$GS" ] || die "$GS was not built"
[ -f target/release/libgreenshim.so ] || die "target/release/libgreenshim.so was not built"
command -v python3 >/dev/null || die "python3 is needed"
CC=${CC:-cc}
command -v "$CC" >/dev/null || die "a C compiler ($CC) is needed (apt-get install gcc libc6-dev)"
# the interpreter itself (not a wrapper such as a pyenv shim): the launcher's child is Python
PY=$(python3 -c 'import sys; print(sys.executable)')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greenshim-demo.XXXXXX")

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
ms_since() { echo $((($(now_us) - $1) / 1000)); }

# start_server NAME MODE COMMAND...: start a server in the background, its output in
# $WORK/NAME.out and .err; sets LAUNCHER_PID (the process started) and SERVER_PID (the server
# program itself: with MODE greenshim the launcher's child, natively the process started).
start_server() {
    local name=$1 mode=$2
    shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    LAUNCHER_PID=$!
    PIDS+=("$LAUNCHER_PID")
    SERVER_PID=
    if [ "$mode" = native ]; then
        SERVER_PID=$LAUNCHER_PID
        return 0
    fi
    for _ in $(seq 1 500); do
        SERVER_PID=$(awk '{print $1}' "/proc/$LAUNCHER_PID/task/$LAUNCHER_PID/children" 2>/dev/null || true)
        [ -n "$SERVER_PID" ] && break
        kill -0 "$LAUNCHER_PID" 2>/dev/null || break
        sleep 0.01
    done
    if [ -z "$SERVER_PID" ]; then
        tail -n 20 "$WORK/$name.err" >&2 || true
        die "$name: cannot find the server process (child of the launcher); its stderr is above"
    fi
}

# Wait up to 10 s for a line matching the sed expression $2 in $WORK/$1.out; prints the capture.
wait_port() {
    local port=
    for _ in $(seq 1 500); do
        port=$(sed -n "$2" "$WORK/$1.out" | head -n1)
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$LAUNCHER_PID" 2>/dev/null || break
        sleep 0.02
    done
    echo "demo: $1 did not print its port; its stderr:" >&2
    tail -n 20 "$WORK/$1.err" >&2 || true
    return 1
}

stop_server() {
    kill -TERM "$LAUNCHER_PID" 2>/dev/null || true # the launcher passes it on to the server
    wait "$LAUNCHER_PID" 2>/dev/null || true
}

FAILED=()
check() { # check DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then
        echo "   [ok]   $what"
    else
        echo "   [FAIL] $what"
        FAILED+=("$what")
    fi
}

# ------------------------------------------------------------------ 1. python3 -m http.server
# http_run MODE (greenshim|native): the server, 200 clients; sets HTTP_THREADS, HTTP_OK, T_HTTP.
http_run() {
    local mode=$1 rc=0 logged
    local runner=("$GS" --)
    [ "$mode" = native ] && runner=()
    start_server "http_$mode" "$mode" env PYTHONUNBUFFERED=1 "${runner[@]}" "$PY" -m http.server 0 \
        --bind 127.0.0.1 --directory "$WORK/www"
    PORT=$(wait_port "http_$mode" 's/.* port \([0-9][0-9]*\) .*/\1/p')
    local t0
    t0=$(now_us)
    timeout -k 2 40 "$PY" tests/py/http_clients.py --port "$PORT" --expect "$WORK/www/index.html" \
        --count 200 --server-pid "$SERVER_PID" >"$WORK/http_clients_$mode.out" 2>&1 || rc=$?
    T_HTTP=$(ms_since "$t0")
    stop_server
    HTTP_THREADS=$(sed -n 's/^server_threads=//p' "$WORK/http_clients_$mode.out")
    HTTP_OK=$(sed -n 's|^ok \([0-9]*\)/.*|\1|p' "$WORK/http_clients_$mode.out")
    logged=$(grep -c '"GET /index.html HTTP/1.1" 200 ' "$WORK/http_$mode.err" || true)
    [ "$mode" = greenshim ] && sed 's/^/   | /' "$WORK/http_clients_$mode.out" | head -n 30
    printf '   %-9s server Threads: %s while 200 requests were in flight; correct responses: %s/200; wall time %s ms\n' \
        "$mode:" "${HTTP_THREADS:-?}" "${HTTP_OK:-0}" "$T_HTTP"
    check "http.server ($mode): 200/200 complete, correct responses, 200 requests logged" \
        [ "$rc" -eq 0 -a "${HTTP_OK:-0}" = 200 -a "$logged" = 200 ]
}

echo
echo "== 1. python3 -m http.server (ThreadingHTTPServer: one thread per request)"
mkdir -p "$WORK/www"
{
    echo "<!doctype html><html><body><pre>"
    for i in $(seq 1 100); do echo "line $i: served by a Python thread, a greenlet on one OS thread"; done
    echo "</pre></body></html>"
} >"$WORK/www/index.html"
echo "   $GS -- python3 -m http.server 0 --bind 127.0.0.1 --directory <tmp>  (index.html: $(stat -c %s "$WORK/www/index.html") bytes)"
echo "   200 concurrent HTTP clients (tests/py/http_clients.py: all 200 requests in flight at once)"
http_run greenshim
check "http.server (greenshim): one OS thread while serving 200 requests" [ "${HTTP_THREADS:-?}" = 1 ]
echo "   the same natively, for comparison:"
http_run native

# --------------------------------------------------------------- 2. C echo server, 1000 clients
# echo_run MODE (greenshim|native): echo_tpc -n 1000, net_client -c 1000; sets ECHO_THREADS.
echo_run() {
    local mode=$1 rc=0 src=0 ok
    local runner=("$GS" --)
    [ "$mode" = native ] && runner=(env) # env execs the server: its PID is the one started
    start_server "echo_$mode" "$mode" "${runner[@]}" "$WORK/echo_tpc" -n 1000
    PORT=$(wait_port "echo_$mode" 's/^port=//p')
    local t0
    t0=$(now_us)
    timeout -k 2 40 "$WORK/net_client" -p "$PORT" -c 1000 -P "$SERVER_PID" -t 25 \
        >"$WORK/net_client_$mode.out" 2>&1 || rc=$?
    # the server exits by itself after 1000 connections
    for _ in $(seq 1 250); do
        kill -0 "$LAUNCHER_PID" 2>/dev/null || break
        sleep 0.02
    done
    T_ECHO=$(ms_since "$t0")
    if kill -0 "$LAUNCHER_PID" 2>/dev/null; then
        src=1
        stop_server
    else
        wait "$LAUNCHER_PID" || src=$?
    fi
    if [ "$mode" = greenshim ]; then
        sed 's/^/   | /' "$WORK/net_client_$mode.out" | head -n 30
        sed 's/^/   | server: /' "$WORK/echo_$mode.out"
    fi
    ECHO_THREADS=$(sed -n 's/^server_threads=//p' "$WORK/net_client_$mode.out")
    ok=$(sed -n 's/^ok \([0-9]*\)$/\1/p' "$WORK/net_client_$mode.out")
    printf '   %-9s server Threads: %s while 1000 clients were connected; intact echoes: %s/1000; wall time %s ms\n' \
        "$mode:" "${ECHO_THREADS:-?}" "${ok:-0}" "$T_ECHO"
    check "echo_tpc ($mode): 1000/1000 intact echoes, all 1000 served at once, server exited 0" \
        [ "$rc" -eq 0 -a "${ok:-0}" = 1000 -a "$src" -eq 0 ]
    check "echo_tpc ($mode): server summary says served=1000 max_active=1000 errors=0" \
        grep -q '^served=1000 max_active=1000 threads_at_exit=[0-9]* errors=0$' "$WORK/echo_$mode.out"
}

echo
echo "== 2. tests/c/echo_tpc.c (a blocking thread-per-connection echo server)"
"$CC" -O2 -pthread -o "$WORK/echo_tpc" tests/c/echo_tpc.c
"$CC" -O2 -o "$WORK/net_client" tests/c/net_client.c
echo "   $GS -- echo_tpc -n 1000; 1000 concurrent clients (net_client: all connected at once, random 1-64 KiB payloads)"
echo_run greenshim
check "echo_tpc (greenshim): one OS thread while serving 1000 connections" [ "${ECHO_THREADS:-?}" = 1 ]
check "echo_tpc (greenshim): threads_at_last_accept=1, threads_at_exit=1" \
    grep -qz 'threads_at_last_accept=1.*threads_at_exit=1 ' "$WORK/echo_greenshim.out"
echo "   the same natively, for comparison:"
echo_run native

# ------------------------------------------------------------------- 3. 10,000 sleeping threads
echo
N=${DEMO_THREADS:-10000}
echo "== 3. tests/c/sleepers.c: $N pthreads that each sleep 1 s (sleep, usleep, nanosleep, clock_nanosleep)"
"$CC" -O2 -pthread -o "$WORK/sleepers" tests/c/sleepers.c
T0=$(now_us)
rc=0
timeout -k 2 30 "$WORK/sleepers" "$N" >"$WORK/sleepers_native.out" 2>&1 || rc=$?
echo "   natively:        $(tr '\n' ' ' <"$WORK/sleepers_native.out")wall time $(ms_since "$T0") ms, exit status $rc"
T0=$(now_us)
rc=0
timeout -k 2 30 "$GS" -- "$WORK/sleepers" "$N" >"$WORK/sleepers_shim.out" 2>&1 || rc=$?
echo "   under greenshim: $(tr '\n' ' ' <"$WORK/sleepers_shim.out")wall time $(ms_since "$T0") ms, exit status $rc"
check "sleepers: all $N joined with the right values, on one OS thread" \
    grep -qz "threads_while_sleeping=1.joined=$N ok=$N" "$WORK/sleepers_shim.out"
[ "$rc" -eq 0 ] || FAILED+=("sleepers under greenshim: exit status $rc")

echo
if [ "${#FAILED[@]}" -eq 0 ]; then
    echo "demo: all checks passed"
    exit 0
fi
echo "demo: ${#FAILED[@]} check(s) failed:"
printf '   %s\n' "${FAILED[@]}"
exit 1
