//! Each process vacuums the messages table after the dead row versions it
//! made reach `PostgresOptions::vacuum_after`, so that a long drain does not
//! slow down under them where autovacuum is off or slow.

mod common;

use ebbflow_core::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage,
};
use ebbflow_postgres::{PostgresBackend, PostgresOptions};
use std::time::Duration;

async fn vacuums(client: &tokio_postgres::Client) -> i64 {
    match client
        .query_one(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'ebbflow_messages'",
            &[],
        )
        .await
    {
        Ok(row) => row.get(0),
        Err(e) => panic!("vacuum_count: {e}"),
    }
}

/// Sends `count` messages to `queue`, then receives and deletes them all.
async fn churn(backend: &PostgresBackend, queue: &str, count: usize) {
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
        let entries = got
            .into_iter()
            .enumerate()
            .map(|(i, m)| DeleteBatchEntry {
                id: i.to_string(),
                receipt_handle: m.receipt_handle,
            })
            .collect();
        if let Err(e) = backend.delete_batch(queue, entries).await {
            panic!("delete: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_vacuums_the_messages_table_once_it_made_enough_dead_rows() {
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
    let before = vacuums(&client).await;
    // 600 messages: 1,200 dead row versions, past the threshold once.
    churn(&backend, &queue, 600).await;
    let mut after = before;
    for _ in 0..200 {
        after = vacuums(&client).await;
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = backend.delete_queue(&queue).await;
    assert!(after > before, "no vacuum of ebbflow_messages within 10 s");
}
