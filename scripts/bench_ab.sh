#!/usr/bin/env bash
# A/B benchmark of two builds of the preload library (not a test): is a change free on the hot
# path? Runs each of the C micro-benchmarks RUNS times with OLD and NEW alternately (so drifting
# machine load hits both alike), pinned to one core, and prints the medians and NEW/OLD.
#
# Usage: scripts/bench_ab.sh OLD.so NEW.so [RUNS]   (RUNS default 7; CPU=1 picks the core)
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
