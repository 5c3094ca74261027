#!/usr/bin/env bash
# Throughput of `ebbflow work` with a no-op Python handler (examples/work/noop.py):
# sends COUNT messages to an SQLite queue, then times how long the worker takes
# to handle them all.
#   examples/work/bench.sh per_message|long_lived [COUNT]
# EBBFLOW names the binary (default target/release/ebbflow).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?per_message or long_lived}
count=${2:-2000}
ebbflow=${EBBFLOW:-target/release/ebbflow}
work=$(mktemp -d)
trap 'kill $worker 2>/dev/null || true; rm -rf "$work"' EXIT
# The interpreter itself, not a wrapper such as pyenv's shim (a shell script that costs more than Python's own start).
python=$(python3 -c 'import sys; print(sys.executable)')
args="\"$python\", \"examples/work/noop.py\""
[ "$mode" = long_lived ] && args="$args, \"--long-lived\""
cat >"$work/bench.toml" <<TOML
[backend]
kind = "sqlite"
path = "$work/queues.db"
[queues.bench]
[workers.bench]
handler = { command = [$args], mode = "$mode" }
[metrics]
enabled = false
[log]
level = "warn"
TOML
seq 1 "$count" >"$work/bodies"
"$ebbflow" --config "$work/bench.toml" queue create bench >/dev/null
"$ebbflow" --config "$work/bench.toml" send bench --lines --file "$work/bodies" >/dev/null
start=$(date +%s.%N)
"$ebbflow" --config "$work/bench.toml" work & worker=$!
while :; do
    left=$("$ebbflow" --config "$work/bench.toml" queues --output json |
        python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["visible"] + r["in_flight"])')
    [ "$left" -eq 0 ] && break
    sleep 0.1
done
end=$(date +%s.%N)
python3 -c "s = $end - $start; print(f'$mode: $count messages in {s:.2f} s = {$count / s:,.0f} msg/s')"
