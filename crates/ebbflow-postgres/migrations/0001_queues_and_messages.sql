-- ebbflow's queues on PostgreSQL: one row per queue, one per message.
-- Times are milliseconds since the Unix epoch, as the workers' clocks read them.

CREATE TABLE ebbflow_queues (
    id             bigserial PRIMARY KEY,
    name           text      NOT NULL UNIQUE,
    attributes     text      NOT NULL,
    next_sequence  bigint    NOT NULL DEFAULT 0,
    last_purge_ms  bigint
);

-- A message is visible when visible_at has passed; otherwise it is in flight
-- (in_flight) or delayed. A visibility timeout ending needs no write.
CREATE TABLE ebbflow_messages (
    id                bigserial PRIMARY KEY,
    queue             bigint  NOT NULL REFERENCES ebbflow_queues (id) ON DELETE CASCADE,
    in_flight         boolean NOT NULL DEFAULT false,
    visible_at        bigint  NOT NULL,
    sent_ms           bigint  NOT NULL,
    nonce             bigint,
    receive_count     integer NOT NULL DEFAULT 0,
    first_receive_ms  bigint  NOT NULL DEFAULT 0,
    received_ms       bigint  NOT NULL DEFAULT 0,
    message_id        text    NOT NULL,
    md5               text    NOT NULL,
    body              text    NOT NULL,
    attributes        text,
    group_id          text,
    dedup_id          text,
    sequence          bigint,
    dlq_source        text
);

-- Receive order and timers.
CREATE INDEX ebbflow_messages_due ON ebbflow_messages (queue, visible_at);
-- Retention and the oldest message's age.
CREATE INDEX ebbflow_messages_sent ON ebbflow_messages (queue, sent_ms);
-- FIFO: a group's messages in order.
CREATE INDEX ebbflow_messages_groups ON ebbflow_messages (queue, group_id, sequence)
    WHERE group_id IS NOT NULL;

-- FIFO deduplication: what a deduplication id was first sent as, for five minutes.
CREATE TABLE ebbflow_dedup (
    queue       bigint NOT NULL REFERENCES ebbflow_queues (id) ON DELETE CASCADE,
    dedup_id    text   NOT NULL,
    expires_ms  bigint NOT NULL,
    message_id  text   NOT NULL,
    md5         text   NOT NULL,
    sequence    bigint,
    PRIMARY KEY (queue, dedup_id)
);
