//! What metrics cost the message path: the runtime drains a pre-filled memory
//! queue with a no-op handler, alternately with `[metrics] enabled` on and off.
//!
//! `cargo bench -p ebbflow-runtime --bench metrics_overhead [-- MESSAGES ROUNDS THREADS]`
//! (defaults 200000, 9 and 2 worker threads; 1 runs on a current-thread
//! runtime, which is steadier). Prints each round and the medians.

use ebbflow_core::config::Config;
use ebbflow_core::{QueueBackend, SendBatchEntry, SendMessage};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::{handler_fn, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn fill(backend: &dyn QueueBackend, count: u64) {
    let body = r#"{"id":12345,"customer":"customer-42","total_cents":1998}"#;
    for start in (0..count).step_by(10) {
        let entries = (start..count.min(start + 10))
            .map(|n| SendBatchEntry {
                id: (n - start).to_string(),
                message: SendMessage::new(body),
            })
            .collect();
        if let Err(e) = backend.send_batch("bench", entries).await {
            panic!("send: {e}");
        }
    }
}

/// CPU time the process has used so far (Linux: /proc/self/stat, 10 ms ticks).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Throughput draining `count` messages: messages per wall-clock second, and
/// CPU microseconds per message.
async fn drain(count: u64, metrics: bool) -> (f64, f64) {
    let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
    let config: Config = match serde_json::from_value(json!({
        "queues": {"bench": {}},
        "workers": {"bench": {"concurrency": 64, "wait_time": "100ms"}},
        "metrics": {"enabled": metrics, "listen": "127.0.0.1:0"},
    })) {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    };
    let runtime = Runtime::new(config, backend.clone()).handler(
        "bench",
        handler_fn(|_: String, _: Context| async { Ok::<_, HandlerError>(()) }),
    );
    // Create the queue, fill it, then start the clock when the workers start.
    backend
        .create_queue("bench", ebbflow_core::QueueAttributes::standard())
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    fill(backend.as_ref(), count).await;
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let running = runtime
        .start()
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    let stats = running.stats("bench").unwrap_or_else(|| panic!("no group"));
    while stats.succeeded.get() < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    let cpu = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / count as f64,
        _ => f64::NAN,
    };
    running.shutdown().await;
    (rate, cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let count = numbers.first().copied().unwrap_or(200_000);
    let rounds = numbers.get(1).copied().unwrap_or(9);
    let threads = numbers.get(2).copied().unwrap_or(2);
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads as usize);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio: {e}"));
    let (mut on, mut off, mut cpu_on, mut cpu_off) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which goes first, so that neither always runs on a warmer heap.
        let (with, without): ((f64, f64), (f64, f64)) = if round % 2 == 1 {
            let with = runtime.block_on(drain(count, true));
            (with, runtime.block_on(drain(count, false)))
        } else {
            let without = runtime.block_on(drain(count, false));
            (runtime.block_on(drain(count, true)), without)
        };
        println!(
            "round {round}: metrics on {:>9.0} msg/s {:>5.2} cpu-us/msg   off {:>9.0} msg/s {:>5.2} cpu-us/msg",
            with.0, with.1, without.0, without.1
        );
        on.push(with.0);
        off.push(without.0);
        cpu_on.push(with.1);
        cpu_off.push(without.1);
    }
    let (on, off) = (median(on), median(off));
    let (cpu_on, cpu_off) = (median(cpu_on), median(cpu_off));
    println!(
        "median of {rounds} rounds, {count} messages each, {threads} thread(s):\n  \
         throughput  on {on:.0} msg/s, off {off:.0} msg/s: {:.1} % lower with metrics\n  \
         CPU         on {cpu_on:.2} us/msg, off {cpu_off:.2} us/msg: {:.1} % more with metrics",
        (1.0 - on / off) * 100.0,
        (cpu_on / cpu_off - 1.0) * 100.0
    );
}
