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

/// Tasks sending a burst at once.
const SENDERS: usize = 8;

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
            burst_after: Duration::from_secs(15),
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
        lines.push_str(&format!(
            "{} {} {}\n",
            now_ms(),
            stats.workers.get(),
            stats.received.get()
        ));
        if let Err(e) = std::fs::write(&spec.samples, &lines) {
            panic!("{}: {e}", spec.samples.display());
        }
        sleep(SAMPLE_EVERY).await;
    }
    running.shutdown().await;
}

/// One line of a child's samples.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Milliseconds since the epoch.
    at: u64,
    workers: u64,
    /// Messages the child has received so far.
    received: u64,
}

/// Reads a child's samples.
fn samples(path: &Path) -> Vec<Sample> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(' ').map(str::parse::<u64>);
            Some(Sample {
                at: fields.next()?.ok()?,
                workers: fields.next()?.ok()?,
                received: fields.next()?.ok()?,
            })
        })
        .collect()
}

/// Worker processes consuming one queue, until [`Children::stop`].
struct Children {
    dir: PathBuf,
    stop: PathBuf,
    children: Vec<(Child, PathBuf)>,
}

impl Children {
    /// Creates `queue` and starts `plan.processes` children on it, running
    /// the ignored test `child_test`; returns once each has announced
    /// itself to the others for a few ticks.
    async fn start(
        backend: &dyn QueueBackend,
        queue: &str,
        plan: &FleetPlan,
        child_test: &str,
    ) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ebbflow-fleet-{}-{queue}", std::process::id()));
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
        let children: Vec<(Child, PathBuf)> = (0..plan.processes)
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
        let started = Instant::now();
        while children.iter().any(|(_, s)| samples(s).is_empty()) {
            if started.elapsed() > Duration::from_secs(60) {
                panic!("the fleet's children did not start within 60 s");
            }
            sleep(Duration::from_millis(50)).await;
        }
        sleep(Duration::from_secs(3)).await;
        Self {
            dir,
            stop,
            children,
        }
    }

    /// Each child's samples so far.
    fn samples(&self) -> Vec<Vec<Sample>> {
        self.children
            .iter()
            .map(|(_, path)| samples(path))
            .collect()
    }

    /// Asks every child to stop, waits for them, and returns their samples.
    fn stop(mut self) -> Vec<Vec<Sample>> {
        if let Err(e) = std::fs::write(&self.stop, b"stop") {
            panic!("{}: {e}", self.stop.display());
        }
        for (child, _) in &mut self.children {
            let _ = child.wait();
        }
        let all = self.samples();
        let _ = std::fs::remove_dir_all(&self.dir);
        all
    }
}

/// Runs `plan` on `queue` (created here, deleted at the end) with
/// `plan.processes` children running the ignored test `child_test`.
pub async fn fleet_run(
    backend: Arc<dyn QueueBackend>,
    queue: &str,
    plan: FleetPlan,
    child_test: &str,
) -> FleetRun {
    let children = Children::start(backend.as_ref(), queue, &plan, child_test).await;
    // A burst sent as fast as this process can send is a trickle on a busy
    // machine, and the pools then follow the sender's pace: the two runs
    // would compare two senders. Delayed to one moment, it is one burst.
    let visible_at = Instant::now() + plan.burst_after;
    // Samples count from the moment the burst is due, even when the sends
    // ran past it.
    let burst_from = now_ms() + plan.burst_after.as_millis() as u64;
    // Eight senders at once: on a busy machine one sender alone took more
    // than 10 s for 10,000 messages.
    let mut senders = tokio::task::JoinSet::new();
    let batches: Vec<usize> = (0..plan.messages).step_by(10).collect();
    for lane in batches.chunks(batches.len().div_ceil(SENDERS).max(1)) {
        let (backend, queue, lane, total) = (
            backend.clone(),
            queue.to_owned(),
            lane.to_vec(),
            plan.messages,
        );
        senders.spawn(async move {
            for start in lane {
                let delay = visible_at.saturating_duration_since(Instant::now());
                let entries = (start..(start + 10).min(total))
                    .map(|i| SendBatchEntry {
                        id: format!("m{}", i - start),
                        message: SendMessage::new(format!("job {i}")).delay(delay),
                    })
                    .collect();
                if let Err(e) = backend.send_batch(&queue, entries).await {
                    panic!("sending the burst: {e}");
                }
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        if let Err(e) = done {
            panic!("a sender: {e}");
        }
    }
    if Instant::now() > visible_at {
        println!(
            "the burst took longer than {:?} to send: part of it came as a trickle",
            plan.burst_after
        );
    }
    tokio::time::sleep_until(visible_at).await;
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
    // The pools by 100 ms bucket, from the burst on, summed.
    let mut sums: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    let mut process_peaks = Vec::new();
    for child in children.stop() {
        let mut mine: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
        for sample in child.into_iter().filter(|s| s.at >= burst_from) {
            mine.insert(sample.at / 100, sample.workers);
        }
        process_peaks.push(mine.values().copied().max().unwrap_or(0));
        for (bucket, w) in mine {
            *sums.entry(bucket).or_default() += w;
        }
    }
    let _ = backend.delete_queue(queue).await;
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

/// Sets or clears the pause of `queue`, as `ebbflow pause`/`resume` do.
async fn set_pause(backend: &dyn QueueBackend, queue: &str, pause: bool) {
    let flag = pause.then(
        || match ebbflow_core::Pause::new(Some("fleet test".into()), None) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        },
    );
    let update = ebbflow_core::QueueAttributesUpdate {
        pause: Some(flag),
        ..Default::default()
    };
    if let Err(e) = backend.set_queue_attributes(queue, update).await {
        panic!("pausing {queue}: {e}");
    }
}

/// The latest sample of each child at or before `at`.
fn as_of(all: &[Vec<Sample>], at: u64) -> Vec<Sample> {
    all.iter()
        .map(|child| {
            child
                .iter()
                .rev()
                .find(|s| s.at <= at)
                .copied()
                .unwrap_or(Sample {
                    at,
                    workers: 0,
                    received: 0,
                })
        })
        .collect()
}

/// Issue 35 on a shared engine: three processes consume a queue with a
/// backlog; one pause, set in the engine as `ebbflow pause` sets it, stops
/// every one of them from receiving within a tick (1 s, allowed 1.5 s on a
/// busy machine) and brings each pool to its minimum while the backlog
/// waits; the resume has each of them receiving again within a tick.
pub async fn assert_fleet_pauses<F, Fut>(engine: &str, connect: F, child_test: &str)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn QueueBackend>>,
{
    const TICK_MS: u64 = 1_000;
    const SLACK_MS: u64 = 1_500;
    let backend = connect().await;
    let queue = format!("fleet-pause-{}", std::process::id());
    // Four workers a process at most, 200 ms a message: 60 a second for
    // the fleet, so that 1,200 last well past the pause.
    let plan = FleetPlan {
        max: 4,
        handler: Duration::from_millis(200),
        messages: 1_200,
        ..FleetPlan::default()
    };
    let children = Children::start(backend.as_ref(), &queue, &plan, child_test).await;
    for start in (0..plan.messages).step_by(10) {
        let entries = (start..(start + 10).min(plan.messages))
            .map(|i| SendBatchEntry {
                id: format!("m{}", i - start),
                message: SendMessage::new(format!("job {i}")),
            })
            .collect();
        if let Err(e) = backend.send_batch(&queue, entries).await {
            panic!("sending: {e}");
        }
    }
    sleep(Duration::from_secs(2)).await;
    set_pause(backend.as_ref(), &queue, true).await;
    let paused_at = now_ms();
    sleep(Duration::from_millis(TICK_MS + SLACK_MS + 3_000)).await;
    let left = match backend.stats(&queue).await {
        Ok(s) => s,
        Err(e) => panic!("stats of {queue}: {e}"),
    };
    set_pause(backend.as_ref(), &queue, false).await;
    let resumed_at = now_ms();
    sleep(Duration::from_millis(TICK_MS + SLACK_MS + 500)).await;
    let all = children.stop();
    let _ = backend.delete_queue(&queue).await;

    let settled = as_of(&all, paused_at + TICK_MS + SLACK_MS);
    let before_resume = as_of(&all, resumed_at);
    let after_resume = as_of(&all, resumed_at + TICK_MS + SLACK_MS);
    let received = |s: &[Sample]| s.iter().map(|s| s.received).collect::<Vec<_>>();
    let workers = |s: &[Sample]| s.iter().map(|s| s.workers).collect::<Vec<_>>();
    println!(
        "{engine}: received by each at the pause + {} ms {:?}, at the resume {:?} (pools {:?}; {} messages waiting), {} ms after it {:?}",
        TICK_MS + SLACK_MS,
        received(&settled),
        received(&before_resume),
        workers(&before_resume),
        left.visible,
        TICK_MS + SLACK_MS,
        received(&after_resume),
    );
    assert!(
        received(&settled).iter().all(|&r| r > 0),
        "every process took part before the pause: {:?}",
        received(&settled)
    );
    assert_eq!(
        received(&settled),
        received(&before_resume),
        "no process received after the pause's tick"
    );
    assert!(left.visible > 0, "the backlog waited: {left:?}");
    assert_eq!(
        workers(&before_resume),
        vec![1; plan.processes],
        "each pool at its minimum while paused"
    );
    assert!(
        received(&after_resume)
            .iter()
            .zip(received(&before_resume))
            .all(|(after, before)| *after > before),
        "every process received again within a tick of the resume: {:?} then {:?}",
        received(&before_resume),
        received(&after_resume)
    );
}
