-- The ids of the keys that have sealed messages here (encryption at rest):
-- checked at connect, so a missing or wrong key is an error then.
CREATE TABLE ebbflow_seal_keys (
    id         text    PRIMARY KEY,
    first_used bigint  NOT NULL
);
