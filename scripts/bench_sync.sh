#!/usr/bin/env bash
# Synchronisation benchmark (issue 4; not a test): medians of 5 runs, native vs under the shim.
#  1. uncontended pthread_mutex_lock + pthread_mutex_unlock, ns per pair (target: shim <= 1.5x native)
#  2. mutex + condvar ping-pong handoff between two threads, ns per handoff; native pinned to one
#     core with `taskset -c 0` (target: shim <= 100 ns)
# Usage: scripts/bench_sync.sh [RUNS]   (default 5). BASE_LIB=path/to/another/libgreenshim.so also
# measures that build in the same run (shim/base ratio, for regressions).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}

cargo build --release >&2
LIB=$PWD/target/release/libgreenshim.so
[ -f "$LIB" ] || { echo "bench_sync: $LIB was not built" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for b in bench_sync_mutex bench_sync_pingpong; do
    cc -O2 -pthread -o "$OUT/$b" "tests/c/$b.c"
done
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c 0); fi

# median VALUES... (numeric)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
# run KEY CMD...: print the value of KEY= from the command's output
value() { local key=$1; shift; "$@" | sed -n "s/^$key=//p"; }

echo "runs: $RUNS (median); machine: $(nproc) CPU(s), $(uname -r)"
echo

declare -a nat shim base
for _ in $(seq "$RUNS"); do
    nat+=("$(value ns_per_pair "${PIN[@]}" "$OUT/bench_sync_mutex" 20000000)")
    shim+=("$(value ns_per_pair env LD_PRELOAD="$LIB" "${PIN[@]}" "$OUT/bench_sync_mutex" 20000000)")
    if [ -n "${BASE_LIB:-}" ]; then
        base+=("$(value ns_per_pair env LD_PRELOAD="$BASE_LIB" "${PIN[@]}" "$OUT/bench_sync_mutex" 20000000)")
    fi
done
mn=$(median "${nat[@]}"); ms=$(median "${shim[@]}")
echo "uncontended mutex lock+unlock (ns per pair)"
echo "  native: ${nat[*]}  -> median $mn"
echo "  shim:   ${shim[*]}  -> median $ms"
echo "  ratio shim/native: $(awk -v a="$ms" -v b="$mn" 'BEGIN {printf "%.2fx", a / b}') (target <= 1.50x)"
if [ -n "${BASE_LIB:-}" ]; then
    mb=$(median "${base[@]}")
    echo "  base:   ${base[*]}  -> median $mb ($BASE_LIB); shim/base $(awk -v a="$ms" -v b="$mb" 'BEGIN {printf "%.2fx", a / b}')"
fi
echo

nat=(); shim=()
for _ in $(seq "$RUNS"); do
    nat+=("$(value ns_per_handoff "${PIN[@]}" "$OUT/bench_sync_pingpong" 100000)")
    shim+=("$(value ns_per_handoff env LD_PRELOAD="$LIB" "${PIN[@]}" "$OUT/bench_sync_pingpong" 2000000)")
done
pn=$(median "${nat[@]}"); ps=$(median "${shim[@]}")
echo "mutex + condvar ping-pong between two threads (ns per handoff)"
echo "  native (taskset -c 0): ${nat[*]}  -> median $pn"
echo "  shim:                  ${shim[*]}  -> median $ps"
echo "  ratio native/shim: $(awk -v a="$pn" -v b="$ps" 'BEGIN {printf "%.1fx", a / b}') faster under the shim; target shim <= 100 ns: $(awk -v s="$ps" 'BEGIN {print (s <= 100) ? "met" : "NOT met"}')"
