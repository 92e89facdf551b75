#!/usr/bin/env bash
# Real servers under the launcher, on one OS thread (N with GREENSHIM_HUBS=N in the environment,
# which the launcher passes on: one per hub; scripts/test.sh --hubs N):
#  - redis-server (its jemalloc starts a background thread with a pthread_create found through
#    dlsym(RTLD_NEXT): it must become a greenlet too), driven by redis-benchmark;
#  - memcached (libevent worker threads, mutexes, condvars, pipes), 200 concurrent clients.
# .ci/run installs redis-server and memcached; outside CI a missing server is skipped.
# Each server and its launcher are killed by PID at the end (the script runs under timeout 300).
set -euo pipefail
cd "$(dirname "$0")/.."
GS=target/release/greenshim
HUBS=${GREENSHIM_HUBS:-1}
tmp=$(mktemp -d)
pids=()
cleanup() {
    # bash reports a background job that dies by a signal as "line N: PID Killed COMMAND" on
    # stderr (reaped in its SIGCHLD handler, reported at the next command: no redirection of
    # the kill or of `wait` hides it), which reads like a failure in the log of a passing test.
    # Forget the jobs first: then nothing is reported. Nothing needs their exit status, and
    # removing $tmp does not need them gone (init reaps them once this script exits).
    disown -a 2>/dev/null || true
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL t_real_servers: $*"; exit 1; }
have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    [ "${CI:-}" = true ] && fail "$1 is not installed (.ci/run installs it)"
    echo "SKIP: $1 not installed"
    return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The server is the launcher's child.
child_of() { cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}'; }
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

if have redis-server && have redis-benchmark; then
    port=$(free_port)
    "$GS" -- redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --jemalloc-bg-thread yes >"$tmp/redis.log" 2>&1 &
    pids+=($!)
    wait_port "$port" || fail "redis-server did not listen: $(tail -5 "$tmp/redis.log")"
    srv=$(child_of "${pids[-1]}")
    pids+=("$srv")
    out=$(timeout 60 redis-benchmark -p "$port" -n 20000 -c 50 -q -t set,get,incr,lpush,lpop 2>&1 | tr '\r' '\n' | grep 'requests per second' || true)
    [ "$(echo "$out" | grep -c 'requests per second')" = 5 ] || fail "redis-benchmark: $out $(grep -A3 crashed "$tmp/redis.log" || true)"
    t=$(threads_of "$srv")
    [ "$t" = "$HUBS" ] || fail "redis-server runs $t OS threads, want $HUBS (one per hub)"
    [ "$(timeout 10 redis-cli -p "$port" ping)" = PONG ] || fail "redis-cli ping"
    echo "redis-server under greenshim: $HUBS OS thread(s), $(echo "$out" | awk '{printf "%s %s rps; ", $1, $2}')"
fi

if have memcached; then
    port=$(free_port)
    "$GS" -- memcached -u nobody -p "$port" -U 0 -l 127.0.0.1 -t 4 >"$tmp/mc.log" 2>&1 &
    pids+=($!)
    wait_port "$port" || fail "memcached did not listen: $(cat "$tmp/mc.log")"
    srv=$(child_of "${pids[-1]}")
    pids+=("$srv")
    res=$(timeout 60 python3 tests/py/memcached_clients.py "$port" 2>&1 | tail -1)
    [ "$res" = "memcached clients ok 200" ] || fail "memcached: $res"
    t=$(threads_of "$srv")
    [ "$t" = "$HUBS" ] || fail "memcached runs $t OS threads, want $HUBS (one per hub)"
    echo "memcached under greenshim: $HUBS OS thread(s), 200 clients x 50 set/get checked"
fi
echo "PASS t_real_servers"
