//! How fast the whole runtime drains a queue, beside what the engine alone
//! does, on every engine that can run here.
//!
//! `cargo bench -p ebbflow-runtime --bench drain [-- MESSAGES] [ENGINE…]`
//! (default 100000 messages, every engine; ENGINE is `memory`, `sqlite`,
//! `redis` or `postgres`, to run only those). For each engine — memory; SQLite with `synchronous = FULL`;
//! Redis and PostgreSQL when `EBBFLOW_TEST_REDIS_URL` /
//! `EBBFLOW_TEST_POSTGRES_URL` are set — it pre-fills a fresh queue with
//! MESSAGES unique bodies and prints:
//!
//! - `send`: the fill's rate, four producers sending batches of ten;
//! - `engine`: receive→delete_batch by 8 concurrent consumers, ten at a
//!   time, with no runtime (the engine's own ceiling for this shape);
//! - `runtime`: the runtime with a fixed pool of 32 and a handler that only
//!   records the body, until every message is processed and the queue is
//!   empty, with the rate over the first and the last tenth, and the
//!   duplicates and missing messages it saw (both must be 0).
//!
//! It runs on jemalloc, as the `ebbflow` binary does; with glibc's allocator
//! the memory drain is about half as fast (see the README).

use ebbflow_core::config::Config;
use ebbflow_core::{
    DeleteBatchEntry, QueueAttributes, QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage,
};
use ebbflow_runtime::{handler_fn, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The allocator the `ebbflow` binary ships with (see the README's Performance section).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const WORKERS: u32 = 32;
const ENGINE_CONSUMERS: usize = 8;

async fn fill(backend: &Arc<dyn QueueBackend>, queue: &str, count: u64) {
    // Four producers: the fill is not what is measured, but should not take all day.
    let per = count.div_ceil(4);
    let mut tasks = Vec::new();
    for p in 0..4 {
        let (b, q) = (backend.clone(), queue.to_owned());
        tasks.push(tokio::spawn(async move {
            let (from, to) = (p * per, ((p + 1) * per).min(count));
            for start in (from..to).step_by(10) {
                let entries = (start..to.min(start + 10))
                    .map(|n| SendBatchEntry {
                        id: (n - start).to_string(),
                        message: SendMessage::new(n.to_string()),
                    })
                    .collect();
                match b.send_batch(&q, entries).await {
                    Ok(r) if r.failed.is_empty() => {}
                    other => panic!("send: {other:?}"),
                }
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            panic!("a producer failed: {e}");
        }
    }
}

/// Makes `name` afresh and fills it; returns the rate of the fill (four
/// producers sending batches of ten).
async fn fresh_queue(backend: &Arc<dyn QueueBackend>, name: &str, count: u64) -> f64 {
    let _ = backend.delete_queue(name).await;
    if let Err(e) = backend
        .create_queue(name, QueueAttributes::standard())
        .await
    {
        panic!("create {name}: {e}");
    }
    let start = Instant::now();
    fill(backend, name, count).await;
    count as f64 / start.elapsed().as_secs_f64()
}

/// The engine alone: receive ten, delete them in one batch, until empty.
/// Returns the rates of the fill and of the drain.
async fn engine(backend: &Arc<dyn QueueBackend>, queue: &str, count: u64) -> (f64, f64) {
    let sent = fresh_queue(backend, queue, count).await;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..ENGINE_CONSUMERS {
        let (b, q, done) = (backend.clone(), queue.to_owned(), done.clone());
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < count {
                let got = match b
                    .receive(&q, ReceiveRequest::new(10).wait(Duration::from_millis(100)))
                    .await
                {
                    Ok(got) => got,
                    Err(e) => panic!("receive: {e}"),
                };
                if got.is_empty() {
                    continue;
                }
                let n = got.len() as u64;
                let entries = DeleteBatchEntry::for_received(got);
                if let Err(e) = b.delete_batch(&q, entries).await {
                    panic!("delete: {e}");
                }
                done.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            panic!("a consumer failed: {e}");
        }
    }
    (sent, count as f64 / start.elapsed().as_secs_f64())
}

/// The process's CPU time so far (user and system, all threads), from
/// `/proc/self/stat`; zero where there is none.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every common platform.
    Duration::from_millis(ticks * 10)
}

struct Drain {
    rate: f64,
    /// CPU time of the whole process per message drained (both cores count),
    /// beside the rate: work the runtime does, not how long it waited. (On a
    /// machine other work shares, it scatters with the rate too.)
    cpu_micros: f64,
    first_tenth: f64,
    last_tenth: f64,
    duplicates: u64,
    missing: u64,
}

/// The whole runtime: poller, pool, stack, acker.
async fn runtime(backend: &Arc<dyn QueueBackend>, queue: &str, count: u64) -> Drain {
    let _ = fresh_queue(backend, queue, count).await;
    let config: Config = match serde_json::from_value(json!({
        "queues": {queue: {}},
        "workers": {queue: {"concurrency": WORKERS, "wait_time": "100ms"}},
        "metrics": {"enabled": false},
    })) {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    };
    let seen: Arc<Vec<AtomicU8>> = Arc::new((0..count).map(|_| AtomicU8::new(0)).collect());
    let processed = Arc::new(AtomicU64::new(0));
    // When each tenth was reached.
    let marks = Arc::new(Mutex::new(Vec::new()));
    let (s, p, m) = (seen.clone(), processed.clone(), marks.clone());
    let tenth = (count / 10).max(1);
    let handler = handler_fn(move |body: String, _: Context| {
        if let Some(flag) = body.parse::<usize>().ok().and_then(|i| s.get(i)) {
            flag.fetch_add(1, Ordering::Relaxed);
        }
        let n = p.fetch_add(1, Ordering::Relaxed) + 1;
        if n % tenth == 0 {
            if let Ok(mut marks) = m.lock() {
                marks.push(Instant::now());
            }
        }
        async { Ok::<_, HandlerError>(()) }
    });
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let running = match Runtime::new(config, backend.clone())
        .handler(queue, handler)
        .start()
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("start: {e}"),
    };
    while processed.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Processed is not done: the deletes must have landed too.
    loop {
        match backend.stats(queue).await {
            Ok(s) if s.total() == 0 => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(e) => panic!("stats: {e}"),
        }
    }
    let (elapsed, cpu) = (start.elapsed(), cpu_time() - cpu_start);
    running.shutdown().await;
    let (mut duplicates, mut missing) = (0, 0);
    for flag in seen.iter() {
        match flag.load(Ordering::Relaxed) {
            0 => missing += 1,
            1 => {}
            n => duplicates += u64::from(n) - 1,
        }
    }
    let marks = marks.lock().map(|m| m.clone()).unwrap_or_default();
    let rate_between = |a: Instant, b: Instant| tenth as f64 / (b - a).as_secs_f64();
    let (first_tenth, last_tenth) = match (marks.first(), marks.len()) {
        (Some(&first), n) if n >= 10 => (
            rate_between(start, first),
            rate_between(marks[n - 2], marks[n - 1]),
        ),
        _ => (f64::NAN, f64::NAN),
    };
    Drain {
        rate: count as f64 / elapsed.as_secs_f64(),
        cpu_micros: cpu.as_secs_f64() * 1e6 / count as f64,
        first_tenth,
        last_tenth,
        duplicates,
        missing,
    }
}

async fn measure(name: &str, backend: Arc<dyn QueueBackend>, count: u64) {
    let queue = format!("bench-drain-{}", std::process::id());
    let (sent, alone) = engine(&backend, &queue, count).await;
    let d = runtime(&backend, &queue, count).await;
    let _ = backend.delete_queue(&queue).await;
    println!(
        "{name:<16} send {sent:>9.0} msg/s   engine {alone:>9.0} msg/s   runtime {:>9.0} msg/s ({:>3.0} % of the engine, {:.1} µs CPU a message)   first tenth {:>9.0}  last tenth {:>9.0}   duplicates {}  missing {}",
        d.rate,
        d.rate / alone * 100.0,
        d.cpu_micros,
        d.first_tenth,
        d.last_tenth,
        d.duplicates,
        d.missing
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    // Engines named on the command line, else every one (`--bench` and the
    // like, which cargo passes, name none).
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["memory", "sqlite", "redis", "postgres"].contains(a))
        .collect();
    let wanted = |engine: &str| named.is_empty() || named.contains(&engine);
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => panic!("tokio: {e}"),
    };
    println!("{count} messages, {WORKERS} workers, a handler that only records the body");
    tokio.block_on(async {
        if wanted("memory") {
            measure(
                "memory",
                Arc::new(ebbflow_memory::MemoryBackend::new()),
                count,
            )
            .await;
        }
        if wanted("sqlite") {
            sqlite(count).await;
        }
        if wanted("redis") {
            redis(count).await;
        }
        if wanted("postgres") {
            postgres(count).await;
        }
    });
}

async fn sqlite(count: u64) {
    let dir = std::env::temp_dir().join(format!("ebbflow-drain-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let options = ebbflow_sqlite::SqliteOptions::new(dir.join("bench.db"))
        .synchronous(ebbflow_sqlite::Synchronous::Full);
    match ebbflow_sqlite::SqliteBackend::open(&options) {
        Ok(b) => measure("sqlite (FULL)", Arc::new(b), count).await,
        Err(e) => println!("sqlite: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn redis(count: u64) {
    match std::env::var("EBBFLOW_TEST_REDIS_URL") {
        Ok(url) => {
            match ebbflow_redis::RedisBackend::connect(&ebbflow_redis::RedisOptions::new(url)).await
            {
                Ok(b) => measure("redis", Arc::new(b), count).await,
                Err(e) => println!("redis: {e}"),
            }
        }
        Err(_) => println!("redis            skipped: EBBFLOW_TEST_REDIS_URL is not set"),
    }
}

async fn postgres(count: u64) {
    match std::env::var("EBBFLOW_TEST_POSTGRES_URL") {
        Ok(url) => match ebbflow_postgres::PostgresBackend::connect(
            &ebbflow_postgres::PostgresOptions::new(url),
        )
        .await
        {
            Ok(b) => measure("postgres", Arc::new(b), count).await,
            Err(e) => println!("postgres: {e}"),
        },
        Err(_) => println!("postgres         skipped: EBBFLOW_TEST_POSTGRES_URL is not set"),
    }
}
