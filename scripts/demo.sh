#!/usr/bin/env bash
# The main job: build greenshim and show it running programs' threads as greenlets.
# Each step prints its wall time; the C demo also prints how many OS threads the process had.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build --release"
cargo build --release
GS=target/release/greenshim
[ -x "$GS" ] || { echo "demo: $GS was not built" >&2; exit 1; }
[ -f target/release/libgreenshim.so ] || { echo "demo: target/release/libgreenshim.so was not built" >&2; exit 1; }

# Wall time of a command in milliseconds (bash's microsecond clock), output passed through.
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
timed() {
    local t0 t1 rc=0
    t0=$(now_us)
    "$@" || rc=$?
    t1=$(now_us)
    echo "   wall time: $(( (t1 - t0) / 1000 )) ms, exit status $rc"
    return "$rc"
}

echo
echo "== 1. a shell script with three background sleeps, under the launcher"
echo "   $GS -- bash -c 'for i in 1 2 3; do sleep 0.2 & done; wait; echo demo ok'"
timed "$GS" -- bash -c 'for i in 1 2 3; do sleep 0.2 & done; wait; echo demo ok'

echo
SRC=tests/c/sleepers.c
if [ ! -f "$SRC" ]; then
    echo "== 2. skipped: $SRC does not exist"
elif ! command -v gcc >/dev/null 2>&1; then
    echo "== 2. skipped: gcc is not installed (apt-get install gcc libc6-dev)"
else
    N=${DEMO_THREADS:-10000}
    mkdir -p target/demo
    gcc -O2 -pthread -o target/demo/sleepers "$SRC"
    echo "== 2. $N pthreads that each sleep 1 s (sleep, usleep, nanosleep, clock_nanosleep)"
    echo "   natively: one OS thread per pthread"
    timed target/demo/sleepers "$N"
    echo "   under greenshim: all of them greenlets on one OS thread"
    timed "$GS" -- target/demo/sleepers "$N"
    echo "   (threads_while_sleeping is the process's 'Threads:' count from /proc/self/status)"
fi
echo
echo "demo finished"
