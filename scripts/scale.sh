#!/usr/bin/env bash
# N concurrent TCP connections to the thread-per-connection echo server (tests/c/echo_tpc.c),
# each echoing 64 bytes twice (tests/c/scale_client.c, one epoll thread), with the server's
# memory per idle connection. Not part of scripts/test.sh: tests/scale.rs runs 20,000 by default.
#
#   scripts/scale.sh [N] [MODE]     N default 100000; MODE shim (default), native or epoll
#                                   (tests/c/bench_epoll_echo.c, the hand-written epoll server)
#
# Prints: the server's RSS before the first connection and with N idle connections, the
# difference per connection, its Threads: count, and the client's verdict. The server needs
# N + 64 fds: the script raises the hard fd limit to that if it can (CAP_SYS_RESOURCE), else
# it stops, naming the limit (`ulimit -Hn` then caps N). Server on
# CPU 0, client on CPU 1. Environment: LIB (the preload library), GS_ENV (extra VAR=value
# settings for the server, e.g. "GREENSHIM_STACK_GUARD=canary").
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
MODE=${2:-shim}
LIB=${LIB:-$PWD/target/release/libgreenshim.so}
OUT=target/scale
mkdir -p "$OUT"
for p in echo_tpc scale_client bench_epoll_echo; do
    [ "$OUT/$p" -nt "tests/c/$p.c" ] || gcc -O2 -pthread -o "$OUT/$p" "tests/c/$p.c"
done
need=$((N + 64))
if [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" 2>/dev/null || { echo "scale: hard fd limit $(ulimit -Hn) < $need and cannot be raised" >&2; exit 1; }
fi
ulimit -Sn "$(ulimit -Hn)"

SRV=
cleanup() { [ -n "$SRV" ] && kill -KILL "$SRV" 2>/dev/null; [ -n "${CLI:-}" ] && kill -KILL "$CLI" 2>/dev/null; rm -f "$OUT/go"; true; }
trap cleanup EXIT
: >"$OUT/server.out"
case $MODE in
    shim) taskset -c 0 env LD_PRELOAD="$LIB" ${GS_ENV:-} "$OUT/echo_tpc" -q >"$OUT/server.out" 2>&1 & ;;
    native) taskset -c 0 "$OUT/echo_tpc" -q >"$OUT/server.out" 2>&1 & ;;
    epoll) taskset -c 0 "$OUT/bench_epoll_echo" >"$OUT/server.out" 2>&1 & ;;
    *) echo "scale: MODE is shim, native or epoll" >&2; exit 2 ;;
esac
SRV=$!
PORT=
for _ in $(seq 1 250); do
    PORT=$(sed -n 's/^port=//p' "$OUT/server.out")
    [ -n "$PORT" ] && break
    sleep 0.02
done
[ -n "$PORT" ] || { echo "scale: server printed no port" >&2; cat "$OUT/server.out" >&2; exit 1; }
# smaps_rollup is exact (VmRSS of status is the kernel's approximate per-CPU counter)
rss() { awk '/^Rss:/ {print $2}' "/proc/$SRV/smaps_rollup"; }
before=$(rss)
rm -f "$OUT/go"; mkfifo "$OUT/go"
taskset -c 1 "$OUT/scale_client" -p "$PORT" -n "$N" <"$OUT/go" >"$OUT/client.out" 2>&1 &
CLI=$!
exec 7>"$OUT/go"
while ! grep -q '^idle' "$OUT/client.out"; do
    kill -0 "$CLI" 2>/dev/null || { echo "scale: client failed:" >&2; cat "$OUT/client.out" "$OUT/server.out" >&2; exit 1; }
    sleep 0.2
done
sleep 0.5
after=$(rss)
threads=$(awk '/^Threads:/ {print $2}' "/proc/$SRV/status")
echo go >&7
exec 7>&-
rc=0
wait "$CLI" || rc=$?
CLI=
kill -0 "$SRV" 2>/dev/null || { echo "scale: server died:" >&2; cat "$OUT/server.out" >&2; rc=1; }
cat "$OUT/client.out"
awk -v b="$before" -v a="$after" -v n="$N" -v t="$threads" -v m="$MODE" 'BEGIN {
    printf "mode=%s conns=%d rss_before_kib=%d rss_idle_kib=%d kib_per_conn=%.2f threads=%d\n", m, n, b, a, (a - b) / n, t }'
grep -i greenshim "$OUT/server.out" || true
exit $rc
