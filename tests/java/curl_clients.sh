#!/bin/bash
# curl_clients.sh PORT: GET /?n=0..99 one after the other, then /?n=100..199 eight at a time
# (xargs -P 8); prints every response body, sorted, then "curl_failures=N".
set -u
port=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0
for n in $(seq 0 99); do
    curl -sS --fail --max-time 20 "http://127.0.0.1:$port/?n=$n" >>"$out" || fail=$((fail + 1))
done
seq 100 199 | xargs -P 8 -I{} curl -sS --fail --max-time 20 -o "$out.{}" "http://127.0.0.1:$port/?n={}" \
    || fail=$((fail + 1))
for n in $(seq 100 199); do
    if [ -f "$out.$n" ]; then cat "$out.$n" >>"$out"; rm -f "$out.$n"; else fail=$((fail + 1)); fi
done
sort "$out"
echo "curl_failures=$fail"
