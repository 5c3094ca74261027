//! The schema, created and upgraded by the migrations this crate ships
//! (`migrations/*.sql`), each applied once, in order, under an advisory lock
//! so that many workers starting at once apply each exactly once.

use tokio_postgres::Client;

/// The migrations, in order; a migration's version is its place in this list.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "queues and messages",
        include_str!("../migrations/0001_queues_and_messages.sql"),
    ),
    (
        "per-queue message counts kept by the writers",
        include_str!("../migrations/0002_queue_counts.sql"),
    ),
    (
        "each queue's consumers",
        include_str!("../migrations/0003_consumers.sql"),
    ),
    (
        "each queue's messages in id order, for browsing",
        include_str!("../migrations/0004_messages_by_queue.sql"),
    ),
    (
        "each message's trace header",
        include_str!("../migrations/0005_trace_header.sql"),
    ),
    (
        "the keys that sealed messages",
        include_str!("../migrations/0006_seal_keys.sql"),
    ),
];

/// The schema version this build writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Any 64-bit number the other users of the database are unlikely to lock.
const MIGRATION_LOCK: i64 = 0x6562_6266_6c6f_7701;

/// Applies the migrations the database lacks. Returns the version found
/// before, which may be newer than [`VERSION`] (the caller refuses that).
pub(crate) async fn migrate(client: &mut Client) -> Result<i32, tokio_postgres::Error> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let found = result?;
    unlocked?;
    Ok(found)
}

async fn apply(client: &mut Client) -> Result<i32, tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS ebbflow_schema (
                 version     integer PRIMARY KEY,
                 description text NOT NULL,
                 applied_at  timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let found: i32 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM ebbflow_schema", &[])
        .await?
        .get(0);
    for (index, (description, sql)) in MIGRATIONS.iter().enumerate() {
        let version = index as i32 + 1;
        if version <= found {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO ebbflow_schema (version, description) VALUES ($1, $2)",
            &[&version, description],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(found)
}
