#!/usr/bin/env bash
# Benchmark (not a test) for issue 3: 64-byte echo ping-pong round trips per second.
#
# Servers (pinned to CPU 0 with taskset, unless said otherwise):
#   native  tests/c/echo_tpc.c: blocking thread-per-connection, one OS thread per client
#   shim    the same binary under libgreenshim.so, one hub (GREENSHIM_HUBS unset whatever the
#           environment says): one OS thread, a greenlet per client
#   shim2   the same under GREENSHIM_HUBS=2: two hubs on two OS threads, the connections'
#           greenlets spread over them. Pinned to CPUs 0 and 1 (taskset -c 0,1), not to one
#           core: two hubs on one core prove nothing. The load generator (on CPU 1) then shares
#           a core with one hub, so its round trips/s understate what two free cores would
#           give; PIN=none below is the fairer comparison. Skipped, with the reason, where the
#           library refuses GREENSHIM_HUBS=2 (main before multi-hub mode) or with SHIM2=0.
#   epoll   tests/c/bench_epoll_echo.c: hand-written single-threaded level-triggered epoll
# Load (pinned to CPU 1): tests/c/bench_pingpong.c, one epoll thread keeping every connection
# in lock-step ping-pong for DURATION seconds (after a 0.5 s warm-up), counting round trips.
# RUNS runs of each (server, connection count); medians and the ratios
#   shim/epoll (target >= 0.9) and shim/native (target >= 1.3) of round trips per second, and
#   the server's CPU time per round trip (bench_pingpong -P: user + system time of the server's
#   process during the counted seconds, all its threads), shim/epoll (target <= 1.05): the
#   efficiency figure, which does not depend on how the two processes share the machine;
#   shim2/shim of both (no target: what a second hub buys in throughput, and costs in CPU per
#   round trip).
# PIN=none: no taskset at all, for every server and the load generator: each server may use
#   every core (the only setting where native threads and two hubs can use a second core while
#   one hub and epoll cannot; the load generator competes with the server for the cores).
#   Default PIN=split: as above (server CPU 0, load CPU 1, shim2 CPUs 0 and 1).
# Then the cost of a read() that needs no wait (tests/c/bench_read.c, 1e6 one-byte reads from
# a socketpair that always has data): native vs shim, ns per call (target shim <= 1.1x native).
#
# Environment: DURATION (default 3), RUNS (default 3), CONNS (default "100 1000 10000"),
#              READS (default 1000000), BASE_LIB (another build of libgreenshim.so, e.g. of the
#              previous commit: also measured, as "base", in the same run, for regressions),
#              PIN (split or none, default split), SHIM2 (0: leave shim2 out; default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"100 1000 10000"}
READS=${READS:-1000000}
PIN=${PIN:-split}
SHIM2=${SHIM2:-1}
case $PIN in
    split | none) ;;
    *) echo "bench: PIN=$PIN: expected split or none" >&2; exit 2 ;;
esac

echo "== cargo build --release"
cargo build --release
LIB=$PWD/target/release/libgreenshim.so
[ -f "$LIB" ] || { echo "bench: $LIB was not built" >&2; exit 1; }

OUT=target/bench-echo
mkdir -p "$OUT"
for p in echo_tpc bench_epoll_echo bench_pingpong bench_read; do
    gcc -O2 -pthread -o "$OUT/$p" "tests/c/$p.c"
done

ncpu=$(nproc)
# CPU lists for taskset; empty: not pinned (PIN=none).
if [ "$PIN" = none ]; then
    SRV_CPU=
    SRV2_CPU=
    CLI_CPU=
elif [ "$ncpu" -ge 2 ]; then
    SRV_CPU=0
    SRV2_CPU=0,1
    CLI_CPU=1
else
    echo "bench: only $ncpu CPU: server and client share CPU 0 (figures are not comparable)"
    SRV_CPU=0
    SRV2_CPU=0
    CLI_CPU=0
fi
# The command prefixes that pin (taskset -c CPUS), empty when not pinned: arrays, not a
# function, so that $! is the server's own pid (for -P) and timeout can run them.
pin_of() { if [ -n "$1" ]; then echo "taskset -c $1"; fi; }
read -r -a SRV_PIN <<<"$(pin_of "$SRV_CPU")"
read -r -a SRV2_PIN <<<"$(pin_of "$SRV2_CPU")"
read -r -a CLI_PIN <<<"$(pin_of "$CLI_CPU")"
where() { if [ -n "$1" ]; then echo "CPU $1"; else echo "any CPU"; fi; }
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

# start_server KIND: starts it pinned, sets SERVER_PID and PORT
start_server() {
    local kind=$1 log="$OUT/server.out"
    : >"$log"
    case $kind in
        native) "${SRV_PIN[@]}" "$OUT/echo_tpc" >"$log" 2>&1 & ;;
        shim) "${SRV_PIN[@]}" env -u GREENSHIM_HUBS LD_PRELOAD="$LIB" "$OUT/echo_tpc" >"$log" 2>&1 & ;;
        shim2) "${SRV2_PIN[@]}" env LD_PRELOAD="$LIB" GREENSHIM_HUBS=2 "$OUT/echo_tpc" >"$log" 2>&1 & ;;
        base) "${SRV_PIN[@]}" env -u GREENSHIM_HUBS LD_PRELOAD="$BASE_LIB" "$OUT/echo_tpc" >"$log" 2>&1 & ;;
        epoll) "${SRV_PIN[@]}" "$OUT/bench_epoll_echo" >"$log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 250); do
        PORT=$(sed -n 's/^port=//p' "$log")
        [ -n "$PORT" ] && return 0
        sleep 0.02
    done
    echo "bench: $kind server printed no port; its output:" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN {
    if (r == "n/a") print "n/a"; else if ((dir == "ge" && r >= t) || (dir == "le" && r <= t)) print "MET"; else print "NOT MET" }'; }

# shim2 only where the library runs two hubs (main before multi-hub mode refuses them at start).
HAVE_SHIM2=
if [ "$SHIM2" != 0 ]; then
    if refusal=$(env LD_PRELOAD="$LIB" GREENSHIM_HUBS=2 true 2>&1); then
        HAVE_SHIM2=1
    else
        echo "bench: shim2 left out: the library refuses GREENSHIM_HUBS=2: ${refusal:-exit status $?}"
    fi
fi
KINDS="native shim${HAVE_SHIM2:+ shim2} epoll${BASE_LIB:+ base}"
declare -A MED VALS CPU CPUMED
echo
echo "== echo ping-pong, ${DURATION}s per run, $RUNS runs, PIN=$PIN: server on $(where "$SRV_CPU")${HAVE_SHIM2:+ (shim2 on $(where "$SRV2_CPU"))}, client on $(where "$CLI_CPU")"
echo "   (the servers take turns run by run, so that background load hits them alike)"
for c in $CONNS; do
    for r in $(seq 1 "$RUNS"); do
        for kind in $KINDS; do
            start_server "$kind"
            line=$(timeout $((DURATION + 60)) "${CLI_PIN[@]}" "$OUT/bench_pingpong" -p "$PORT" -c "$c" -d "$DURATION" -P "$SERVER_PID") || {
                echo "bench: client failed against the $kind server ($c connections)" >&2
                cat "$OUT/server.out" >&2
                exit 1
            }
            stop_server
            v=$(sed -n 's/.*rt_per_s=\([0-9]*\).*/\1/p' <<<"$line")
            VALS[$kind,$c]="${VALS[$kind,$c]:-} $v"
            CPU[$kind,$c]="${CPU[$kind,$c]:-} $(sed -n 's/.*server_cpu_ns_per_rt=\([0-9]*\).*/\1/p' <<<"$line")"
        done
    done
    for kind in $KINDS; do
        # shellcheck disable=SC2086
        MED[$kind,$c]=$(median ${VALS[$kind,$c]})
        # shellcheck disable=SC2086
        CPUMED[$kind,$c]=$(median ${CPU[$kind,$c]})
        printf '  %-6s %5d conns: runs %-28s median %8d round trips/s; server CPU per round trip: runs %-20s median %6d ns\n' \
            "$kind" "$c" "${VALS[$kind,$c]# }" "${MED[$kind,$c]}" "${CPU[$kind,$c]# }" "${CPUMED[$kind,$c]}"
    done
done

echo
echo "== ratios (medians)"
for c in $CONNS; do
    se=$(ratio "${MED[shim,$c]}" "${MED[epoll,$c]}")
    sn=$(ratio "${MED[shim,$c]}" "${MED[native,$c]}")
    printf '  %5d conns: shim/epoll %5s (target >= 0.9: %s)   shim/native %5s (target >= 1.3: %s)\n' \
        "$c" "$se" "$(verdict "$se" 0.9 ge)" "$sn" "$(verdict "$sn" 1.3 ge)"
    ce=$(ratio "${CPUMED[shim,$c]}" "${CPUMED[epoll,$c]}")
    cn=$(ratio "${CPUMED[shim,$c]}" "${CPUMED[native,$c]}")
    printf '  %5d conns: server CPU per round trip shim/epoll %5s (target <= 1.05: %s)   shim/native %5s\n' \
        "$c" "$ce" "$(verdict "$ce" 1.05 le)" "$cn"
    if [ -n "$HAVE_SHIM2" ]; then
        printf '  %5d conns: shim2/shim round trips/s %5s   server CPU per round trip shim2/shim %5s   shim2/native %5s\n' \
            "$c" "$(ratio "${MED[shim2,$c]}" "${MED[shim,$c]}")" "$(ratio "${CPUMED[shim2,$c]}" "${CPUMED[shim,$c]}")" \
            "$(ratio "${MED[shim2,$c]}" "${MED[native,$c]}")"
    fi
    if [ -n "${BASE_LIB:-}" ]; then
        printf '  %5d conns: shim/base %5s (base: %s)\n' "$c" "$(ratio "${MED[shim,$c]}" "${MED[base,$c]}")" "$BASE_LIB"
    fi
done

echo
echo "== read() that needs no wait: $READS one-byte reads from a socketpair with data, $(where "$SRV_CPU"), $RUNS runs"
nat=()
shm=()
bas=()
for r in $(seq 1 "$RUNS"); do
    nat+=("$("${SRV_PIN[@]}" "$OUT/bench_read" "$READS" | sed -n 's/.*ns_per_read=//p')")
    shm+=("$("${SRV_PIN[@]}" env -u GREENSHIM_HUBS LD_PRELOAD="$LIB" "$OUT/bench_read" "$READS" | sed -n 's/.*ns_per_read=//p')")
    if [ -n "${BASE_LIB:-}" ]; then
        bas+=("$("${SRV_PIN[@]}" env -u GREENSHIM_HUBS LD_PRELOAD="$BASE_LIB" "$OUT/bench_read" "$READS" | sed -n 's/.*ns_per_read=//p')")
    fi
done
mn=$(median "${nat[@]}")
ms=$(median "${shm[@]}")
rr=$(ratio "$ms" "$mn")
printf '  native: runs %-24s median %7s ns/read\n' "${nat[*]}" "$mn"
printf '  shim:   runs %-24s median %7s ns/read\n' "${shm[*]}" "$ms"
printf '  shim/native %s (target <= 1.1: %s)\n' "$rr" "$(verdict "$rr" 1.1 le)"
if [ -n "${BASE_LIB:-}" ]; then
    mb=$(median "${bas[@]}")
    printf '  base:   runs %-24s median %7s ns/read   shim/base %s\n' "${bas[*]}" "$mb" "$(ratio "$ms" "$mb")"
fi
