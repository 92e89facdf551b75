#!/usr/bin/env bash
# Benchmark thread creation and switching, natively and under the preload library.
# Not a test: run by hand, from anywhere:   scripts/bench_threads.sh
#
#   create+join  tests/c/bench_create_join.c  pthread_create of an empty thread + pthread_join
#                                             (ns per pair; target under the shim: <= 1000 ns)
#   yield ping   tests/c/bench_yield.c        two threads taking turns with sched_yield
#                                             (ns per switch = total/(2N); target: <= 100 ns)
#   alive        tests/c/bench_alive.c        AL_N threads alive at once: create them all, each
#                                             blocks until all have started (ns per thread, every
#                                             stack fresh; target under the shim: <= 1000 ns).
#                                             Native and shim runs alternate; also prints the
#                                             machine's cost of faulting in one fresh page, the
#                                             floor of any thread that needs a new stack page.
#
# Each benchmark runs RUNS times natively and RUNS times with LD_PRELOAD=libgreenshim.so, all
# pinned to one core (taskset -c 0: natively both yield threads then share that core, so each
# sched_yield is a real switch). Prints every run, the medians and the ratio native/shim.
#
# Environment (defaults in brackets): RUNS [5], CPU [0], CJ_N_NATIVE [20000],
# CJ_N_SHIM [1000000], Y_N_NATIVE [200000], Y_N_SHIM [5000000], AL_N [10000].
# Iteration counts differ per mode so that each run lasts a fraction of a second to a second.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
CPU=${CPU:-0}
CJ_N_NATIVE=${CJ_N_NATIVE:-20000}
CJ_N_SHIM=${CJ_N_SHIM:-1000000}
Y_N_NATIVE=${Y_N_NATIVE:-200000}
Y_N_SHIM=${Y_N_SHIM:-5000000}
AL_N=${AL_N:-10000}

echo "== cargo build --release"
cargo build --release --quiet
LIB=$PWD/target/release/libgreenshim.so
[ -f "$LIB" ] || { echo "no $LIB after the build" >&2; exit 1; }

OUT=target/bench
mkdir -p "$OUT"
CC=${CC:-cc}
for b in bench_create_join bench_yield bench_alive; do
    "$CC" -O2 -pthread -o "$OUT/$b" "tests/c/$b.c"
done

PIN=()
if command -v taskset >/dev/null 2>&1; then
    PIN=(taskset -c "$CPU")
else
    echo "warning: taskset not found, runs are NOT pinned to one core" >&2
fi

# value KEY LINE: the number after KEY= in LINE
value() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# median of the arguments (odd count: the middle one; even: the mean of the two middle ones)
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench NAME KEY MODE N: RUNS runs of target/bench/NAME N; prints each run, sets MED
bench() {
    local name=$1 key=$2 mode=$3 n=$4 vals=() line
    local env=()
    [ "$mode" = shim ] && env=(env "LD_PRELOAD=$LIB")
    for ((r = 1; r <= RUNS; r++)); do
        if ! line=$(timeout 120 "${PIN[@]}" "${env[@]}" "$OUT/$name" "$n"); then
            echo "$name ($mode) failed: $line" >&2
            exit 1
        fi
        vals+=("$(value "$key" "$line")")
    done
    MED=$(median "${vals[@]}")
    printf '  %-6s n=%-8s runs: %s\n' "$mode" "$n" "${vals[*]}"
}

report() {
    local what=$1 native=$2 shim=$3 target=$4
    local ratio verdict
    ratio=$(awk -v a="$native" -v b="$shim" 'BEGIN { printf "%.1f", a / b }')
    verdict=$(awk -v s="$shim" -v t="$target" 'BEGIN { print (s <= t) ? "met" : "MISSED" }')
    printf '  median: native %s ns, shim %s ns, native/shim = %sx (target <= %s ns under the shim: %s)\n' \
        "$native" "$shim" "$ratio" "$target" "$verdict"
    SUMMARY+=("$(printf '%-13s native %10s ns   shim %8s ns   native/shim %8sx   target <= %4s ns: %s' \
        "$what" "$native" "$shim" "$ratio" "$target" "$verdict")")
}

SUMMARY=()
echo "== create+join (ns per pthread_create + pthread_join pair), ${PIN[*]:-unpinned}, $RUNS runs"
bench bench_create_join ns_per_pair native "$CJ_N_NATIVE"; cj_native=$MED
bench bench_create_join ns_per_pair shim "$CJ_N_SHIM"; cj_shim=$MED
report "create+join" "$cj_native" "$cj_shim" 1000

echo "== sched_yield ping-pong (ns per switch), ${PIN[*]:-unpinned}, $RUNS runs"
bench bench_yield ns_per_switch native "$Y_N_NATIVE"; y_native=$MED
bench bench_yield ns_per_switch shim "$Y_N_SHIM"; y_shim=$MED
report "yield switch" "$y_native" "$y_shim" 100

echo "== $AL_N threads alive at once (ns per thread, fresh stacks), ${PIN[*]:-unpinned}, $RUNS runs, alternating"
al_nat=() al_shim=() al_page=() al_line=
for ((r = 1; r <= RUNS; r++)); do
    for mode in native shim; do
        env=()
        [ "$mode" = shim ] && env=(env "LD_PRELOAD=$LIB")
        if ! al_line=$(timeout 300 "${PIN[@]}" "${env[@]}" "$OUT/bench_alive" "$AL_N"); then
            echo "bench_alive ($mode) failed: $al_line" >&2
            exit 1
        fi
        v=$(value ns_per_thread "$al_line")
        if [ "$mode" = native ]; then al_nat+=("$v"); else al_shim+=("$v"); fi
        al_page+=("$(value page_ns "$al_line")")
    done
done
printf '  native runs: %s\n  shim   runs: %s\n' "${al_nat[*]}" "${al_shim[*]}"
al_pg=$(median "${al_page[@]}")
printf '  one fresh page costs %s ns on this machine (median of every run)\n' "$al_pg"
report "$AL_N alive" "$(median "${al_nat[@]}")" "$(median "${al_shim[@]}")" 1000

echo "== summary (medians of $RUNS runs)"
printf '  %s\n' "${SUMMARY[@]}"
