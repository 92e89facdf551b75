#!/usr/bin/env bash
# Benchmark (not a test) for issue 13: what more than one hub reaches on the echo ping-pong.
#
# Servers, taking turns run by run (so that background load hits them alike):
#   hub1    examples/multihub_echo.rs with 1 hub, on CPU 0
#   hub2    the same with 2 hubs, on CPUs 0-1
#   shim    tests/c/echo_tpc.c under libgreenshim.so (one hub), on CPU 0
#   epoll   tests/c/bench_epoll_echo.c, on CPU 0
#   native  tests/c/echo_tpc.c with native threads, on CPUs 0-1
# Load: tests/c/bench_pingpong.c on CPU 1 (so on a 2-core machine the second hub shares its
# core with the client). Medians of round trips per second and of the server's CPU time per
# round trip, and the ratios hub2/hub1 (issue 13's target >= 1.8) and hub2/native (> 1).
#
# Environment: DURATION (default 3), RUNS (default 7), CONNS (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-3}
RUNS=${RUNS:-7}
CONNS=${CONNS:-1000}

cargo build --release >&2
cargo build --release -p greenshim-hubs --example multihub_echo >&2
LIB=$PWD/target/release/libgreenshim.so
MH=$PWD/target/release/examples/multihub_echo
OUT=target/bench-hubs
mkdir -p "$OUT"
for p in echo_tpc bench_epoll_echo bench_pingpong; do
    gcc -O2 -pthread -o "$OUT/$p" "tests/c/$p.c"
done
[ "$(nproc)" -ge 2 ] || { echo "bench_hubs: needs 2 CPUs" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

start_server() {
    local log="$OUT/server.out"
    : >"$log"
    case $1 in
        hub1) taskset -c 0 "$MH" 1 >"$log" 2>&1 & ;;
        hub2) taskset -c 0-1 "$MH" 2 >"$log" 2>&1 & ;;
        shim) taskset -c 0 env LD_PRELOAD="$LIB" "$OUT/echo_tpc" >"$log" 2>&1 & ;;
        epoll) taskset -c 0 "$OUT/bench_epoll_echo" >"$log" 2>&1 & ;;
        native) taskset -c 0-1 "$OUT/echo_tpc" >"$log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 250); do
        PORT=$(sed -n 's/^port=//p' "$log")
        [ -n "$PORT" ] && return 0
        sleep 0.02
    done
    echo "bench_hubs: $1 server printed no port" >&2
    cat "$log" >&2
    exit 1
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

KINDS="hub1 hub2 shim epoll native"
declare -A VALS CPU
echo "== echo ping-pong, $CONNS connections, ${DURATION}s per run, $RUNS runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$RUNS"); do
    for kind in $KINDS; do
        start_server "$kind"
        line=$(timeout $((DURATION + 60)) taskset -c 1 "$OUT/bench_pingpong" -p "$PORT" -c "$CONNS" -d "$DURATION" -P "$SERVER_PID")
        cleanup
        VALS[$kind]="${VALS[$kind]:-} $(sed -n 's/.*rt_per_s=\([0-9]*\).*/\1/p' <<<"$line")"
        CPU[$kind]="${CPU[$kind]:-} $(sed -n 's/.*server_cpu_ns_per_rt=\([0-9]*\).*/\1/p' <<<"$line")"
    done
done
declare -A MED
for kind in $KINDS; do
    # shellcheck disable=SC2086
    MED[$kind]=$(median ${VALS[$kind]})
    # shellcheck disable=SC2086
    printf '  %-6s runs %-50s median %7d rt/s; server CPU per rt median %6d ns\n' \
        "$kind" "${VALS[$kind]# }" "${MED[$kind]}" "$(median ${CPU[$kind]})"
done
echo "  hub2/hub1 $(ratio "${MED[hub2]}" "${MED[hub1]}") (target >= 1.8)   hub2/native $(ratio "${MED[hub2]}" "${MED[native]}") (target > 1)"
echo "  load afterwards $(cut -d' ' -f1-3 /proc/loadavg)"
