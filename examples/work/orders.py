#!/usr/bin/env python3
"""The orders handler in Python, as a long-lived `ebbflow work` process.

ebbflow writes one message per line on stdin, as JSON; this answers one line
on stdout with the same id and a status: ok, retry, throttled or permanent.
Logs go to stderr. The interpreter starts once and handles many messages.
On SIGTERM (ebbflow is shutting down) it finishes the message at hand and exits.
"""
import json
import signal
import sys

stopping = False
busy = False


def on_sigterm(_signum, _frame):
    global stopping
    stopping = True
    if not busy:
        sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)


def handle(message):
    """Validates an order; a bad one is permanent (dead-lettered), never retried."""
    try:
        order = json.loads(message["body"])
    except ValueError as e:
        return {"status": "permanent", "error": f"not JSON: {e}"}
    if not isinstance(order, dict) or "id" not in order:
        return {"status": "permanent", "error": "an order needs an id"}
    total = order.get("total")
    if not isinstance(total, (int, float)) or total <= 0:
        return {"status": "permanent", "error": f"order {order['id']}: total must be above zero, got {total!r}"}
    # Charging and reserving stock would go here.
    return {"status": "ok"}


for line in sys.stdin:
    busy = True
    message = json.loads(line)
    answer = handle(message)
    answer["id"] = message["id"]
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    busy = False
    if stopping:
        break
