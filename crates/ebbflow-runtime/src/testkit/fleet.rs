//! Real fleets: worker processes (the test binary run again, see
//! [`fleet_child`]) on a shared engine, each with the autoscaler and the
//! shipped scaling defaults, take one burst; their pool sizes, sampled every
//! 100 ms, are summed to the fleet's peak.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn three_processes_size_one_fleet() {
//!     let backend = connect(URL).await;
//!     let run = fleet_run(backend, "fleet", FleetPlan { processes: 3, ..FleetPlan::default() }, "fleet_worker").await;
//!     println!("{run:?}");
//! }
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! #[ignore = "a worker process of three_processes_size_one_fleet"]
//! async fn fleet_worker() {
//!     if let Some(queue) = fleet_child_queue() { fleet_child(connect(URL).await, &queue).await }
//! }
//! ```

use crate::{handler_fn, Context, HandlerError, Runtime};
use ebbflow_core::config::Config;
use ebbflow_core::{QueueAttributes, QueueBackend, SendBatchEntry, SendMessage};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::{sleep, Instant};

/// The environment variable that tells a child what to run (JSON).
const SPEC_VAR: &str = "EBBFLOW_TEST_FLEET_RUN";

/// How often a child writes down its pool size.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The shape of a fleet run.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// Worker processes.
    pub processes: usize,
    /// Each process's `scaling.max`.
    pub max: u32,
    /// Messages sent at once, once every process runs.
    pub messages: usize,
    /// How long the handler takes.
    pub handler: Duration,
    /// How long the burst may take to drain.
    pub limit: Duration,
    /// When the burst becomes visible, from its first send: every message
    /// is sent with the delay that makes it visible then, so the processes
    /// meet the whole burst at once however fast the sender is.
    pub burst_after: Duration,
}

impl Default for FleetPlan {
    fn default() -> Self {
        Self {
            processes: 3,
            // Above what the burst asks for, so that the comparison is of
            // the autoscaler's sizing, not of the caps.
            max: 20_000,
            messages: 10_000,
            handler: Duration::from_millis(50),
            limit: Duration::from_secs(120),
            burst_after: Duration::from_secs(10),
        }
    }
}

/// What a fleet run showed.
#[derive(Debug, Clone)]
pub struct FleetRun {
    /// The largest sum of the processes' pools at one sample.
    pub peak_workers: u64,
    /// Each process's own largest pool.
    pub process_peaks: Vec<u64>,
    /// From the moment the burst became visible to an empty queue.
    pub drained_in: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Spec {
    queue: String,
    max: u32,
    handler_ms: u64,
    samples: PathBuf,
    stop: PathBuf,
}

/// The queue a fleet child should consume, when this process is one.
pub fn fleet_child_queue() -> Option<String> {
    let spec: Spec = serde_json::from_str(&std::env::var(SPEC_VAR).ok()?).ok()?;
    Some(spec.queue)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn config(queue: &str, max: u32) -> Config {
    let value = serde_json::json!({
        "metrics": {"enabled": false},
        "queues": {queue: {"visibility_timeout": "30s"}},
        // Short long polls: a child stops within a second when asked.
        "workers": {queue: {"wait_time": "1s", "scaling": {"min": 1, "max": max}}},
    });
    match serde_json::from_value::<Config>(value) {
        Ok(c) => c,
        Err(e) => panic!("the fleet run's config: {e}"),
    }
}

/// A child: runs the runtime on `queue` with the autoscaler, writing its
/// pool size every [`SAMPLE_EVERY`], until the parent asks it to stop.
pub async fn fleet_child(backend: Arc<dyn QueueBackend>, queue: &str) {
    let spec: Spec = match std::env::var(SPEC_VAR).map(|s| serde_json::from_str(&s)) {
        Ok(Ok(spec)) => spec,
        _ => panic!("{SPEC_VAR} is not a fleet run's spec"),
    };
    let handler_time = Duration::from_millis(spec.handler_ms);
    let handler = handler_fn(move |_body: String, _ctx: Context| async move {
        sleep(handler_time).await;
        Ok::<_, HandlerError>(())
    });
    let running = match Runtime::new(config(queue, spec.max), backend)
        .handler(queue, handler)
        .start()
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("the fleet child's runtime: {e}"),
    };
    let Some(stats) = running.stats(queue) else {
        panic!("no stats for {queue}")
    };
    let mut lines = String::new();
    while !spec.stop.exists() {
        lines.push_str(&format!("{} {}\n", now_ms(), stats.workers.get()));
        if let Err(e) = std::fs::write(&spec.samples, &lines) {
            panic!("{}: {e}", spec.samples.display());
        }
        sleep(SAMPLE_EVERY).await;
    }
    running.shutdown().await;
}

/// Reads a child's samples: (ms since the epoch, workers).
fn samples(path: &Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, w) = l.split_once(' ')?;
            Some((t.parse().ok()?, w.parse().ok()?))
        })
        .collect()
}

/// Runs `plan` on `queue` (created here, deleted at the end) with
/// `plan.processes` children running the ignored test `child_test`.
pub async fn fleet_run(
    backend: Arc<dyn QueueBackend>,
    queue: &str,
    plan: FleetPlan,
    child_test: &str,
) -> FleetRun {
    let dir = std::env::temp_dir().join(format!("ebbflow-fleet-{}-{queue}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    if let Err(e) = backend
        .create_queue(
            queue,
            QueueAttributes::standard().with_visibility_timeout(Duration::from_secs(30)),
        )
        .await
    {
        panic!("creating {queue}: {e}");
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("the test binary: {e}"),
    };
    let stop = dir.join("stop");
    let mut children: Vec<(Child, PathBuf)> = (0..plan.processes)
        .map(|i| {
            let spec = Spec {
                queue: queue.to_owned(),
                max: plan.max,
                handler_ms: plan.handler.as_millis() as u64,
                samples: dir.join(format!("samples-{i}")),
                stop: stop.clone(),
            };
            let json = match serde_json::to_string(&spec) {
                Ok(j) => j,
                Err(e) => panic!("{e}"),
            };
            match super::spawn_child(&exe, child_test, SPEC_VAR, &json, Stdio::inherit()) {
                Ok(c) => (c, spec.samples),
                Err(e) => panic!("starting fleet child {i}: {e}"),
            }
        })
        .collect();
    // Every child runs, and has announced itself for a few ticks.
    let started = Instant::now();
    while children.iter().any(|(_, s)| samples(s).is_empty()) {
        if started.elapsed() > Duration::from_secs(60) {
            panic!("the fleet's children did not start within 60 s");
        }
        sleep(Duration::from_millis(50)).await;
    }
    sleep(Duration::from_secs(3)).await;
    // A burst sent as fast as this process can send is a trickle on a busy
    // machine, and the pools then follow the sender's pace: the two runs
    // would compare two senders. Delayed to one moment, it is one burst.
    let visible_at = Instant::now() + plan.burst_after;
    for start in (0..plan.messages).step_by(10) {
        let delay = visible_at.saturating_duration_since(Instant::now());
        let entries = (start..(start + 10).min(plan.messages))
            .map(|i| SendBatchEntry {
                id: format!("m{}", i - start),
                message: SendMessage::new(format!("job {i}")).delay(delay),
            })
            .collect();
        if let Err(e) = backend.send_batch(queue, entries).await {
            panic!("sending the burst: {e}");
        }
    }
    if Instant::now() > visible_at {
        println!(
            "the burst took longer than {:?} to send: part of it came as a trickle",
            plan.burst_after
        );
    }
    tokio::time::sleep_until(visible_at).await;
    let burst_from = now_ms();
    let sent = Instant::now();
    loop {
        match backend.stats(queue).await {
            Ok(s) if s.total() == 0 => break,
            Ok(_) => {}
            Err(e) => panic!("stats of {queue}: {e}"),
        }
        if sent.elapsed() > plan.limit {
            panic!("the burst did not drain within {:?}", plan.limit);
        }
        sleep(Duration::from_millis(50)).await;
    }
    let drained_in = sent.elapsed();
    if let Err(e) = std::fs::write(&stop, b"stop") {
        panic!("{}: {e}", stop.display());
    }
    for (child, _) in &mut children {
        let _ = child.wait();
    }
    // The pools by 100 ms bucket, from the burst on, summed.
    let mut sums: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    let mut process_peaks = Vec::new();
    for (_, path) in &children {
        let mut mine: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
        for (t, w) in samples(path).into_iter().filter(|(t, _)| *t >= burst_from) {
            mine.insert(t / 100, w);
        }
        process_peaks.push(mine.values().copied().max().unwrap_or(0));
        for (bucket, w) in mine {
            *sums.entry(bucket).or_default() += w;
        }
    }
    let _ = backend.delete_queue(queue).await;
    let _ = std::fs::remove_dir_all(&dir);
    FleetRun {
        peak_workers: sums.values().copied().max().unwrap_or(0),
        process_peaks,
        drained_in,
    }
}

/// The check both shared engines run: one process, then three, take the
/// same burst; the three's summed pools must peak within 1.3x of the one's,
/// and every one of the three must take part. `connect` opens the engine.
pub async fn assert_one_fleet<F, Fut>(engine: &str, connect: F, child_test: &str)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn QueueBackend>>,
{
    let run = std::process::id();
    let one = FleetPlan {
        processes: 1,
        ..FleetPlan::default()
    };
    let single = fleet_run(
        connect().await,
        &format!("fleet-one-{run}"),
        one,
        child_test,
    )
    .await;
    let three = FleetPlan::default();
    let fleet = fleet_run(
        connect().await,
        &format!("fleet-three-{run}"),
        three,
        child_test,
    )
    .await;
    println!(
        "{engine}: one process peaked at {} workers (drained in {:.1} s); three at {} summed {:?} (drained in {:.1} s)",
        single.peak_workers,
        single.drained_in.as_secs_f64(),
        fleet.peak_workers,
        fleet.process_peaks,
        fleet.drained_in.as_secs_f64()
    );
    assert!(
        fleet.peak_workers as f64 <= 1.3 * single.peak_workers as f64,
        "the fleet ran {} workers at its peak, one process {}",
        fleet.peak_workers,
        single.peak_workers
    );
    assert!(
        fleet.process_peaks.iter().all(|&p| p > 1),
        "every process took a share: {:?}",
        fleet.process_peaks
    );
}
