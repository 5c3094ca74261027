//! Each process analyzes the messages table after sending half of
//! `PostgresOptions::vacuum_after` messages, and vacuums it after making that
//! many dead row versions, so that a long drain neither slows under them nor
//! runs on plans made for an empty table where autovacuum is off or slow.

mod common;

use ebbflow_core::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage,
};
use ebbflow_postgres::{PostgresBackend, PostgresOptions};
use std::time::Duration;

/// How many times the messages table was vacuumed and analyzed.
async fn upkeep(client: &tokio_postgres::Client) -> (i64, i64) {
    match client
        .query_one(
            "SELECT vacuum_count, analyze_count FROM pg_stat_user_tables
             WHERE relname = 'ebbflow_messages'",
            &[],
        )
        .await
    {
        Ok(row) => (row.get(0), row.get(1)),
        Err(e) => panic!("pg_stat_user_tables: {e}"),
    }
}

/// Waits up to 10 s for `done` to hold of the table's counts; returns the last counts.
async fn until(client: &tokio_postgres::Client, done: impl Fn((i64, i64)) -> bool) -> (i64, i64) {
    let mut now = upkeep(client).await;
    for _ in 0..200 {
        if done(now) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = upkeep(client).await;
    }
    now
}

async fn send(backend: &PostgresBackend, queue: &str, count: usize) {
    for start in (0..count).step_by(10) {
        let entries = (start..count.min(start + 10))
            .map(|n| SendBatchEntry {
                id: (n - start).to_string(),
                message: SendMessage::new(n.to_string()),
            })
            .collect();
        if let Err(e) = backend.send_batch(queue, entries).await {
            panic!("send: {e}");
        }
    }
}

/// Receives and deletes `count` messages.
async fn drain(backend: &PostgresBackend, queue: &str, count: usize) {
    let mut deleted = 0;
    while deleted < count {
        let got = match backend.receive(queue, ReceiveRequest::new(10)).await {
            Ok(got) => got,
            Err(e) => panic!("receive: {e}"),
        };
        assert!(
            !got.is_empty(),
            "{} messages left unreceived",
            count - deleted
        );
        deleted += got.len();
        let entries = DeleteBatchEntry::for_received(got);
        if let Err(e) = backend.delete_batch(queue, entries).await {
            panic!("delete: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_analyzes_the_messages_table_after_its_sends_and_vacuums_it_after_its_drain() {
    let Some(url) = common::url() else { return };
    let backend =
        match PostgresBackend::connect(&PostgresOptions::new(&url).vacuum_after(1_000)).await {
            Ok(b) => b,
            Err(e) => panic!("connect: {e}"),
        };
    let (client, connection) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => panic!("a direct connection: {e}"),
    };
    tokio::spawn(connection);
    let queue = format!("vacuum-{}", std::process::id());
    if let Err(e) = backend
        .create_queue(&queue, QueueAttributes::standard())
        .await
    {
        panic!("create: {e}");
    }
    let before = upkeep(&client).await;
    // 600 messages: past half the threshold of sends, then 1,200 dead row versions.
    send(&backend, &queue, 600).await;
    let sent = until(&client, |(_, analyzed)| analyzed > before.1).await;
    drain(&backend, &queue, 600).await;
    let drained = until(&client, |(vacuumed, _)| vacuumed > before.0).await;
    let _ = backend.delete_queue(&queue).await;
    assert!(
        sent.1 > before.1,
        "no analyze of ebbflow_messages within 10 s of the sends"
    );
    assert!(
        drained.0 > before.0,
        "no vacuum of ebbflow_messages within 10 s of the drain"
    );
}
