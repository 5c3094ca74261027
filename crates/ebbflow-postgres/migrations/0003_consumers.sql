-- Each queue's consumers (worker processes), until their announcement runs
-- out: the registry the autoscalers of one fleet read each tick.
CREATE TABLE ebbflow_consumers (
    queue       bigint NOT NULL REFERENCES ebbflow_queues (id) ON DELETE CASCADE,
    id          text   NOT NULL,
    report      text   NOT NULL,
    expires_ms  bigint NOT NULL,
    PRIMARY KEY (queue, id)
);
