#!/usr/bin/env bash
# greenshim --trace on a thread-per-connection echo server driven by three `nc -N` clients:
# the replies are the payloads, and the trace file has accept/read/write lines for three
# distinct greenlets (each reading and writing the fd its accept returned, as many bytes as its
# client sent), each spawned by g1 and exited with 0x0. Prints PASS or FAIL; exit status 0/1.
# GREENSHIM_HUBS=N in the environment (scripts/test.sh --hubs N) reaches the server through the
# launcher. The check does not rely on the order of lines across greenlets (with several hubs a
# connection's greenlet may log before g1 logs its next accept): each of the three greenlets must
# use one fd, one that an accept of g1 returned (numbers are reused: the clients may be served
# one after another).
#
# Needs `cargo build --release` (run from anywhere; uses target/release of this checkout), cc, nc.
set -euo pipefail
cd "$(dirname "$0")/.."

GREENSHIM=target/release/greenshim
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_trace_nc.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL t_trace_nc: $*"
    for f in "$tmp"/server.out "$tmp"/server.err "$tmp"/trace; do
        [ -f "$f" ] && { echo "--- $f"; head -c 6000 "$f"; }
    done
    exit 1
}

[ -x "$GREENSHIM" ] || fail "$GREENSHIM not built (cargo build --release)"
command -v nc >/dev/null || fail "nc not found"

cc -O2 -pthread -o "$tmp/echo_tpc" tests/c/echo_tpc.c || fail "cannot compile echo_tpc"

# -n 4: the 4th connection (after the three traced ones) makes the server exit 0.
timeout 20 "$GREENSHIM" --trace -o "$tmp/trace" -- "$tmp/echo_tpc" -n 4 -q \
    >"$tmp/server.out" 2>"$tmp/server.err" &
server=$!
pids+=("$server")

port=
for _ in $(seq 100); do
    port=$(sed -n 's/^port=//p' "$tmp/server.out" 2>/dev/null || true)  # the background job may not have opened it yet
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || fail "server printed no port=N"

# Three clients connected at once, with different payload sizes.
sizes=(100 2000 6000)
for k in 0 1 2; do
    awk -v k="$k" -v n="${sizes[$k]}" 'BEGIN { s = ""; i = 0;
        while (length(s) < n) { s = s sprintf("client%d:%05d\n", k, i++) }
        printf "%s", substr(s, 1, n) }' >"$tmp/payload$k"
    timeout 10 nc -N 127.0.0.1 "$port" <"$tmp/payload$k" >"$tmp/reply$k" &
    pids+=($!)
done
for k in 0 1 2; do
    wait "${pids[$((k + 1))]}" || fail "client $k failed"
    cmp -s "$tmp/payload$k" "$tmp/reply$k" || fail "client $k: reply differs from payload"
done
printf 'bye\n' | timeout 10 nc -N 127.0.0.1 "$port" >"$tmp/reply3" || fail "4th client failed"
[ "$(cat "$tmp/reply3")" = bye ] || fail "4th client: wrong reply"
wait "$server" || fail "server exit status $?"

# Check the trace: each of the first three greenlets spawned by g1 serves one fd, one that an
# accept of g1 returned, and echoes one client's payload.
awk -v s0="${sizes[0]}" -v s1="${sizes[1]}" -v s2="${sizes[2]}" '
    function ret(line,   p) { p = match(line, /\) = -?[0-9]+/); if (!p) return ""; return substr(line, RSTART + 4, RLENGTH - 4) + 0 }
    function arg0(line,   p) { p = index(line, "("); return substr(line, p + 1) + 0 }
    !/^\[g[0-9]+[] ]/ { print "malformed line: " $0; bad = 1; next }
    { g = substr($1, 3) + 0 }
    /^\[g1[] ]/ && / accept\(/ { r = ret($0); if (r >= 0) acc[r] = 1; next }
    / \+\+\+ spawned by g1 \+\+\+$/ { n++; gl[n] = g; spawned[g] = 1; next }
    / \+\+\+ exited with 0x0 \+\+\+$/ { exited[g] = 1; next }
    (/ read\(/ || / write\(/) && g != 1 {
        f = arg0(substr($0, index($0, "] ") + 2))
        if (!(g in fd)) fd[g] = f
        else if (f != fd[g]) { print "g" g " uses fd " f " and fd " fd[g]; bad = 1 }
        if (/ read\(/) { rd[g] += ret($0); nr[g]++ } else { wr[g] += ret($0); nw[g]++ }
    }
    END {
        if (n < 3) { print "only " n " greenlets spawned by g1"; exit 1 }
        want[s0] = 1; want[s1] = 1; want[s2] = 1
        for (k = 1; k <= 3; k++) {
            g = gl[k]
            if (!nr[g] || !nw[g]) { print "g" g ": no read or write lines"; bad = 1 }
            if (rd[g] != wr[g] || !(rd[g] in want)) { print "g" g ": read " rd[g] " wrote " wr[g] " bytes"; bad = 1 }
            delete want[rd[g]]
            if (!exited[g]) { print "g" g ": no exited with 0x0 line"; bad = 1 }
            if (!((g in fd) && (fd[g] in acc))) { print "g" g " uses fd " fd[g] ", which no accept of g1 returned"; bad = 1 }
            if (g in seen) { print "g" g " twice"; bad = 1 }
            seen[g] = 1
        }
        exit bad
    }' "$tmp/trace" >"$tmp/check" || fail "trace check: $(cat "$tmp/check")"

echo "PASS t_trace_nc: 3 nc clients echoed; trace has accept/read/write for 3 greenlets"
