#!/usr/bin/env bash
# Cost of a system call caught inside libc (syscall user dispatch, issue 11): tests/c/bench_trap.c
# natively, under the shim with GREENSHIM_CATCH=all (default) and with GREENSHIM_CATCH=exports
# (nothing trapped), medians of RUNS runs, pinned to one core. fopen+fclose of /dev/null makes
# two trapped calls (openat, close); getppid one.
# Usage: scripts/bench_trap.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release >&2
LIB=$PWD/target/release/libgreenshim.so
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -o "$OUT/bench_trap" tests/c/bench_trap.c
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c 0); fi
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
declare -A F G
for mode in native all exports; do
    fs=(); gs=()
    for _ in $(seq "$RUNS"); do
        case $mode in
            native) line=$("${PIN[@]}" "$OUT/bench_trap") ;;
            *) line=$(GREENSHIM_CATCH=$mode LD_PRELOAD=$LIB "${PIN[@]}" "$OUT/bench_trap") ;;
        esac
        fs+=("$(sed -n 's/.*fopen_fclose_ns=\([0-9.]*\).*/\1/p' <<<"$line")")
        gs+=("$(sed -n 's/.*getppid_ns=\([0-9.]*\).*/\1/p' <<<"$line")")
    done
    F[$mode]=$(median "${fs[@]}"); G[$mode]=$(median "${gs[@]}")
done
echo "runs: $RUNS (median); machine: $(nproc) CPU(s), $(uname -r)"
printf '%-26s %10s %14s %16s %s\n' call native "shim (catch)" "shim (exports)" "added per trapped call"
awk -v n="${F[native]}" -v a="${F[all]}" -v e="${F[exports]}" 'BEGIN {printf "%-26s %8.0f ns %11.0f ns %13.0f ns %8.0f ns\n", "fopen+fclose (2 traps)", n, a, e, (a-n)/2}'
awk -v n="${G[native]}" -v a="${G[all]}" -v e="${G[exports]}" 'BEGIN {printf "%-26s %8.0f ns %11.0f ns %13.0f ns %8.0f ns\n", "getppid (1 trap)", n, a, e, a-n}'
