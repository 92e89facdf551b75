#!/usr/bin/env bash
# Run all tests: build, the Rust tests of the whole workspace, then every scripts/t_*.sh.
# Each shell test exits non-zero on failure and is bounded by `timeout 300`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build --release"
cargo build --release
echo "== cargo test --release --workspace"
cargo test --release --workspace

shopt -s nullglob
tests=(scripts/t_*.sh)
passed=0
failed=0
failures=()
echo "== shell tests (${#tests[@]})"
for t in "${tests[@]}"; do
    start=$SECONDS
    set +e
    timeout -k 10 300 bash "$t" </dev/null
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
    exit 0
fi
echo "shell: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
    exit 1
fi
