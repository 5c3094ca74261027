-- Per-queue message counts kept by the writers, so that `stats` reads a few
-- counter rows and the hidden messages only, not every row of the queue.
--
-- Each statement that inserts, deletes or updates messages adds its net
-- change per queue to one of 16 shards, picked by the writing backend's pid,
-- so that concurrent writers rarely wait on the same counter row. `stats`
-- sums the shards. The cost to writers: one upsert of a small row per
-- statement (a batch of ten is one statement), in the writer's transaction.

CREATE TABLE ebbflow_queue_counts (
    queue      bigint   NOT NULL,
    shard      smallint NOT NULL,
    -- Rows with in_flight set, and without (visible or delayed).
    in_flight  bigint   NOT NULL DEFAULT 0,
    waiting    bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, shard)
);

CREATE FUNCTION ebbflow_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ebbflow_queue_counts AS c (queue, shard, in_flight, waiting)
        SELECT queue, pg_backend_pid() % 16,
               count(*) FILTER (WHERE in_flight), count(*) FILTER (WHERE NOT in_flight)
        FROM new_rows GROUP BY queue
        ON CONFLICT (queue, shard) DO UPDATE
            SET in_flight = c.in_flight + EXCLUDED.in_flight, waiting = c.waiting + EXCLUDED.waiting;
    ELSIF TG_OP = 'DELETE' THEN
        -- A deleted queue's messages go with it; so do its counts.
        INSERT INTO ebbflow_queue_counts AS c (queue, shard, in_flight, waiting)
        SELECT queue, pg_backend_pid() % 16,
               -count(*) FILTER (WHERE in_flight), -count(*) FILTER (WHERE NOT in_flight)
        FROM old_rows o WHERE EXISTS (SELECT 1 FROM ebbflow_queues q WHERE q.id = o.queue)
        GROUP BY queue
        ON CONFLICT (queue, shard) DO UPDATE
            SET in_flight = c.in_flight + EXCLUDED.in_flight, waiting = c.waiting + EXCLUDED.waiting;
    ELSE
        -- A row may change class (received, released) or queue (redriven):
        -- the new rows count in, the old ones out.
        INSERT INTO ebbflow_queue_counts AS c (queue, shard, in_flight, waiting)
        SELECT queue, pg_backend_pid() % 16, sum(d_in_flight), sum(d_waiting)
        FROM (
            SELECT queue, CASE WHEN in_flight THEN 1 ELSE 0 END AS d_in_flight,
                   CASE WHEN in_flight THEN 0 ELSE 1 END AS d_waiting
            FROM new_rows
            UNION ALL
            SELECT queue, CASE WHEN in_flight THEN -1 ELSE 0 END,
                   CASE WHEN in_flight THEN 0 ELSE -1 END
            FROM old_rows
        ) changes
        GROUP BY queue
        HAVING sum(d_in_flight) <> 0 OR sum(d_waiting) <> 0
        ON CONFLICT (queue, shard) DO UPDATE
            SET in_flight = c.in_flight + EXCLUDED.in_flight, waiting = c.waiting + EXCLUDED.waiting;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ebbflow_count_inserts AFTER INSERT ON ebbflow_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ebbflow_count_changes();
CREATE TRIGGER ebbflow_count_deletes AFTER DELETE ON ebbflow_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ebbflow_count_changes();
CREATE TRIGGER ebbflow_count_updates AFTER UPDATE ON ebbflow_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ebbflow_count_changes();

-- A deleted queue's counter rows.
CREATE FUNCTION ebbflow_forget_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ebbflow_queue_counts c USING old_queues o WHERE c.queue = o.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER ebbflow_forget_counts AFTER DELETE ON ebbflow_queues
    REFERENCING OLD TABLE AS old_queues FOR EACH STATEMENT EXECUTE FUNCTION ebbflow_forget_counts();

-- The messages already there.
INSERT INTO ebbflow_queue_counts (queue, shard, in_flight, waiting)
SELECT queue, 0, count(*) FILTER (WHERE in_flight), count(*) FILTER (WHERE NOT in_flight)
FROM ebbflow_messages GROUP BY queue;
