#!/usr/bin/env bash
# MariaDB under sysbench oltp_read_write, natively and under greenshim (issue 11).
#
#   scripts/bench_mariadb.sh [native|shim|both]     (default both)
#
# For each mode: a private datadir and tmpdir (mariadb-install-db), mariadbd with default
# settings on a free 127.0.0.1 port, `sysbench oltp_read_write prepare` (TABLES x TABLE_SIZE
# rows), `run` with THREADS for TIME seconds, then each table's COUNT(*) against TABLE_SIZE,
# sysbench's errors line, the server's `Threads:` from /proc/PID/status while it serves and its
# CPU time during the run (as a share of one core).
# Environment: THREADS (50), TIME (30), TABLES (4), TABLE_SIZE (10000), SHIM_OPTS
# (extra launcher options, e.g. "-c"), KEEP=1 keeps the work directory, MARIADBD
# (/usr/sbin/mariadbd), MYSQLD_OPTS (extra server options), WRAP (a command put in front, e.g.
# "strace -f -o /tmp/st"; the pid file still names the server), PIN=1 (see below).
# Prints one line per mode: `mode tps=... errors=... innodb_deadlocks=... counts=ok|BAD threads=N
# server_cpu=N% sysbench_rc=N server_exit=N` (the server is shut down with SHUTDOWN).
# sysbench's "ignored errors" are deadlocks InnoDB reports and sysbench retries (natively too).
set -u
cd "$(dirname "$0")/.."
MODES=${1:-both}
THREADS=${THREADS:-50}
TIME=${TIME:-30}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
MARIADBD=${MARIADBD:-/usr/sbin/mariadbd}
LAUNCHER=$PWD/target/release/greenshim
# PIN=1: the server on CPU 0 and sysbench on CPU 1 (taskset), natively as under greenshim: one
# core each, so the client's threads do not preempt the server's one OS thread.
PIN_SERVER= PIN_CLIENT=
if [ "${PIN:-0}" = 1 ]; then PIN_SERVER="taskset -c 0"; PIN_CLIENT="taskset -c 1"; fi
for t in "$MARIADBD" mariadb-install-db sysbench mariadb; do
    command -v "$t" >/dev/null || { echo "bench_mariadb: $t not found" >&2; exit 77; }
done
[ "$MODES" = native ] || [ -x "$LAUNCHER" ] || { echo "bench_mariadb: build first (cargo build --release)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/greenshim-mariadb.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        # The launcher's child is the server; a hung one ignores SIGTERM, so both get SIGKILL.
        local child
        child=$(pgrep -P "$SERVER_PID")
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        [ -n "$child" ] && kill -KILL $child 2>/dev/null
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    [ "${KEEP:-0}" = 1 ] && echo "work directory kept: $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_mode() {
    local mode=$1 dir=$WORK/$1 port
    mkdir -p "$dir/tmp"
    port=$(free_port)
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
        --auth-root-authentication-method=normal >"$dir/install.log" 2>&1 \
        || { echo "$mode: mariadb-install-db failed, see $dir/install.log" >&2; return 1; }
    local cmd=("$MARIADBD" --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port"
        --bind-address=127.0.0.1 --tmpdir="$dir/tmp" --pid-file="$dir/pid" --user="$(id -un)"
        --log-error="$dir/error.log" ${MYSQLD_OPTS:-})
    if [ "$mode" = shim ]; then
        # shellcheck disable=SC2086
        ${WRAP:-} $PIN_SERVER "$LAUNCHER" ${SHIM_OPTS:-} -- "${cmd[@]}" >"$dir/server.out" 2>&1 &
    else
        ${WRAP:-} $PIN_SERVER "${cmd[@]}" >"$dir/server.out" 2>&1 &
    fi
    SERVER_PID=$!
    local cli=(mariadb --protocol=tcp -h127.0.0.1 -P"$port" -uroot)
    for _ in $(seq 300); do
        "${cli[@]}" -e 'select 1' >/dev/null 2>&1 && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    "${cli[@]}" -e 'CREATE DATABASE sbtest' || { echo "$mode: server did not come up, see $dir" >&2; return 1; }
    # The launcher execs nothing: its child is the server. Find the mariadbd process.
    local mpid
    mpid=$(cat "$dir/pid" 2>/dev/null)
    local sb=(sysbench oltp_read_write --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=root
        --tables="$TABLES" --table-size="$TABLE_SIZE")
    "${sb[@]}" prepare >"$dir/prepare.log" 2>&1 || { echo "$mode: prepare failed, see $dir/prepare.log" >&2; return 1; }
    local cpu0 cpu1
    cpu0=$(cpu_ticks "$mpid")
    $PIN_CLIENT "${sb[@]}" --threads="$THREADS" --time="$TIME" --report-interval=5 run >"$dir/run.log" 2>&1 &
    local sbpid=$!
    sleep $(( TIME / 2 ))
    local nthreads
    nthreads=$(awk '/^Threads:/{print $2}' "/proc/$mpid/status" 2>/dev/null)
    wait "$sbpid"
    local rc=$?
    cpu1=$(cpu_ticks "$mpid")
    local tps errors counts=ok
    tps=$(awk '/transactions:/{gsub(/[(]/,"",$3); print $3}' "$dir/run.log")
    errors=$(awk '/ignored errors:/{print $3}' "$dir/run.log")
    for i in $(seq "$TABLES"); do
        local n
        n=$("${cli[@]}" -N -e "SELECT COUNT(*) FROM sbtest.sbtest$i" 2>/dev/null)
        [ "$n" = "$TABLE_SIZE" ] || { counts=BAD; echo "$mode: sbtest$i has ${n:-?} rows" >&2; }
    done
    # sysbench ignores (and counts) the deadlocks InnoDB detects and reports (error 1213).
    local deadlocks
    deadlocks=$("${cli[@]}" -N -e "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'" 2>/dev/null | awk '{print $2}')
    # The server's CPU time during the run, as a share of one core.
    local cpu
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$TIME" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%d%%", (b-a)/hz/t*100}')
    [ "$rc" = 0 ] || tail -20 "$dir/run.log" >&2
    "${cli[@]}" -e 'SHUTDOWN' >/dev/null 2>&1 || kill -TERM "$SERVER_PID"
    for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    local status=$?
    SERVER_PID=
    echo "$mode tps=${tps:-?} errors=${errors:-?} innodb_deadlocks=${deadlocks:-?} counts=$counts threads=${nthreads:-?} server_cpu=$cpu sysbench_rc=$rc server_exit=$status"
}

case $MODES in
    native) run_mode native ;;
    shim) run_mode shim ;;
    both) run_mode native; run_mode shim ;;
    *) echo "usage: $0 [native|shim|both]" >&2; exit 2 ;;
esac
