//! `stats` reads counters the writers keep (migration 0002) instead of
//! counting every row: after concurrent sends, receives, deletes, releases,
//! dead-lettering and a purge from many connections, the counters and the
//! stats equal a full count of the rows.

mod common;

use ebbflow_core::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, QueueStats, ReceiveRequest, RedrivePolicy,
    SendBatchEntry, SendMessage,
};
use std::sync::Arc;
use std::time::Duration;

/// The old way: every row of the queue, classified now.
async fn full_count(client: &tokio_postgres::Client, queue: &str) -> (u64, u64, u64) {
    let r = client
        .query_one(
            "SELECT count(*) FILTER (WHERE visible_at <= now_ms),
                    count(*) FILTER (WHERE visible_at > now_ms AND in_flight),
                    count(*) FILTER (WHERE visible_at > now_ms AND NOT in_flight)
             FROM ebbflow_messages m
             JOIN ebbflow_queues q ON q.id = m.queue,
                  (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms) t
             WHERE q.name = $1",
            &[&queue],
        )
        .await
        .expect("a full count");
    let n = |i: usize| r.get::<_, i64>(i) as u64;
    (n(0), n(1), n(2))
}

async fn counters(client: &tokio_postgres::Client, queue: &str) -> i64 {
    client
        .query_one(
            "SELECT COALESCE(sum(in_flight + waiting), 0)::bigint FROM ebbflow_queue_counts c
             JOIN ebbflow_queues q ON q.id = c.queue WHERE q.name = $1",
            &[&queue],
        )
        .await
        .expect("the counters")
        .get(0)
}

fn triple(s: &QueueStats) -> (u64, u64, u64) {
    (s.visible, s.in_flight, s.delayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_from_counters_equal_a_full_count_after_concurrent_writers() {
    let Some(url) = common::url() else { return };
    let backend = Arc::new(
        ebbflow_postgres::PostgresBackend::connect(&ebbflow_postgres::PostgresOptions::new(&url))
            .await
            .expect("connect"),
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    tokio::spawn(connection);
    let run = std::process::id();
    let dlq = format!("counts-dlq-{run}");
    let q = format!("counts-{run}");
    backend
        .create_queue(&dlq, QueueAttributes::standard())
        .await
        .expect("dlq");
    let attrs = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new(&dlq, 2));
    backend.create_queue(&q, attrs).await.expect("queue");

    let mut tasks = Vec::new();
    for t in 0..8 {
        let (b, q) = (backend.clone(), q.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..20 {
                let entries = (0..10)
                    .map(|i| SendBatchEntry {
                        id: format!("e{i}"),
                        message: SendMessage::new(format!("{t}-{round}-{i}"))
                            .delay(Duration::from_secs(if i == 0 { 600 } else { 0 })),
                    })
                    .collect();
                b.send_batch(&q, entries).await.expect("send");
                // Short visibility: some come back and are received again
                // (and dead-lettered on the third receive).
                let visibility = Duration::from_millis(if round % 3 == 0 { 1 } else { 60_000 });
                let got = b
                    .receive(&q, ReceiveRequest::new(10).visibility_timeout(visibility))
                    .await
                    .expect("receive");
                let deletes: Vec<DeleteBatchEntry> = got
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 0)
                    .map(|(i, m)| DeleteBatchEntry {
                        id: format!("d{i}"),
                        receipt_handle: m.receipt_handle.clone(),
                    })
                    .collect();
                if !deletes.is_empty() {
                    b.delete_batch(&q, deletes).await.expect("delete");
                }
                if let Some(m) = got.get(1) {
                    // A 1 ms visibility may have run out already (and another
                    // writer received the message since).
                    match b
                        .change_visibility(&q, &m.receipt_handle, Duration::ZERO)
                        .await
                    {
                        Ok(())
                        | Err(ebbflow_core::QueueError::MessageNotInflight)
                        | Err(ebbflow_core::QueueError::ReceiptHandleIsInvalid(_)) => {}
                        Err(e) => panic!("release: {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a writer");
    }
    for queue in [&q, &dlq] {
        let stats = backend.stats(queue).await.expect("stats");
        let full = full_count(&client, queue).await;
        assert_eq!(triple(&stats), full, "{queue}: stats against a full count");
        assert_eq!(
            counters(&client, queue).await as u64,
            full.0 + full.1 + full.2,
            "{queue}: the counters hold every row"
        );
    }
    assert!(
        backend.stats(&dlq).await.expect("stats").visible > 0,
        "some messages were dead-lettered (moved between queues)"
    );
    let sharded: i64 = client
        .query_one(
            "SELECT count(*) FROM ebbflow_queue_counts c JOIN ebbflow_queues q ON q.id = c.queue WHERE q.name = $1",
            &[&q],
        )
        .await
        .expect("shards")
        .get(0);
    assert!(
        sharded > 1,
        "writers on several connections used several shards"
    );

    backend.purge(&q).await.expect("purge");
    assert_eq!(triple(&backend.stats(&q).await.expect("stats")), (0, 0, 0));
    assert_eq!(counters(&client, &q).await, 0);
    for queue in [&q, &dlq] {
        backend.delete_queue(queue).await.expect("delete queue");
    }
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM ebbflow_queue_counts WHERE queue NOT IN (SELECT id FROM ebbflow_queues)",
            &[],
        )
        .await
        .expect("orphans")
        .get(0);
    assert_eq!(left, 0, "a deleted queue's counters go with it");
}
