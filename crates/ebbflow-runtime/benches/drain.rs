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
//! Each engine's runtime drain is followed by what it cost per message, the
//! figures the machine's noise does not move: heap allocations (every
//! `alloc` and `realloc` of the process, counted by the global allocator),
//! context switches (voluntary and not, every thread, from `getrusage`), CPU
//! time, and calls to the engine (counted by a hook around the backend, which
//! adds one allocation per call).
//!
//! It runs on jemalloc, as the `ebbflow` binary does;
//! `EBBFLOW_BENCH_ALLOCATOR=system` runs it on the system allocator instead,
//! as a library user's own binary has it (with glibc's, the memory drain is
//! about half as fast).
//!
//! With `sealed` among the arguments, SQLite, Redis and PostgreSQL run with
//! encryption at rest on (a fresh random key; Redis in its logical database
//! 11 and PostgreSQL in a database `ebbflow_bench_sealed` made and dropped
//! here, since an engine records the ids of the keys that sealed in it).

use ebbflow_core::config::Config;
use ebbflow_core::{
    BackendCall, BackendHook, DeleteBatchEntry, Hooked, Operation, QueueAttributes, QueueBackend,
    ReceiveRequest,
};
use ebbflow_runtime::{handler_fn, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// The global allocator, counting every allocation (shared with the peer bench).
#[path = "common/counting.rs"]
mod counting;

/// Which allocator serves unless `EBBFLOW_BENCH_ALLOCATOR` names the other:
/// the `ebbflow` binary's.
const DEFAULT_ALLOCATOR: &str = "jemalloc";

/// Counts the runtime's calls to the engine, by operation.
#[derive(Default)]
struct Calls([AtomicU64; Operation::COUNT]);

impl BackendHook for Calls {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        self.0[op.index()].fetch_add(1, Ordering::Relaxed);
        call
    }
}

/// Context switches of the whole process so far (every thread, those
/// ended too), voluntary and not; 0 where `getrusage` is not.
#[cfg(not(unix))]
fn context_switches() -> u64 {
    0
}

/// Context switches of the whole process so far (every thread, those
/// ended too), voluntary and not.
#[cfg(unix)]
fn context_switches() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return 0;
    }
    // SAFETY: filled by the successful call above.
    let usage = unsafe { usage.assume_init() };
    (usage.ru_nvcsw + usage.ru_nivcsw) as u64
}

/// What a drain cost per message.
struct Costs {
    allocations: f64,
    context_switches: f64,
    calls: f64,
    receives: f64,
    delete_batches: f64,
}

const WORKERS: u32 = 32;
const ENGINE_CONSUMERS: usize = 8;

/// Four producers sending batches of ten (shared with the peer bench).
#[path = "common/fill.rs"]
mod filling;

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
    if let Err(e) = filling::fill(backend, name, count, |n| n.to_string()).await {
        panic!("fill {name}: {e}");
    }
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
    costs: Costs,
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
    let calls = Arc::new(Hooked::new(backend.clone(), Calls::default()));
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let (allocations_start, switches_start) = (
        counting::ALLOCATIONS.load(Ordering::Relaxed),
        context_switches(),
    );
    let running = match Runtime::new(config, calls.clone())
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
    let per_message = |n: u64| n as f64 / count as f64;
    let calls_of = |op: Operation| calls.hook().0[op.index()].load(Ordering::Relaxed);
    let costs = Costs {
        allocations: per_message(counting::ALLOCATIONS.load(Ordering::Relaxed) - allocations_start),
        context_switches: per_message(context_switches() - switches_start),
        calls: per_message(Operation::ALL.iter().map(|&op| calls_of(op)).sum()),
        receives: per_message(calls_of(Operation::Receive)),
        delete_batches: per_message(calls_of(Operation::DeleteBatch)),
    };
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
        costs,
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
    let c = &d.costs;
    println!(
        "{:<16} per message: {:.2} allocations, {:.3} context switches, {:.1} µs CPU, {:.3} engine calls ({:.3} receive, {:.3} delete_batch)",
        "",
        c.allocations,
        c.context_switches,
        d.cpu_micros,
        c.calls,
        c.receives,
        c.delete_batches
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
    let sealed = args.iter().any(|a| a == "sealed");
    let wanted = |engine: &str| named.is_empty() || named.contains(&engine);
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => panic!("tokio: {e}"),
    };
    println!(
        "{count} messages, {WORKERS} workers, a handler that only records the body, on {}",
        counting::name()
    );
    tokio.block_on(async {
        if wanted("memory") {
            measure(
                "memory",
                Arc::new(ebbflow_memory::MemoryBackend::new()),
                count,
            )
            .await;
        }
        let key = sealed.then(BenchKey::new);
        if wanted("sqlite") {
            sqlite(count, key.as_ref()).await;
        }
        if wanted("redis") {
            redis(count, key.as_ref()).await;
        }
        if wanted("postgres") {
            postgres(count, key.as_ref()).await;
        }
    });
}

/// A fresh random key in a file, for `sealed` runs.
struct BenchKey(std::path::PathBuf);

impl BenchKey {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("ebbflow-drain-{}.key", std::process::id()));
        let key: String = (0..32)
            .map(|_| format!("{:02x}", fastrand::u8(..)))
            .collect();
        if let Err(e) = std::fs::write(&path, key) {
            panic!("{}: {e}", path.display());
        }
        Self(path)
    }

    fn source(&self) -> ebbflow_core::seal::KeySource {
        ebbflow_core::seal::KeySource::File(self.0.clone())
    }
}

impl Drop for BenchKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn sqlite(count: u64, key: Option<&BenchKey>) {
    let dir = std::env::temp_dir().join(format!("ebbflow-drain-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut options = ebbflow_sqlite::SqliteOptions::new(dir.join("bench.db"))
        .synchronous(ebbflow_sqlite::Synchronous::Full);
    let mut name = "sqlite (FULL)";
    if let Some(key) = key {
        options = options.encryption(key.source());
        name = "sqlite (FULL, sealed)";
    }
    match ebbflow_sqlite::SqliteBackend::open(&options) {
        Ok(b) => measure(name, Arc::new(b), count).await,
        Err(e) => println!("sqlite: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn redis(count: u64, key: Option<&BenchKey>) {
    match std::env::var("EBBFLOW_TEST_REDIS_URL") {
        Ok(url) => {
            let (options, name) = match key {
                None => (ebbflow_redis::RedisOptions::new(url), "redis"),
                Some(key) => {
                    let url = format!("{}/11", url.trim_end_matches('/'));
                    (
                        ebbflow_redis::RedisOptions::new(url).encryption(key.source()),
                        "redis (sealed)",
                    )
                }
            };
            match ebbflow_redis::RedisBackend::connect(&options).await {
                Ok(b) => measure(name, Arc::new(b), count).await,
                Err(e) => println!("redis: {e}"),
            }
            if key.is_some() {
                forget_redis_keys(&options.url).await;
            }
        }
        Err(_) => println!("redis            skipped: EBBFLOW_TEST_REDIS_URL is not set"),
    }
}

/// The sealed run's key ids go from the bench's Redis database.
async fn forget_redis_keys(url: &str) {
    if let Ok(client) = redis::Client::open(url) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg("ebbflow:seal-keys")
                .query_async(&mut conn)
                .await;
        }
    }
}

/// Runs `sql` on the server's maintenance connection (`url` as given).
async fn postgres_admin(url: &str, sql: &str) {
    match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            let task = tokio::spawn(connection);
            if let Err(e) = client.batch_execute(sql).await {
                println!("postgres: {sql}: {e}");
            }
            drop(client);
            let _ = task.await;
        }
        Err(e) => println!("postgres: {e}"),
    }
}

async fn postgres(count: u64, key: Option<&BenchKey>) {
    const SEALED_DATABASE: &str = "ebbflow_bench_sealed";
    match std::env::var("EBBFLOW_TEST_POSTGRES_URL") {
        Ok(url) => {
            let (options, name) = match (key, url.rsplit_once('/')) {
                (None, _) => (ebbflow_postgres::PostgresOptions::new(&url), "postgres"),
                (Some(key), Some((base, _))) => {
                    postgres_admin(&url, &format!("CREATE DATABASE {SEALED_DATABASE}")).await;
                    (
                        ebbflow_postgres::PostgresOptions::new(format!("{base}/{SEALED_DATABASE}"))
                            .encryption(key.source()),
                        "postgres (sealed)",
                    )
                }
                (Some(_), None) => {
                    println!("postgres: {url} names no database");
                    return;
                }
            };
            match ebbflow_postgres::PostgresBackend::connect(&options).await {
                Ok(b) => {
                    measure(name, Arc::new(b), count).await;
                }
                Err(e) => println!("postgres: {e}"),
            }
            if key.is_some() {
                postgres_admin(
                    &url,
                    &format!("DROP DATABASE IF EXISTS {SEALED_DATABASE} WITH (FORCE)"),
                )
                .await;
            }
        }
        Err(_) => println!("postgres         skipped: EBBFLOW_TEST_POSTGRES_URL is not set"),
    }
}
