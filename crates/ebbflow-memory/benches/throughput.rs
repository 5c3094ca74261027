//! send → receive → delete in batches of 10, through the `QueueBackend` trait.
//!
//! `cargo bench -p ebbflow-memory`. Throughput is reported in messages per
//! second (one element = one message sent, received and deleted).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ebbflow_core::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage,
};
use ebbflow_memory::MemoryBackend;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batch entry ids, made once: the caller's cost of `format!` is not the backend's.
const IDS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const BODY: &str = r#"{"order_id":"A-1042","customer":"c-77","total_cents":12999}"#;

fn batch() -> Vec<SendBatchEntry> {
    (0..10)
        .map(|i| SendBatchEntry {
            id: IDS[i].to_owned(),
            message: SendMessage::new(BODY),
        })
        .collect()
}

/// Sends `entries`, then receives and deletes until all are gone; returns how many were deleted.
async fn round_trip(
    backend: &dyn QueueBackend,
    queue: &str,
    entries: Vec<SendBatchEntry>,
) -> usize {
    let sent = backend
        .send_batch(queue, entries)
        .await
        .expect("send batch");
    assert_eq!(sent.successful.len(), 10);
    let mut deleted = 0;
    while deleted < 10 {
        let got = backend
            .receive(queue, ReceiveRequest::new(10))
            .await
            .expect("receive");
        let entries = got
            .into_iter()
            .enumerate()
            .map(|(i, m)| DeleteBatchEntry {
                id: IDS[i].to_owned(),
                receipt_handle: m.receipt_handle,
            })
            .collect::<Vec<_>>();
        deleted += entries.len();
        backend
            .delete_batch(queue, entries)
            .await
            .expect("delete batch");
    }
    deleted
}

fn single_task(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backend = MemoryBackend::new();
    for fifo in [false, true] {
        let (queue, attrs) = if fifo {
            (
                "bench.fifo",
                QueueAttributes::fifo().with_content_based_deduplication(true),
            )
        } else {
            ("bench", QueueAttributes::standard())
        };
        rt.block_on(backend.create_queue(queue, attrs))
            .expect("create");
        let mut group = c.benchmark_group("memory/send-receive-delete/batch10");
        group.throughput(Throughput::Elements(10));
        let counter = std::cell::Cell::new(0u64);
        // FIFO sends need a group id, and distinct bodies, or content-based dedup drops them.
        let entries = || -> Vec<SendBatchEntry> {
            if !fifo {
                return batch();
            }
            (0..10)
                .map(|i| {
                    let n = counter.get();
                    counter.set(n + 1);
                    SendBatchEntry {
                        id: IDS[i].to_owned(),
                        message: SendMessage::new(format!("{BODY}{n}"))
                            .group_id(format!("g{}", n % 4)),
                    }
                })
                .collect()
        };
        let kind = if fifo { "fifo" } else { "standard" };
        group.bench_function(BenchmarkId::new("single-task", kind), |b| {
            b.to_async(&rt)
                .iter(|| round_trip(&backend, queue, entries()))
        });
        group.finish();
    }
}

/// Producers and consumers on two worker threads, as a real deployment runs them.
fn concurrent(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("memory/send-receive-delete/batch10");
    group.throughput(Throughput::Elements(100_000));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for tasks in [2usize, 4] {
        group.bench_function(
            BenchmarkId::new("concurrent", format!("{tasks}p{tasks}c")),
            |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
                            backend
                                .create_queue("bench", QueueAttributes::standard())
                                .await
                                .expect("create");
                            let per_producer = 100_000 / 10 / tasks;
                            let start = Instant::now();
                            let mut handles = Vec::new();
                            for _ in 0..tasks {
                                let b = backend.clone();
                                handles.push(tokio::spawn(async move {
                                    for _ in 0..per_producer {
                                        b.send_batch("bench", batch()).await.expect("send");
                                    }
                                    0usize
                                }));
                            }
                            let consumed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                            for _ in 0..tasks {
                                let (b, consumed) = (backend.clone(), consumed.clone());
                                handles.push(tokio::spawn(async move {
                                    let mut mine = 0;
                                    while consumed.load(std::sync::atomic::Ordering::Relaxed)
                                        < 100_000
                                    {
                                        let got = b
                                            .receive(
                                                "bench",
                                                ReceiveRequest::new(10)
                                                    .wait(Duration::from_millis(50)),
                                            )
                                            .await
                                            .expect("receive");
                                        if got.is_empty() {
                                            continue;
                                        }
                                        let n = got.len();
                                        let del = got
                                            .into_iter()
                                            .enumerate()
                                            .map(|(i, m)| DeleteBatchEntry {
                                                id: IDS[i].to_owned(),
                                                receipt_handle: m.receipt_handle,
                                            })
                                            .collect();
                                        b.delete_batch("bench", del).await.expect("delete");
                                        consumed.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                                        mine += n;
                                    }
                                    mine
                                }));
                            }
                            for h in handles {
                                h.await.expect("task");
                            }
                            total += start.elapsed();
                        }
                        total
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, single_task, concurrent);
criterion_main!(benches);
