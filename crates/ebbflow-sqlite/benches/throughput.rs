//! End-to-end throughput: producers send, consumers receive and delete, in
//! batches, against a fresh database file; `synchronous` FULL and NORMAL.
//!
//! `cargo bench -p ebbflow-sqlite` prints one table row per setting.
//! `-- --messages N --producers P --consumers C` change the load.
//! Then it fills one queue with `--stats-messages N` (default 1,000,000) and
//! times `stats`, which the autoscaler reads every second, on it.

use ebbflow_core::testkit::load::{arg, send_receive_delete, Load};
use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage};
use ebbflow_sqlite::{SqliteBackend, SqliteOptions, Synchronous};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn run(sync: Synchronous, batch: usize, load: &Load) -> (f64, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions::new(dir.path().join("bench.db")).synchronous(sync);
    let backend = Arc::new(SqliteBackend::open(&options).expect("open"));
    backend
        .create_queue("bench", QueueAttributes::standard())
        .await
        .expect("create");
    send_receive_delete(backend, "bench", Load { batch, ..*load }).await
}

/// Fills a queue with `count` messages, then times `stats` and a receive on it.
async fn stats_on_a_big_queue(count: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Arc::new(
        SqliteBackend::open(&SqliteOptions::new(dir.path().join("big.db"))).expect("open"),
    );
    backend
        .create_queue("big", QueueAttributes::standard())
        .await
        .expect("create");
    let fill = Instant::now();
    let producers = 32u64;
    let mut tasks = Vec::new();
    for p in 0..producers {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..count / producers / 10 {
                let entries = (0..10)
                    .map(|i| SendBatchEntry {
                        id: i.to_string(),
                        message: SendMessage::new(format!("order {p}-{b}-{i}")),
                    })
                    .collect();
                backend.send_batch("big", entries).await.expect("send");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let filled = fill.elapsed();
    let rounds = 20;
    let start = Instant::now();
    let mut stats = None;
    for _ in 0..rounds {
        stats = Some(backend.stats("big").await.expect("stats"));
    }
    let per_stats = start.elapsed() / rounds;
    let start = Instant::now();
    let got = backend
        .receive("big", ReceiveRequest::new(10))
        .await
        .expect("receive");
    let per_receive = start.elapsed();
    println!(
        "\nstats on a queue of {count} messages (filled in {:.1} s = {:.0} sends/s): {:.2} ms per call ({stats:?}); a receive of {}: {:.2} ms",
        filled.as_secs_f64(),
        count as f64 / filled.as_secs_f64(),
        per_stats.as_secs_f64() * 1e3,
        got.len(),
        per_receive.as_secs_f64() * 1e3,
    );
}

fn main() {
    let load = Load {
        messages: arg("--messages", 200_000),
        producers: arg("--producers", 32),
        consumers: arg("--consumers", 32),
        batch: 10,
        body_size: 100,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "send -> receive -> delete, {} messages of 100 bytes, {} producers, {} consumers",
        load.messages, load.producers, load.consumers
    );
    println!("| synchronous | batch | messages/s | elapsed |");
    println!("|---|---|---|---|");
    for (sync, name) in [(Synchronous::Full, "FULL"), (Synchronous::Normal, "NORMAL")] {
        for batch in [1usize, 10] {
            // Batches of one make ten times the calls: a tenth of the messages keeps the run short.
            let scaled = Load {
                messages: if batch == 1 {
                    load.messages / 10
                } else {
                    load.messages
                },
                ..load
            };
            let (rate, elapsed) = runtime.block_on(run(sync, batch, &scaled));
            println!(
                "| {name} | {batch} | {rate:.0} | {:.2} s |",
                elapsed.as_secs_f64()
            );
        }
    }
    runtime.block_on(stats_on_a_big_queue(arg("--stats-messages", 1_000_000)));
}
