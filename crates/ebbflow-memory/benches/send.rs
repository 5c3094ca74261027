//! How fast concurrent producers fill a memory queue with `send_batch`.
//!
//! `cargo bench -p ebbflow-memory --bench send [-- MESSAGES]` (default
//! 1,000,000). For 1, 2, 4 and 8 producers on a two-thread runtime, each
//! sending batches of ten small bodies into a fresh queue, it prints the
//! median of three runs in messages sent a second, after one run that is not
//! counted (it pays for the process's first pages). The batches are built
//! before the clock starts: what is timed is the engine's work (ids,
//! digests, storing), not the caller's.

use ebbflow_core::{QueueAttributes, QueueBackend, SendBatchEntry, SendMessage};
use ebbflow_memory::MemoryBackend;
use std::sync::Arc;
use std::time::Instant;

const IDS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

fn batches(from: u64, to: u64) -> Vec<Vec<SendBatchEntry>> {
    (from..to)
        .step_by(10)
        .map(|start| {
            (start..to.min(start + 10))
                .zip(IDS)
                .map(|(n, id)| SendBatchEntry {
                    id: id.to_owned(),
                    message: SendMessage::new(format!(r#"{{"order_id":{n},"total_cents":12999}}"#)),
                })
                .collect()
        })
        .collect()
}

async fn run(producers: u64, count: u64) -> f64 {
    let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
    if let Err(e) = backend
        .create_queue("send", QueueAttributes::standard())
        .await
    {
        panic!("create: {e}");
    }
    let per = count.div_ceil(producers);
    let work: Vec<_> = (0..producers)
        .map(|p| batches(p * per, ((p + 1) * per).min(count)))
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|mine| {
            let backend = backend.clone();
            tokio::spawn(async move {
                for batch in mine {
                    match backend.send_batch("send", batch).await {
                        Ok(r) if r.failed.is_empty() => {}
                        other => panic!("send: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        if let Err(e) = t.await {
            panic!("a producer failed: {e}");
        }
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    match backend.stats("send").await {
        Ok(s) if s.visible == count => {}
        other => panic!("expected {count} visible: {other:?}"),
    }
    rate
}

fn main() {
    let count = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(1_000_000);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    println!("{count} messages, send_batch of ten, memory engine, 2 worker threads");
    rt.block_on(run(4, count));
    for producers in [1, 2, 4, 8] {
        let mut rates: Vec<f64> = (0..3).map(|_| rt.block_on(run(producers, count))).collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "{producers} producer(s)  {:>10.0} msg/s  (runs {:.0} to {:.0})",
            rates[1], rates[0], rates[2]
        );
    }
}
