//! The end-to-end load the engines' benchmarks time: producers send,
//! consumers receive and delete, all in batches, concurrently.

use crate::{DeleteBatchEntry, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much load, and how it is spread.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Messages in all (rounded down to a multiple of `producers`).
    pub messages: u64,
    /// Concurrent sending tasks.
    pub producers: u64,
    /// Concurrent receiving-and-deleting tasks.
    pub consumers: u64,
    /// Messages per send, receive and delete call (1–10).
    pub batch: usize,
    /// Bytes per body.
    pub body_size: usize,
}

/// Reads `--name N` from the command line, else `default` (for bench binaries).
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `load` through `queue` (which exists and is empty) until every
/// message was deleted. Returns messages per second and the time taken.
pub async fn send_receive_delete(
    backend: Arc<dyn QueueBackend>,
    queue: &str,
    load: Load,
) -> (f64, Duration) {
    let body = "x".repeat(load.body_size);
    let per_producer = load.messages / load.producers.max(1);
    let total = per_producer * load.producers.max(1);
    let batch = load.batch.clamp(1, 10);
    let deleted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..load.producers {
        let (backend, body, queue) = (backend.clone(), body.clone(), queue.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while sent < per_producer {
                let n = (per_producer - sent).min(batch as u64);
                let entries = (0..n)
                    .map(|i| SendBatchEntry {
                        id: format!("{p}-{i}"),
                        message: SendMessage::new(body.clone()),
                    })
                    .collect();
                if let Err(e) = backend.send_batch(&queue, entries).await {
                    panic!("send: {e}");
                }
                sent += n;
            }
        }));
    }
    for _ in 0..load.consumers {
        let (backend, deleted, queue) = (backend.clone(), deleted.clone(), queue.to_owned());
        tasks.push(tokio::spawn(async move {
            while deleted.load(Ordering::Relaxed) < total {
                let request = ReceiveRequest::new(batch as u32).wait(Duration::from_millis(100));
                let got = match backend.receive(&queue, request).await {
                    Ok(got) => got,
                    Err(e) => panic!("receive: {e}"),
                };
                if got.is_empty() {
                    continue;
                }
                let n = got.len() as u64;
                let entries = DeleteBatchEntry::for_received(got);
                if let Err(e) = backend.delete_batch(&queue, entries).await {
                    panic!("delete: {e}");
                }
                deleted.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            panic!("a load task failed: {e}");
        }
    }
    let elapsed = start.elapsed();
    (total as f64 / elapsed.as_secs_f64(), elapsed)
}
