#!/bin/bash
# Counts one echo server's work per message: CPU, system calls and context switches, with
# `perf stat` attached to the server alone (the load generator is a child process of its own).
#
# usage (from the repository's root, after `cargo bench --bench all --no-run`):
#   benches/profile_echo.sh connhandler|hand|direct CONNSxINFLIGHT [unprotected]
# BENCH=path/to/all-binary picks another build (a before-and-after pair taking turns).
set -euo pipefail
design=$1
load=$2
bench=${BENCH:-$(ls -t target/release/deps/all-* | grep -v '\.d$' | head -1)}
out=$(mktemp)
if [ -n "${3:-}" ]; then export ECHO_UNPROTECTED=1; fi
ECHO_ONLY=$design ECHO_LOAD=$load ECHO_SECS=8 "$bench" echo >"$out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "server pid" "$out" && break; sleep 0.1; done
pid=$(grep -o "server pid [0-9]*" "$out" | awk '{print $3}')
sleep 1.5 # connections up, the load steady
stats=$(perf stat -p "$pid" -e task-clock,context-switches,raw_syscalls:sys_enter -x, -- sleep 5 2>&1 >/dev/null)
wait "$server"
rate=$(tail -1 "$out" | grep -o "[0-9]* msg/s" | awk '{print $1}')
cpu=$(echo "$stats" | grep task-clock | cut -d, -f1)
switches=$(echo "$stats" | grep context-switches | cut -d, -f1)
calls=$(echo "$stats" | grep sys_enter | cut -d, -f1)
rm -f "$out"
python3 -c "
n = $rate * 5
print('%s %s%s: %.0f msg/s, cpu %.2f us/msg, syscalls %.2f/msg, context switches %.3f/msg'
      % ('$design', '$load', ' (unprotected)' if '${3:-}' else '', $rate, $cpu * 1000 / n, $calls / n, $switches / n))"
