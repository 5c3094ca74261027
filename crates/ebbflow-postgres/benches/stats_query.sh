#!/usr/bin/env bash
# Run from the workspace root: bash crates/ebbflow-postgres/benches/stats_query.sh [N]
# One queue with N visible messages and 50 in flight, in a scratch database:
# the old full-count stats query against the new counter-based one.
set -e
N=${1:-1000000}
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ebbflow_stats_bench" -c "CREATE DATABASE ebbflow_stats_bench"
P="psql -q -h 127.0.0.1 -U postgres -d ebbflow_stats_bench"
$P -f crates/ebbflow-postgres/migrations/0001_queues_and_messages.sql
$P -f crates/ebbflow-postgres/migrations/0002_queue_counts.sql
$P -c "INSERT INTO ebbflow_queues (name, attributes) VALUES ('q', '{}')"
$P -c "INSERT INTO ebbflow_messages (queue, visible_at, sent_ms, message_id, md5, body) SELECT 1, 0, 1000 + g, g::text, 'x', 'body' FROM generate_series(1, $N) g"
$P -c "UPDATE ebbflow_messages SET in_flight = true, visible_at = 9e15 WHERE id <= 50"
$P -c "VACUUM ANALYZE"
NOW=1000000000000; CUT=0
echo "old (count every row):"
$P -c "EXPLAIN ANALYZE SELECT count(*) FILTER (WHERE visible_at <= $NOW), count(*) FILTER (WHERE visible_at > $NOW AND in_flight), count(*) FILTER (WHERE visible_at > $NOW AND NOT in_flight), min(sent_ms) FROM ebbflow_messages WHERE queue = 1 AND sent_ms > $CUT" | grep "Execution Time"
echo "new (counters, hidden rows, one probe):"
$P -c "EXPLAIN ANALYZE SELECT (SELECT COALESCE(sum(in_flight + waiting), 0)::bigint FROM ebbflow_queue_counts WHERE queue = 1), (SELECT count(*) FROM ebbflow_messages WHERE queue = 1 AND sent_ms <= $CUT), hidden.in_flight, hidden.delayed, (SELECT min(sent_ms) FROM ebbflow_messages WHERE queue = 1 AND sent_ms > $CUT) FROM (SELECT count(*) FILTER (WHERE in_flight) AS in_flight, count(*) FILTER (WHERE NOT in_flight) AS delayed FROM ebbflow_messages WHERE queue = 1 AND visible_at > $NOW AND sent_ms > $CUT) hidden" | grep "Execution Time"
$P -c "SELECT sum(in_flight), sum(waiting) FROM ebbflow_queue_counts"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE ebbflow_stats_bench"
