//! ebbflow's runtime beside its peers, apalis and shove, on one burn-down,
//! in one run: N jobs queued, then C workers drain them with a handler that
//! decodes the JSON body (`{"id": …}`) and marks the id seen. The drain is
//! timed from the consumers' start until every job has been handled (for
//! ebbflow, until the queue is empty too: its deletes have landed), and each
//! case counts the duplicates and the missing ids. Each engine's line gives
//! its ratio to the best peer of the same engine in this run.
//!
//! ```text
//! cargo run --release --manifest-path bench/peers/Cargo.toml -- [N] [C] [ENGINE…]
//! ```
//!
//! N defaults to 100,000, C to 32; ENGINE is `memory`, `redis` or
//! `postgres` (every one by default; Redis and PostgreSQL from
//! `EBBFLOW_TEST_REDIS_URL` / `EBBFLOW_TEST_POSTGRES_URL`). Every case runs on
//! the system allocator, as a user's own binary has it;
//! `EBBFLOW_BENCH_ALLOCATOR=jemalloc` runs all of them on jemalloc.
//! The bench also prints each case's heap allocations per job.

mod apalis_cases;
mod ebbflow_cases;
mod services;
mod shove_cases;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[path = "../../../crates/ebbflow-runtime/benches/common/counting.rs"]
mod counting;

/// The allocator unless `EBBFLOW_BENCH_ALLOCATOR` names the other: the
/// system's, as a library user's binary has it.
const DEFAULT_ALLOCATOR: &str = "system";

/// The job every case queues and decodes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub id: u64,
}

/// What the handlers saw: each id's count, and how many were handled.
pub struct Tally {
    seen: Vec<AtomicU8>,
    handled: AtomicU64,
}

impl Tally {
    pub fn new(n: u64) -> Arc<Self> {
        Arc::new(Self {
            seen: (0..n).map(|_| AtomicU8::new(0)).collect(),
            handled: AtomicU64::new(0),
        })
    }

    /// A handler saw `job`.
    pub fn mark(&self, job: &Job) {
        if let Some(flag) = usize::try_from(job.id).ok().and_then(|i| self.seen.get(i)) {
            flag.fetch_add(1, Ordering::Relaxed);
        }
        self.handled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// Waits until `n` have been handled; gives up when `limit` has passed,
    /// or when nothing more has been handled for [`STALL`].
    pub async fn wait_for(&self, n: u64, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        let (mut last, mut moved) = (self.handled(), Instant::now());
        while self.handled() < n {
            let now = Instant::now();
            if now > until || now - moved > STALL {
                return false;
            }
            if self.handled() != last {
                (last, moved) = (self.handled(), now);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }

    fn duplicates_and_missing(&self) -> (u64, u64) {
        let (mut duplicates, mut missing) = (0, 0);
        for flag in &self.seen {
            match flag.load(Ordering::Relaxed) {
                0 => missing += 1,
                1 => {}
                n => duplicates += u64::from(n) - 1,
            }
        }
        (duplicates, missing)
    }
}

/// One case's drain, as the case measured it.
pub struct Drained {
    /// From the consumers' start to the last job handled (and, for ebbflow,
    /// the queue empty).
    pub took: Duration,
    /// Allocations during that time.
    pub allocations: u64,
}

/// Times a drain: `run` consumes until every job is handled (and settled,
/// where the case can tell) and returns what must be stopped after the
/// clock stops (a runtime to shut down, say), with the drain's figures.
pub async fn timed<T, F: std::future::Future<Output = Result<T, String>>>(
    run: F,
) -> Result<(Drained, T), String> {
    let (started, allocations) = (
        Instant::now(),
        counting::ALLOCATIONS.load(Ordering::Relaxed),
    );
    let rest = run.await?;
    let drained = Drained {
        took: started.elapsed(),
        allocations: counting::ALLOCATIONS.load(Ordering::Relaxed) - allocations,
    };
    Ok((drained, rest))
}

/// How long a drain may go without handling anything before the case is
/// called failed.
pub const STALL: Duration = Duration::from_secs(30);

/// How long a drain may take before the case is called failed.
pub const LIMIT: Duration = Duration::from_secs(600);

struct Row {
    framework: &'static str,
    rate: f64,
    allocations: f64,
    duplicates: u64,
    missing: u64,
}

async fn case<F, Fut>(rows: &mut Vec<Row>, framework: &'static str, n: u64, run: F)
where
    F: FnOnce(Arc<Tally>) -> Fut,
    Fut: std::future::Future<Output = Result<Drained, String>>,
{
    let tally = Tally::new(n);
    match run(tally.clone()).await {
        Ok(d) => {
            let (duplicates, missing) = tally.duplicates_and_missing();
            rows.push(Row {
                framework,
                rate: n as f64 / d.took.as_secs_f64(),
                allocations: d.allocations as f64 / n as f64,
                duplicates,
                missing,
            });
        }
        Err(e) => println!("  {framework:<22} failed: {e}"),
    }
}

fn report(engine: &str, rows: &[Row]) {
    let best_peer = rows
        .iter()
        .filter(|r| !r.framework.starts_with("ebbflow"))
        .map(|r| r.rate)
        .fold(0.0, f64::max);
    println!("{engine}:");
    for r in rows {
        let ratio = if best_peer > 0.0 {
            format!("{:.2}× the best peer", r.rate / best_peer)
        } else {
            "no peer ran".to_owned()
        };
        println!(
            "  {:<22} {:>9.0} jobs/s   {:>6.1} allocations a job   duplicates {}  missing {}   {}",
            r.framework, r.rate, r.allocations, r.duplicates, r.missing, ratio
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let n = numbers.first().copied().unwrap_or(100_000);
    let c = numbers.get(1).copied().unwrap_or(32) as u32;
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["memory", "redis", "postgres"].contains(a))
        .collect();
    let wanted = |e: &str| named.is_empty() || named.contains(&e);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    println!(
        "{n} jobs, {c} workers, a handler that decodes the JSON body, on {}",
        counting::name()
    );
    tokio.block_on(async {
        if wanted("memory") {
            let mut rows = Vec::new();
            case(&mut rows, "ebbflow memory", n, |t| {
                ebbflow_cases::memory(n, c, t)
            })
            .await;
            case(&mut rows, "apalis memory", n, |t| {
                apalis_cases::memory(n, c, t)
            })
            .await;
            case(&mut rows, "shove inmemory", n, |t| {
                shove_cases::inmemory(n, c, t)
            })
            .await;
            report("in process", &rows);
        }
        let redis = std::env::var("EBBFLOW_TEST_REDIS_URL").ok();
        if let (true, Some(url)) = (wanted("redis"), redis) {
            let mut rows = Vec::new();
            case(&mut rows, "ebbflow redis", n, |t| {
                ebbflow_cases::redis(&url, n, c, t)
            })
            .await;
            case(&mut rows, "apalis redis", n, |t| {
                apalis_cases::redis(&url, n, c, t)
            })
            .await;
            case(&mut rows, "shove redis-streams", n, |t| {
                shove_cases::redis(&url, n, c, t)
            })
            .await;
            report("Redis", &rows);
        }
        let postgres = std::env::var("EBBFLOW_TEST_POSTGRES_URL").ok();
        if let (true, Some(url)) = (wanted("postgres"), postgres) {
            let mut rows = Vec::new();
            case(&mut rows, "ebbflow postgres", n, |t| {
                ebbflow_cases::postgres(&url, n, c, t)
            })
            .await;
            case(&mut rows, "apalis postgres", n, |t| {
                apalis_cases::postgres(&url, n, c, t)
            })
            .await;
            report("PostgreSQL", &rows);
        }
    });
}
