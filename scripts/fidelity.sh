#!/usr/bin/env bash
# The differential fuzzer over any number of seeds: each seed's transcript natively and under
# the shim must be equal (tests/c/fidelity_fuzz.c says what a transcript holds).
#
# Usage: scripts/fidelity.sh [FIRST_SEED] [COUNT] [NOPS]   (defaults 1 200 400)
# Environment: JOBS (parallel seeds, default 2), LIB (default target/release/libgreenshim.so,
# built if missing). Prints every divergence (seed, first differing line) and a closing line
# "fidelity: N passed, M failed"; exits non-zero on any failure. Each run is bounded (10 s).
# The shim run inherits the environment, GREENSHIM_* settings included: `GREENSHIM_HUBS=2
# scripts/fidelity.sh` compares native transcripts with runs on 2 hubs (the closing line names
# the setting). The native run ignores them (no library loaded).
set -euo pipefail
cd "$(dirname "$0")/.."

FIRST=${1:-1}
COUNT=${2:-200}
NOPS=${3:-400}
JOBS=${JOBS:-2}
LIB=${LIB:-$PWD/target/release/libgreenshim.so}
[ -f "$LIB" ] || cargo build --release >&2
OUT=target/fidelity
mkdir -p "$OUT"
gcc -O1 -Wall -o "$OUT/fidelity_fuzz" tests/c/fidelity_fuzz.c

one() {
    local s=$1 n sh s_rc
    n="$OUT/$s.native" sh="$OUT/$s.shim"
    timeout 10 "$OUT/fidelity_fuzz" "$s" "$NOPS" >"$n" 2>&1 || true
    set +e
    timeout 10 env LD_PRELOAD="$LIB" "$OUT/fidelity_fuzz" "$s" "$NOPS" >"$sh" 2>&1
    s_rc=$?
    set -e
    if cmp -s "$n" "$sh"; then
        rm -f "$n" "$sh"
        echo "ok $s"
    else
        local first
        first=$(diff "$n" "$sh" | sed -n '2p;4p' | tr '\n' ' ')
        [ "$s_rc" -eq 124 ] && first="$first(the shim run hung)"
        # a refused setting (e.g. GREENSHIM_HUBS) or a shim report: say so, not just the diff
        local gline
        gline=$(grep -m1 '^greenshim:' "$sh" || true)
        [ -n "$gline" ] && first="$first(exit status $s_rc; $gline)"
        echo "FAIL seed $s: $first (transcripts: $n $sh)"
    fi
}
export -f one
export OUT NOPS LIB

results=$(seq "$FIRST" $((FIRST + COUNT - 1)) | xargs -P "$JOBS" -I{} bash -c 'one {}')
grep '^FAIL' <<<"$results" || true
passed=$(grep -c '^ok' <<<"$results" || true)
failed=$(grep -c '^FAIL' <<<"$results" || true)
echo "fidelity: $passed passed, $failed failed (seeds $FIRST..$((FIRST + COUNT - 1)) x $NOPS ops${GREENSHIM_HUBS:+, GREENSHIM_HUBS=$GREENSHIM_HUBS})"
[ "$failed" -eq 0 ]
