//! The database's tables and the migrations that make them.
//!
//! Times are milliseconds since the Unix epoch. A message's `state` is
//! 0 visible, 1 delayed, 2 in flight; `visible_at` is when a delayed or
//! in-flight message becomes visible, and for a visible one when it did (its
//! place in line). Time-driven transitions are applied by index at the start
//! of every write that touches a queue (see `store::tick`), and the queue row
//! keeps exact counters, so `stats` never counts the whole table.

use rusqlite::{Connection, OptionalExtension};

/// Migrations in order; the database records how many it has applied.
const MIGRATIONS: &[&str] = &[
    // 1: queues, messages and their indexes, FIFO deduplication.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE queues (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT NOT NULL UNIQUE,
        attributes    TEXT NOT NULL,
        visible       INTEGER NOT NULL DEFAULT 0,
        in_flight     INTEGER NOT NULL DEFAULT 0,
        delayed       INTEGER NOT NULL DEFAULT 0,
        next_sequence INTEGER NOT NULL DEFAULT 0,
        last_purge_ms INTEGER
    );
    CREATE TABLE messages (
        id               INTEGER PRIMARY KEY,
        queue            INTEGER NOT NULL,
        state            INTEGER NOT NULL,
        visible_at       INTEGER NOT NULL,
        sent_ms          INTEGER NOT NULL,
        nonce            INTEGER,
        receive_count    INTEGER NOT NULL DEFAULT 0,
        first_receive_ms INTEGER NOT NULL DEFAULT 0,
        received_ms      INTEGER NOT NULL DEFAULT 0,
        message_id       TEXT NOT NULL,
        md5              TEXT NOT NULL,
        body             BLOB NOT NULL,
        attributes       BLOB,
        group_id         TEXT,
        dedup_id         TEXT,
        sequence         INTEGER,
        dlq_source       TEXT
    );
    -- Receives (state 0 by visible_at) and timers (states 1, 2 by visible_at).
    CREATE INDEX messages_due ON messages (queue, state, visible_at);
    -- Retention and the oldest message's age.
    CREATE INDEX messages_age ON messages (queue, sent_ms);
    -- FIFO groups: which groups exist, whether one has a message in flight,
    -- and its messages in send order. Standard queues' rows are not in it.
    CREATE INDEX messages_group ON messages (queue, group_id, state) WHERE group_id IS NOT NULL;
    CREATE TABLE dedup (
        queue      INTEGER NOT NULL,
        dedup_id   TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        md5        TEXT NOT NULL,
        sequence   INTEGER,
        PRIMARY KEY (queue, dedup_id)
    ) WITHOUT ROWID;
    CREATE INDEX dedup_expiry ON dedup (queue, expires_ms);
    ",
    // 2: each queue's consumers (worker processes) until their announcement runs out.
    "
    CREATE TABLE consumers (
        queue      INTEGER NOT NULL,
        id         TEXT NOT NULL,
        report     TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (queue, id)
    ) WITHOUT ROWID;
    ",
    // 3: a queue's messages in id order (the rowid rides along), so that a
    // browse reads one page of its queue whatever else the table holds.
    "
    CREATE INDEX messages_queue ON messages (queue);
    ",
    // 4: SQS's AWSTraceHeader system attribute, kept as sent.
    "
    ALTER TABLE messages ADD COLUMN trace_header TEXT;
    ",
];

/// The newest schema version this build knows.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the database lacks. Returns the version it had.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found >= VERSION {
        return Ok(found);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have migrated between the check and the lock.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(found)
}

/// A value of the `meta` table.
pub(crate) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Sets a value of the `meta` table.
pub(crate) fn set_meta(conn: &Connection, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )
    .map(|_| ())
}
