#!/usr/bin/env bash
# Runs an `ebbflow work` example end to end: sends COUNT orders (every 20th
# invalid), waits until each is processed or dead-lettered, checks the dead
# letters, then stops the worker with SIGTERM and checks it exits cleanly.
#   examples/work/run.sh python|node [COUNT]
# EBBFLOW names the binary (default target/debug/ebbflow).
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:?python or node}
count=${2:-200}
ebbflow=${EBBFLOW:-target/debug/ebbflow}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

config=examples/work/$kind.toml
case $kind in
    python) queue=orders_py ;;
    node)
        queue=orders_js
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        PORT=$port node examples/work/orders.js & pids+=($!)
        export EBBFLOW__WORKERS__ORDERS_JS__HANDLER__HTTP="http://127.0.0.1:$port/orders"
        for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
        ;;
    *) echo "python or node, not $kind"; exit 2 ;;
esac
export EBBFLOW__BACKEND__PATH="$work/queues.db"

"$ebbflow" --config "$config" work >"$work/work.log" 2>&1 & worker=$!; pids+=($worker)
for _ in $(seq 1 100); do grep -q "worker group started" "$work/work.log" && break; sleep 0.1; done

invalid=0
for i in $(seq 1 "$count"); do
    if (( i % 20 == 0 )); then echo "{\"id\":$i,\"total\":0}"; invalid=$((invalid + 1)); else echo "{\"id\":$i,\"total\":$i.5}"; fi
done >"$work/orders.jsonl"
"$ebbflow" --config "$config" send "$queue" --lines --file "$work/orders.jsonl"

depth() { "$ebbflow" --config "$config" queues --output json | python3 -c "
import json, sys
rows = {r['queue']: r for r in json.load(sys.stdin)}
q, dlq = rows['$queue'], rows['$queue-dlq']
print(q['visible'] + q['in_flight'] + q['delayed'], dlq['visible'])"; }
for _ in $(seq 1 600); do
    read -r left dead < <(depth)
    [ "$left" -eq 0 ] && break
    sleep 0.2
done
read -r left dead < <(depth)
echo "$kind: $count orders sent, $left left, $dead dead-lettered (expected $invalid)"
kill -TERM "$worker"
wait "$worker" || { cat "$work/work.log"; echo "ebbflow work did not exit cleanly"; exit 1; }
[ "$left" -eq 0 ] && [ "$dead" -eq "$invalid" ] || { cat "$work/work.log"; exit 1; }
