#!/usr/bin/env bash
# POSIX thread conformance, natively and under the shim: the Open POSIX Test Suite (LTP's
# testcases/open_posix_testsuite), conformance/interfaces/ for pthread_*, sem_*, sig*, sched_*,
# clock*, nanosleep, raise and kill. Each test runs alone with a time limit, first natively,
# then with LD_PRELOAD=$LIB; the table gives both results by the suite's exit codes (0 PASS,
# 1 FAIL, 2 UNRESOLVED, 4 UNSUPPORTED, 5 UNTESTED; HANG past the limit, SIG<name> when killed by
# a signal), then "native pass N, shim pass M of those, regressions: ...".
#
# Usage: POSIX_SUITE_DIR=DIR scripts/posix_suite.sh [FILTER]
#   FILTER          extended regex on the test name, e.g. pthread_kill, '^sig(action|wait)/',
#                   'pthread_cond_wait/2-1$' (default: every test of the families above)
# Environment:
#   POSIX_SUITE_DIR the suite's source: an open_posix_testsuite directory or an LTP tree holding
#                   testcases/open_posix_testsuite (required; this script never downloads it).
#                   From a checkout or bare mirror of LTP:
#                     git --git-dir=ltp/.git archive HEAD testcases/open_posix_testsuite | tar x -C DIR
#   LIB             the preload library (default target/release/libgreenshim.so, built if missing)
#   JOBS            tests run at a time (default 1: several tests measure timing or pin CPUs)
#   TIMEOUT         seconds per run (default 20)
#   RECHECK         1 (default): a test that passes natively and fails (not hangs) under the shim
#                   is run once more under the shim; if it passes then it is FLAKY, not a regression
#   POSIX_ALLOW_SETTIME  1 to let clock_settime tests set the machine's clock when run as root;
#                   by default every run loses CAP_SYS_TIME (setpriv), so they fail alike
# Builds are cached in target/posix-suite/bin (a test is rebuilt when its source is newer);
# a test that does not compile is skipped and counted. Logs of every run are kept in
# target/posix-suite/logs/<test>.{native,shim}. Exit status 1 when there is a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FILTER=${1:-}
JOBS=${JOBS:-1}
TIMEOUT=${TIMEOUT:-20}
RECHECK=${RECHECK:-1}
LIB=${LIB:-$ROOT/target/release/libgreenshim.so}
case "$LIB" in /*) ;; *) LIB=$ROOT/$LIB ;; esac

S=${POSIX_SUITE_DIR:-}
if [ -z "$S" ]; then
    echo "posix_suite: set POSIX_SUITE_DIR to the Open POSIX Test Suite (LTP's testcases/open_posix_testsuite)" >&2
    exit 2
fi
[ -d "$S/testcases/open_posix_testsuite" ] && S=$S/testcases/open_posix_testsuite
if [ ! -d "$S" ]; then
    echo "posix_suite: POSIX_SUITE_DIR=$S is not a directory" >&2
    exit 2
fi
S=$(cd "$S" && pwd)
if [ ! -d "$S/conformance/interfaces" ] || [ ! -f "$S/include/posixtest.h" ]; then
    echo "posix_suite: $S is not the Open POSIX Test Suite (no conformance/interfaces, include/posixtest.h)" >&2
    exit 2
fi
[ -f "$LIB" ] || cargo build --release >&2

OUT=$ROOT/target/posix-suite
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/work"

# The runner: the test in a session of its own, killed with its whole process group after
# TIMEOUT seconds (exit 124) and after it exits (no stray children); 128+N when killed by N.
cat >"$OUT/runner.c" <<'C'
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static volatile sig_atomic_t expired;
static void on_alarm(int s) { (void)s; expired = 1; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(atoi(argv[1]));
    int st = 0;
    for (;;) {
        if (waitpid(pid, &st, 0) == pid) break;
        if (expired) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            return 124;
        }
    }
    kill(-pid, SIGKILL);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}
C
if [ ! -x "$OUT/runner" ] || [ "$OUT/runner.c" -nt "$OUT/runner" ]; then
    gcc -O1 -o "$OUT/runner" "$OUT/runner.c"
fi

# The tests: conformance/interfaces/<iface>/[speculative/]N-M.c (the suite's own rule: a name
# ending in a digit, not -buildonly), for the families above. NN-M.sh files are placeholders
# ("tested implicitly") and are counted, not run.
cd "$S/conformance/interfaces"
FAMILIES=$(ls -d pthread_* sem_* sig* sched_* clock* nanosleep raise kill 2>/dev/null)
LIST=$(find $FAMILIES -name '*[0-9].c' ! -name '*buildonly*' | sed 's/\.c$//' | sort -V)
PLACEHOLDERS=$(find $FAMILIES -name '[0-9]*.sh' | sed 's/\.sh$//')
if [ -n "$FILTER" ]; then
    LIST=$(printf '%s\n' "$LIST" | grep -E -- "$FILTER" || true)
    PLACEHOLDERS=$(printf '%s\n' "$PLACEHOLDERS" | grep -E -- "$FILTER" || true)
fi
PLACEHOLDERS=$(printf '%s' "$PLACEHOLDERS" | grep -c . || true)
[ -n "$LIST" ] || { echo "posix_suite: no test matches '$FILTER'" >&2; exit 2; }
cd "$ROOT"

CFLAGS="-std=c99 -D_POSIX_C_SOURCE=200809L -D_XOPEN_SOURCE=700 -O2 -g -w -pthread"
export S OUT LIB TIMEOUT CFLAGS

build() {
    local t=$1 src="$S/conformance/interfaces/$1.c" bin="$OUT/bin/$1"
    local dir libs
    dir=$(dirname "$src")
    if [ -x "$bin" ] && [ "$bin" -nt "$src" ]; then return 0; fi
    if [ -f "$bin.fail" ] && [ "$bin.fail" -nt "$src" ]; then return 0; fi
    mkdir -p "$(dirname "$bin")"
    rm -f "$bin" "$bin.fail"
    libs=""
    [ -f "$dir/LDLIBS" ] && libs=$(grep -v '`' "$dir/LDLIBS" | tr '\n' ' ')
    # shellcheck disable=SC2086
    if ! gcc $CFLAGS -I"$S/include" -I"$dir" -o "$bin" "$src" "$S/lib/common.c" $libs -lrt \
            >"$bin.log" 2>&1; then
        mv "$bin.log" "$bin.fail"
    else
        rm -f "$bin.log"
    fi
}

SETPRIV=()
if [ "$(id -u)" = 0 ] && [ "${POSIX_ALLOW_SETTIME:-0}" != 1 ] && command -v setpriv >/dev/null; then
    SETPRIV=(setpriv --bounding-set -sys_time)
fi
export SETPRIV_STR="${SETPRIV[*]}"

# One run: prints the exit status. $2 is native or shim; the log goes to logs/<test>.<mode>.
run1() {
    local t=$1 mode=$2 slug w rc
    slug=${t//\//_}
    w="$OUT/work/$slug.$mode"
    rm -rf "$w"; mkdir -p "$w"
    set +e
    if [ "$mode" = native ]; then
        (cd "$w" && "$OUT/runner" "$TIMEOUT" $SETPRIV_STR env -u LD_PRELOAD "$OUT/bin/$t") \
            >"$OUT/logs/$slug.$mode" 2>&1 </dev/null
    else
        (cd "$w" && "$OUT/runner" "$TIMEOUT" $SETPRIV_STR env LD_PRELOAD="$LIB" "$OUT/bin/$t") \
            >"$OUT/logs/$slug.$mode" 2>&1 </dev/null
    fi
    rc=$?
    set -e
    rm -rf "$w"
    echo "$rc"
}

one() {
    local t=$1 n s
    if [ ! -x "$OUT/bin/$t" ]; then echo "$t skip skip"; return; fi
    n=$(run1 "$t" native)
    s=$(run1 "$t" shim)
    if [ "$n" = 0 ] && [ "$s" != 0 ] && [ "$s" != 124 ] && [ "$RECHECK" = 1 ]; then
        local s2
        s2=$(run1 "$t" shim)
        [ "$s2" = 0 ] && s="flaky:$s"
    fi
    echo "$t $n $s"
}
export -f build run1 one
export RECHECK

TOTAL=$(printf '%s\n' "$LIST" | wc -l)
echo "posix_suite: $TOTAL tests from $S; building (cache $OUT/bin)" >&2
printf '%s\n' "$LIST" | xargs -P "$JOBS" -I{} bash -c 'build "$@"' _ {}
SKIPPED=$(printf '%s\n' "$LIST" | while read -r t; do [ -x "$OUT/bin/$t" ] || echo "$t"; done)
NSKIP=$(printf '%s' "$SKIPPED" | grep -c . || true)
echo "posix_suite: $NSKIP did not build (logs: $OUT/bin/<test>.fail); running $((TOTAL - NSKIP)) tests, ${TIMEOUT}s limit, $JOBS at a time, library $LIB" >&2

RES="$OUT/results.txt"
printf '%s\n' "$LIST" | xargs -P "$JOBS" -I{} bash -c 'one "$@"' _ {} >"$RES.tmp"
sort -V "$RES.tmp" >"$RES"; rm -f "$RES.tmp"

name() {
    case "$1" in
    0) echo PASS ;; 1) echo FAIL ;; 2) echo UNRESOLVED ;; 4) echo UNSUPPORTED ;;
    5) echo UNTESTED ;; 124) echo HANG ;; skip) echo - ;;
    flaky:*) echo "FLAKY($(name "${1#flaky:}"))" ;;
    *) if [ "$1" -gt 128 ] 2>/dev/null; then
           echo "SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
       else echo "EXIT$1"; fi ;;
    esac
}

printf '%-52s %-13s %-13s\n' TEST NATIVE SHIM
NPASS=0; SPASS=0; REG=(); FLAKY=(); BETTER=(); RAN=0
while read -r t n s; do
    [ "$n" = skip ] && continue
    RAN=$((RAN + 1))
    mark=""
    if [ "$n" = 0 ]; then
        NPASS=$((NPASS + 1))
        if [ "$s" = 0 ]; then SPASS=$((SPASS + 1))
        elif [ "${s#flaky:}" != "$s" ]; then SPASS=$((SPASS + 1)); FLAKY+=("$t"); mark=" (flaky)"
        else REG+=("$t($(name "$s"))"); mark=" <== regression"; fi
    elif [ "$s" = 0 ]; then
        BETTER+=("$t")
    fi
    printf '%-52s %-13s %-13s%s\n' "$t" "$(name "$n")" "$(name "$s")" "$mark"
done <"$RES"
echo
echo "ran $RAN tests ($NSKIP did not build and were skipped; shell placeholder tests, NN-M.sh, not run: $PLACEHOLDERS)"
echo "native pass $NPASS, shim pass $SPASS of those, regressions (${#REG[@]}): ${REG[*]:-none}"
[ ${#FLAKY[@]} -eq 0 ] || echo "flaky under the shim (failed, then passed on a second run): ${FLAKY[*]}"
[ ${#BETTER[@]} -eq 0 ] || echo "pass under the shim only: ${BETTER[*]}"
[ ${#REG[@]} -eq 0 ]
