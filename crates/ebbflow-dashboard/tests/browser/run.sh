#!/usr/bin/env bash
# The dashboard in a real headless Chromium, driven by playwright-core:
# `ebbflow serve` over SQLite with two keys (an operator and a read-only
# viewer), queues and history seeded with the `ebbflow` binary itself.
#
#   bash crates/ebbflow-dashboard/tests/browser/run.sh target/debug/ebbflow [SCREENSHOT_DIR]
#
# Needs node and npm (playwright-core is installed into a temp dir) and
# Chromium (`CHROMIUM`, by default /usr/bin/chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ebbflow="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shots="${2:-}"
work=$(mktemp -d)
serve=""
cleanup() { [ -n "$serve" ] && kill "$serve" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/ebbflow.toml" <<TOML
[backend]
kind = "sqlite"
path = "$work/queues.db"
[server]
listen = "127.0.0.1:$port"
[server.keys.operator]
access_key_id = "operator"
secret_env = "OPERATOR_SECRET"
[server.keys.viewer]
access_key_id = "viewer"
secret_env = "VIEWER_SECRET"
actions = ["read"]
TOML
e() { "$ebbflow" --config "$work/ebbflow.toml" "$@" >/dev/null; }
e queue create orders-dlq
e queue create orders RedrivePolicy=orders-dlq:3
for i in $(seq 1 30); do
    e send orders "{\"order\": $i, \"customer\": \"c-$((i % 7))\", \"total\": $((i * 13))}" -a tenant=acme
done
e send orders '{"order": 4242, "note": "needle-4242"}' -a tenant=globex
# Dead letters as the runtime writes them: `send` refuses the runtime's
# `ebbflow.` attributes, so they come in as a restored export does.
python3 - "$work/dead.jsonl" <<'PY'
import json, sys
def text(v): return {"DataType": "String", "StringValue": v}
with open(sys.argv[1], "w") as f:
    for i in (1, 2, 3):
        f.write(json.dumps({"message_id": f"d{i}", "body": json.dumps({"order": int(f"90{i}"), "note": f"card-declined-{i}"}),
                            "attributes": {"ebbflow.reason": text("permanent"), "ebbflow.source_queue": text("orders"),
                                           "ebbflow.error": text("payment service: card declined"), "tenant": text("acme")}}) + "\n")
    f.write(json.dumps({"message_id": "d999", "body": json.dumps({"order": 999}),
                        "attributes": {"ebbflow.reason": text("undecodable"), "ebbflow.source_queue": text("orders"),
                                       "ebbflow.error": text("expected value at line 1 column 1")}}) + "\n")
PY
e import orders-dlq "$work/dead.jsonl"
# Forty minutes of history from two worker processes, as the runtime writes it.
e queue create ebbflow_history__orders
python3 "$here/rollups.py" 40 >"$work/rollups.jsonl"
"$ebbflow" --config "$work/ebbflow.toml" send ebbflow_history__orders --lines -f "$work/rollups.jsonl" >/dev/null

OPERATOR_SECRET=operator-secret VIEWER_SECRET=viewer-secret \
    "$ebbflow" --config "$work/ebbflow.toml" serve >"$work/serve.log" 2>&1 &
serve=$!
for _ in $(seq 1 100); do grep -q "serving the dashboard" "$work/serve.log" && break; sleep 0.1; done
grep -q "serving the dashboard" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }

mkdir -p "$work/node"
cp "$here/dashboard.mjs" "$work/node/"
(cd "$work/node" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund playwright-core@1.65.2 >/dev/null)
NODE_NO_WARNINGS=1 node "$work/node/dashboard.mjs" "http://127.0.0.1:$port/ui" "$shots" || { tail -50 "$work/serve.log"; exit 1; }
# Every change leaves an audit line.
grep -q "StartMessageMoveTask" "$work/serve.log" || { echo "no audit line for the redrive"; tail -30 "$work/serve.log"; exit 1; }
echo "browser tests passed"
