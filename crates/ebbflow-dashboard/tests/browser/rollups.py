"""Prints MINUTES of per-minute rollups from two worker processes, as JSON
lines ending now: a backlog that arrives, is worked off as the pool grows,
and a few dead letters."""
import json
import sys
import time

minutes = int(sys.argv[1])
now = int(time.time() * 1000)
last = now - now % 60_000
bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
for i in range(minutes):
    at = last - (minutes - 1 - i) * 60_000
    backlog = max(0, 3000 - abs(i - 12) * 250) if i < 30 else 40
    pool = 4 + min(16, backlog // 200)
    for proc in ("host-a/101/orders", "host-b/202/orders"):
        done = 900 + backlog // 3 + (i % 5) * 40
        counts = [0] * (len(bounds) + 1)
        counts[3] = done * 6 // 10
        counts[4] = done * 3 // 10
        counts[6] = done - counts[3] - counts[4]
        decisions = []
        if i == 8 and proc.startswith("host-a"):
            decisions.append({"at_ms": at + 5_000, "from": 8, "to": 24, "reason": "backlog", "backlog": backlog})
        if i == 31 and proc.startswith("host-a"):
            decisions.append({"at_ms": at + 5_000, "from": 24, "to": 8, "reason": "idle", "backlog": 40})
        print(json.dumps({
            "minute_ms": at, "consumer": proc,
            "succeeded": done, "retried": i % 3, "released": 0,
            "dead_lettered": 1 if i % 9 == 0 else 0, "failed": 0,
            "latency_bounds": bounds, "latency_counts": counts,
            "pool": pool, "desired": pool, "busy": max(1, pool - 2),
            "visible": backlog, "in_flight": pool, "delayed": 0,
            "decisions": decisions,
        }))
