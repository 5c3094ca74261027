//! send → receive → delete in batches of ten, through the Rust AWS SDK,
//! against `ebbflow serve`'s API (in this process, signatures verified) over
//! the memory and SQLite engines, and against any other SQS endpoint given
//! (`moto_server`, say), in the same run on the same machine.
//!
//! `cargo bench -p ebbflow-server --bench wire -- [MESSAGES] [--endpoint URL [MESSAGES]]…`
//! (default 100,000 messages on ebbflow, 10,000 on another endpoint). Each
//! target gets a fresh queue; 16 producers send MESSAGES in batches of ten,
//! then 16 consumers receive batches of ten and delete each batch. It prints
//! each phase's rate and the whole round trip's.

#[path = "../tests/common/mod.rs"]
mod common;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: u64 = 16;

async fn produce(sqs: &aws_sdk_sqs::Client, url: &str, batches: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (sqs, url, next) = (sqs.clone(), url.to_owned(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return;
                }
                let entries = (0..10)
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(format!("{b}-{i}"))
                            .build()
                            .expect("an entry")
                    })
                    .collect();
                let r = sqs
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                assert!(r.is_ok_and(|r| r.failed().is_empty()), "send failed");
            }
        }));
    }
    for t in tasks {
        t.await.expect("a producer");
    }
}

async fn consume(sqs: &aws_sdk_sqs::Client, url: &str, total: u64) {
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (sqs, url, done) = (sqs.clone(), url.to_owned(), done.clone());
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < total {
                let got = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .expect("receive");
                let msgs = got.messages();
                if msgs.is_empty() {
                    continue;
                }
                let entries = msgs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .expect("an entry")
                    })
                    .collect();
                sqs.delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("delete");
                done.fetch_add(msgs.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a consumer");
    }
}

async fn run(name: &str, endpoint: &str, messages: u64) {
    let sqs = common::client(endpoint, "test", "test");
    let queue = format!("bench-{}-{}", std::process::id(), name.len());
    let url = sqs
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .unwrap_or_default();
    let batches = messages.div_ceil(10);
    let total = batches * 10;
    let started = Instant::now();
    produce(&sqs, &url, batches).await;
    let sent_in = started.elapsed();
    let consume_start = Instant::now();
    consume(&sqs, &url, total).await;
    let consumed_in = consume_start.elapsed();
    let _ = sqs.delete_queue().queue_url(&url).send().await;
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{name:<28} {total:>8} msgs   send {:>8.0}/s   receive+delete {:>8.0}/s   round trip {:>8.0}/s",
        rate(total, sent_in),
        rate(total, consumed_in),
        rate(total, sent_in + consumed_in)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut messages = 100_000;
    let mut others: Vec<(String, u64)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--endpoint" {
            let url = args.get(i + 1).cloned().expect("--endpoint URL");
            let n = args.get(i + 2).and_then(|n| n.parse().ok());
            i += if n.is_some() { 3 } else { 2 };
            others.push((url, n.unwrap_or(10_000)));
        } else {
            messages = args[i].parse().expect("MESSAGES is a number");
            i += 1;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let memory = common::serve(
            Arc::new(ebbflow_memory::MemoryBackend::new()),
            &[("test", "test")],
        )
        .await;
        run("ebbflow serve, memory", &memory, messages).await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let options = ebbflow_sqlite::SqliteOptions::new(dir.path().join("bench.db"));
        let sqlite = ebbflow_sqlite::SqliteBackend::open(&options).expect("open SQLite");
        let sqlite = common::serve(Arc::new(sqlite), &[("test", "test")]).await;
        run("ebbflow serve, SQLite FULL", &sqlite, messages).await;
        for (url, n) in others {
            run(&url, &url, n).await;
        }
    });
}
