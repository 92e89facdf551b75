#!/usr/bin/env bash
# Run all tests: build, the Rust tests of the whole workspace, then every scripts/t_*.sh.
# Each stage prints a line with its time; each shell test exits non-zero on failure and is
# bounded by `timeout 300`.
#
# Two cargo steps, and why the second compiles again: `cargo build --release` makes what the
# tests run (the launcher, libgreenshim.so: `cargo test` does not build a cdylib's release
# artifact); `cargo test` then compiles only test targets: the hub library's unit tests and one
# binary per tests/*.rs (nothing of the release build is rebuilt; the shim and the launcher have
# no unit tests and are not compiled again, see `test = false` in the manifests). Building the
# test targets is a stage of its own so that its time is not mistaken for the tests'.
#
# Usage: scripts/test.sh [--hubs N]
#   --hubs N: the whole suite in multi-hub mode. The cargo tests get GREENSHIM_TEST_HUBS=N
#   (tests/common/mod.rs: every command they run under the shim gets GREENSHIM_HUBS=N unless it
#   sets the hub count itself; `Threads:` checks expect N; the few single-hub-only tests print
#   "SKIPPED ... single-hub only" and pass); the shell tests get GREENSHIM_HUBS=N, which their
#   launcher passes to the server (their `Threads:` checks expect it). tests/multihub.rs runs
#   with 2 hubs whatever the option. Without it, nothing of the environment changes, and after
#   the cargo tests the differential ones (fuzzer, sync, threads, signals, cancellation, fds)
#   run once more on 2 hubs.
set -euo pipefail
cd "$(dirname "$0")/.."

HUBS=
while [ $# -gt 0 ]; do
    case "$1" in
    --hubs)
        [ $# -ge 2 ] || { echo "scripts/test.sh: --hubs needs a number" >&2; exit 2; }
        HUBS=$2
        shift 2
        ;;
    --hubs=*)
        HUBS=${1#--hubs=}
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "scripts/test.sh: unknown argument '$1' (usage: scripts/test.sh [--hubs N])" >&2
        exit 2
        ;;
    esac
done
if [ -n "$HUBS" ]; then
    case "$HUBS" in
    '' | *[!0-9]* | 0*) echo "scripts/test.sh: --hubs '$HUBS': expected a positive integer" >&2; exit 2 ;;
    esac
fi

T0=$SECONDS
# stage NAME CMD...: run CMD, then print "== NAME: ok|FAILED (Ns)".
stage() {
    local name=$1 start=$SECONDS rc=0
    shift
    echo "== $name ..."
    "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "== $name: ok ($((SECONDS - start))s)"
    else
        echo "== $name: FAILED with status $rc ($((SECONDS - start))s)"
        exit "$rc"
    fi
}

# cargo test's output, with the time since the start of the stage on each test binary's
# "Running" line (a long binary no longer looks like a hang); cargo's status is kept.
run_tests() {
    local start=$SECONDS
    # --no-fail-fast: one failing test binary must not hide the results of the others.
    cargo test --release --workspace --no-fail-fast 2>&1 | while IFS= read -r line; do
        case "$line" in
        *" Running "* | *"Doc-tests "*) printf '[%4ss] %s\n' "$((SECONDS - start))" "${line#"${line%%[![:space:]]*}"}" ;;
        *) printf '%s\n' "$line" ;;
        esac
    done
    return "${PIPESTATUS[0]}"
}

stage "cargo build --release" cargo build --release
stage "cargo test --release --workspace --no-run (compile the test targets)" cargo test --release --workspace --no-run --quiet
if [ -n "$HUBS" ]; then
    echo "== multi-hub mode: GREENSHIM_TEST_HUBS=$HUBS for the cargo tests, GREENSHIM_HUBS=$HUBS for the shell tests"
    # Only the tests' own commands get GREENSHIM_HUBS (from GREENSHIM_TEST_HUBS, which
    # tests/common/mod.rs never passes on). Unset again after: the library refuses unknown
    # GREENSHIM_* settings, so the shell tests' servers must not inherit it.
    export GREENSHIM_TEST_HUBS=$HUBS
    stage "cargo test --release --workspace --no-fail-fast (GREENSHIM_TEST_HUBS=$HUBS)" run_tests
    unset GREENSHIM_TEST_HUBS
else
    stage "cargo test --release --workspace --no-fail-fast" run_tests
    # The differential tests once more with every program on two hubs (the whole suite in that
    # mode is `--hubs 2`): the fuzzer, synchronisation, threads, signals, cancellation, fds.
    stage "differential tests on 2 hubs (GREENSHIM_TEST_HUBS=2)" env GREENSHIM_TEST_HUBS=2 \
        cargo test --release --quiet --test fidelity --test sync --test threads --test edges_sync \
        --test edges_fd --test edges_io --test posix_signal --test posix_cancel --test catchall --test poll
fi

shopt -s nullglob
tests=(scripts/t_*.sh)
passed=0
failed=0
failures=()
echo "== shell tests (${#tests[@]})${HUBS:+ with GREENSHIM_HUBS=$HUBS} ..."
start_all=$SECONDS
for t in "${tests[@]}"; do
    start=$SECONDS
    set +e
    if [ -n "$HUBS" ]; then
        timeout -k 10 300 env GREENSHIM_HUBS="$HUBS" bash "$t" </dev/null
    else
        timeout -k 10 300 bash "$t" </dev/null
    fi
    rc=$?
    set -e
    took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        echo "PASS $t (${took}s)"
        passed=$((passed + 1))
    else
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "FAIL $t (timed out after 300s)"
        else
            echo "FAIL $t (exit status $rc, ${took}s)"
        fi
        failed=$((failed + 1))
        failures+=("$t")
    fi
done

if [ "${#tests[@]}" -eq 0 ]; then
    echo "no shell tests (scripts/t_*.sh) yet"
    echo "== all done in $((SECONDS - T0))s"
    exit 0
fi
echo "== shell tests: $passed passed, $failed failed ($((SECONDS - start_all))s)"
echo "== all done in $((SECONDS - T0))s"
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
    exit 1
fi
