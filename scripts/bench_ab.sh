#!/usr/bin/env bash
# A/B benchmark of two builds of the preload library (not a test): is a change free on the hot
# path? Runs each of the C micro-benchmarks RUNS times with OLD and NEW alternately (so drifting
# machine load hits both alike), pinned to one core, and prints the medians and NEW/OLD.
#
# Usage: scripts/bench_ab.sh OLD.so NEW.so [RUNS]   (RUNS default 7; CPU=1 picks the core)
#        IR=1 scripts/bench_ab.sh OLD.so NEW.so   instructions per operation instead, counted by
#        valgrind's callgrind (deterministic: immune to the load of a shared machine; the
#        difference of a run of N and one of N/100, divided; GREENSHIM_CATCH=exports, which
#        valgrind needs)
#   e.g. cp target/release/libgreenshim.so /tmp/old.so; <change>; cargo build --release;
#        scripts/bench_ab.sh /tmp/old.so target/release/libgreenshim.so
#
#   create+join   bench_create_join    pthread_create + pthread_join, ns per pair
#   yield         bench_yield          sched_yield ping-pong, ns per switch
#   cond handoff  bench_sync_pingpong  mutex + condvar handoff, ns per handoff (park + switch)
#   mutex         bench_sync_mutex     uncontended lock + unlock, ns per pair (two hooks)
#   read          bench_read           read() of a pipe that parks, ns per read
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/bench_ab.sh OLD.so NEW.so [RUNS]" >&2; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
RUNS=${3:-7}
CPU=${CPU:-1}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$CPU")
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

# ir LIB BIN N: instructions executed by BIN N under LIB
ir() {
    GREENSHIM_CATCH=exports GREENSHIM_LIVE=0 valgrind --trace-children=yes --tool=callgrind --callgrind-out-file=/dev/null \
        env LD_PRELOAD="$1" "$2" "$3" 2>&1 | sed -n 's/.*Collected : //p' | tail -1
}
if [ "${IR:-0}" = 1 ]; then
    command -v valgrind >/dev/null || { echo "IR=1 needs valgrind" >&2; exit 2; }
    echo "instructions per operation (callgrind); OLD=$OLD NEW=$NEW"
    printf '%-14s %10s %10s %8s\n' bench OLD NEW NEW/OLD
    for spec in "create+join bench_create_join 20000" "yield bench_yield 50000" "cond-handoff bench_sync_pingpong 50000" \
                "mutex bench_sync_mutex 100000" "read bench_read 20000"; do
        read -r label bin n <<<"$spec"
        cc -O2 -pthread -o "$OUT/$bin" "tests/c/$bin.c"
        per() { local a b; a=$(ir "$1" "$OUT/$bin" $((n / 100))); b=$(ir "$1" "$OUT/$bin" "$n"); awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / (n - n / 100) }'; }
        o=$(per "$OLD"); w=$(per "$NEW")
        printf '%-14s %10s %10s %8s\n' "$label" "$o" "$w" "$(awk -v a="$w" -v b="$o" 'BEGIN { printf "%.3f", a / b }')"
    done
    exit 0
fi

echo "runs: $RUNS each, alternating; core $CPU of $(nproc); OLD=$OLD NEW=$NEW"
printf '%-14s %10s %10s %8s\n' bench "OLD med" "NEW med" NEW/OLD
for spec in "create+join bench_create_join ns_per_pair 1000000" "yield bench_yield ns_per_switch 5000000" \
            "cond-handoff bench_sync_pingpong ns_per_handoff" "mutex bench_sync_mutex ns_per_pair" \
            "read bench_read ns_per_read"; do
    read -r label bin key n <<<"$spec"
    cc -O2 -pthread -o "$OUT/$bin" "tests/c/$bin.c"
    old=() new=()
    for ((r = 0; r < RUNS; r++)); do
        for which in OLD NEW; do
            lib=$OLD; [ "$which" = NEW ] && lib=$NEW
            v=$(LD_PRELOAD=$lib timeout 120 "${PIN[@]}" "$OUT/$bin" ${n:+"$n"} | sed -n "s/.*\b$key=\([0-9.]*\).*/\1/p" | tail -1)
            if [ "$which" = OLD ]; then old+=("$v"); else new+=("$v"); fi
        done
    done
    mo=$(median "${old[@]}"); mn=$(median "${new[@]}")
    printf '%-14s %10s %10s %8s\n' "$label" "$mo" "$mn" "$(awk -v a="$mn" -v b="$mo" 'BEGIN { printf "%.3f", a / b }')"
done
