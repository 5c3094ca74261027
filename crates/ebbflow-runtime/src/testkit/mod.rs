//! Fault runs through the whole runtime (feature `testkit`), each decided by
//! the history checker of `ebbflow_core::testkit::history`.
//!
//! Two kinds of run share one plan, one misbehaving handler and one verdict:
//!
//! - [`fault_run`]: in one test process, under tokio's paused clock. The
//!   runtime runs as a sequence of simulated processes, each but the last
//!   cut off from the queue at a random moment as if killed, while the
//!   backend fails every call now and then for a while (an outage, the
//!   heartbeat's calls included).
//! - [`kill_run`]: real worker processes (the test binary run again, see
//!   [`kill_child`]) on a shared engine, in real time, killed with SIGKILL
//!   at random moments under load and started again, several times, with a
//!   hook between kills that can restart the engine's server.
//!
//! In both, the handler misbehaves on purpose: it panics, fails and succeeds
//! on retry, fails for good, outlives the visibility timeout (the heartbeat
//! must keep the message hidden), runs past its timeout, and is throttled.
//! The history of the run — sends, receives, visibility changes, deletes,
//! handler starts and ends, kills, the dead-letter queue at the end — must
//! pass the checker, every permanent failure (and no throttled message) must
//! be in the dead-letter queue, and both queues must end empty.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn ebbflow_core::QueueBackend>) {
//! use ebbflow_runtime::testkit::{fault_run, FaultPlan};
//! let verdict = fault_run(backend, "faults", FaultPlan::default()).await;
//! verdict.assert_ok();
//! # }
//! ```

mod fleet;

/// Runs the test binary again as a child running only the ignored test
/// `child_test`, told what to do by the environment variable `var`.
fn spawn_child(
    exe: &std::path::Path,
    child_test: &str,
    var: &str,
    spec: &str,
    stderr: std::process::Stdio,
) -> std::io::Result<std::process::Child> {
    std::process::Command::new(exe)
        .args([
            child_test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(var, spec)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
}
mod in_process;
mod processes;

pub use fleet::{
    assert_fleet_pauses, assert_one_fleet, fleet_child, fleet_child_queue, fleet_run, FleetPlan,
    FleetRun,
};
pub use in_process::{fault_run, SlowDeletes};
pub use processes::{kill_child, kill_child_target, kill_run, KillPlan};

use crate::{handler_fn, Context, HandlerError};
use ebbflow_core::config::Config;
use ebbflow_core::testkit::history::{check, Event, History, Rules, Verdict};
use ebbflow_core::{QueueBackend, ReceiveRequest, SendBatchEntry, SendMessage};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::sleep;

/// Keeps the handler's deliberate panics out of a test's output (installed
/// once per test binary; every other panic is reported as usual).
pub fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.to_string().contains("on purpose") {
                default(info);
            }
        }));
    });
}

/// The shape of one fault run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Messages sent before the workers start.
    pub messages: usize,
    /// `Some(n)`: a FIFO queue with `n` message groups; `None`: a standard queue.
    pub fifo_groups: Option<usize>,
    /// The fixed pool of each incarnation.
    pub workers: usize,
    /// Runtimes in turn; all but the last are killed.
    pub incarnations: usize,
    /// Outages of the backend during the run.
    pub outages: usize,
    /// The queue's visibility timeout; every other time in the run is a multiple of it.
    pub visibility: Duration,
    /// Seeds which messages misbehave and when faults strike.
    pub seed: u64,
    /// How long the last incarnation may take to settle everything.
    pub limit: Duration,
    /// How long a well-behaved handler takes.
    pub quick: Duration,
    /// An autoscaled pool from zero (`min = 0`) instead of a fixed one: every
    /// idle spell scales it down, and messages wake it up again.
    #[serde(default)]
    pub scale_to_zero: bool,
    /// Long polls twice the visibility timeout: messages arrive late in
    /// them, and look expired if their deadline is counted from the ask.
    #[serde(default)]
    pub long_polls: bool,
    /// An engine whose deletes take this long (the in-process run only):
    /// longer than a visibility timeout, they must not let a processed
    /// message run out.
    #[serde(default)]
    pub slow_deletes: Option<Duration>,
    /// A batch handler taking up to this many messages at once (the
    /// in-process run only): its successes must settle while its throttled
    /// and failing neighbours retry, through kills and the final shutdown.
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// Runtimes per incarnation, one fleet sharing the queue's registry (the
    /// in-process run only; 0 or 1: one).
    #[serde(default)]
    pub fleet_members: usize,
    /// The fleet's `fleet_max` (with `scale_to_zero`): the live members'
    /// pools together must never exceed it, wake-ups included.
    #[serde(default)]
    pub fleet_max: Option<u32>,
}

impl FaultPlan {
    /// The second pass's situations together (issue 38): a pool scaled to
    /// zero and woken under long jobs, long polls longer than the visibility
    /// timeout, and deletes slower than it.
    pub fn second_pass() -> Self {
        let visibility = Self::default().visibility;
        Self {
            scale_to_zero: true,
            long_polls: true,
            slow_deletes: Some(visibility.mul_f64(1.5)),
            ..Self::default()
        }
    }

    /// A batch handler (ten messages a batch, four workers) whose throttled
    /// and failing messages retry beside successes.
    pub fn batches() -> Self {
        Self {
            batch_size: Some(10),
            workers: 4,
            ..Self::default()
        }
    }

    /// Three runtimes as one fleet under `fleet_max = 2`, scaled from zero,
    /// on a smaller queue (two workers at most for the whole fleet).
    pub fn fleet() -> Self {
        Self {
            messages: 120,
            fleet_members: 3,
            fleet_max: Some(2),
            scale_to_zero: true,
            ..Self::default()
        }
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            messages: 300,
            fifo_groups: None,
            workers: 8,
            incarnations: 3,
            outages: 3,
            visibility: Duration::from_secs(4),
            seed: 1,
            limit: Duration::from_secs(600),
            quick: Duration::from_millis(20),
            scale_to_zero: false,
            long_polls: false,
            slow_deletes: None,
            batch_size: None,
            fleet_members: 1,
            fleet_max: None,
        }
    }
}

/// What a message's handler does, picked from its index and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Quick,
    /// Panics on its first attempt of its first receive.
    Panics,
    /// Fails retryably on its first two attempts.
    Flaky,
    /// Fails for good: ends in the dead-letter queue as `permanent`.
    Permanent,
    /// Runs for one and a half visibility timeouts (the heartbeat must hold it).
    Long,
    /// Runs past its handler timeout on the first receive.
    Hangs,
    /// Throttled on its first three attempts.
    Throttled,
}

fn behaviour(index: usize, seed: u64) -> Behaviour {
    let roll = fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .u32(0..100);
    match roll {
        0..=4 => Behaviour::Panics,
        5..=9 => Behaviour::Flaky,
        10..=12 => Behaviour::Permanent,
        13..=15 => Behaviour::Long,
        16..=17 => Behaviour::Hangs,
        18..=22 => Behaviour::Throttled,
        _ => Behaviour::Quick,
    }
}

fn key(index: usize) -> String {
    format!("m-{index:05}")
}

fn index_of(key: &str) -> usize {
    key.strip_prefix("m-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The run's config: the queue with its dead-letter queue, a fixed pool (or
/// one scaled from zero), short times.
fn fault_config(queue: &str, dlq: &str, plan: &FaultPlan) -> Config {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let v = plan.visibility;
    let mut value = serde_json::json!({
        "metrics": {"enabled": false},
        "runtime": {"shutdown_grace": ms(v * 2)},
        "queues": {
            dlq: {},
            queue: {
                "visibility_timeout": ms(v),
                "dead_letter_queue": dlq,
                "max_receive_count": 20,
            },
        },
        "workers": {
            queue: {
                "wait_time": ms(if plan.long_polls { (v * 2).min(Duration::from_secs(20)) } else { v / 4 }),
                "handler_timeout": ms(v * 2),
                "heartbeat": true,
                "retry": {"attempts": 3, "initial_delay": ms(v / 40), "max_delay": ms(v / 4)},
            },
        },
    });
    let pool = if plan.scale_to_zero {
        serde_json::json!({"scaling": {
            "min": 0,
            "max": plan.workers.max(1),
            "tick": ms(v / 4),
            "fleet_max": plan.fleet_max,
        }})
    } else {
        serde_json::json!({"concurrency": plan.workers})
    };
    if let (Some(worker), Some(size)) = (value["workers"][queue].as_object_mut(), plan.batch_size) {
        worker.insert("batch_size".into(), size.into());
    }
    if let (Some(worker), Some(pool)) = (value["workers"][queue].as_object_mut(), pool.as_object())
    {
        worker.extend(pool.clone());
    }
    match serde_json::from_value::<Config>(value) {
        Ok(c) => c,
        Err(e) => panic!("the fault run's config: {e}"),
    }
}

/// The misbehaving handler of one incarnation. Once its process is dead it
/// never returns: a killed process records nothing more.
fn handler(
    history: History,
    dead: Arc<AtomicBool>,
    plan: FaultPlan,
) -> impl crate::Handler<Message = String> {
    handler_fn(move |body: String, ctx: Context| {
        let (history, dead, plan) = (history.clone(), dead.clone(), plan.clone());
        async move {
            // Dropped mid-way (a timeout) or unwinding (a panic): a failure.
            let end = EndOnDrop::new(&history, &ctx, &dead);
            let result = misbehave(&history, &dead, &plan, &body, &ctx).await;
            end.record(result.is_ok());
            result
        }
    })
}

/// The same as a batch handler: each message of the batch misbehaves as it
/// would alone, all at once, and a panic fails its own message only. The
/// ends recorded are the batch's results, what the runtime sees: a batch
/// dropped at its timeout records every message as failed, whatever each
/// had done.
fn batch_handler(
    history: History,
    dead: Arc<AtomicBool>,
    plan: FaultPlan,
) -> impl crate::BatchHandler<Message = String> {
    crate::batch_handler_fn(move |batch: Vec<(String, Context)>| {
        let (history, dead, plan) = (history.clone(), dead.clone(), plan.clone());
        async move {
            let ends: Vec<EndOnDrop> = batch
                .iter()
                .map(|(_, ctx)| EndOnDrop::new(&history, ctx, &dead))
                .collect();
            let runs = batch.iter().map(|(body, ctx)| {
                let one =
                    std::panic::AssertUnwindSafe(misbehave(&history, &dead, &plan, body, ctx));
                async move {
                    futures_util::FutureExt::catch_unwind(one)
                        .await
                        .unwrap_or_else(|_| Err(HandlerError::retry(format!("{body} panicked"))))
                }
            });
            let results = futures_util::future::join_all(runs).await;
            for (end, result) in ends.into_iter().zip(&results) {
                end.record(result.is_ok());
            }
            results
        }
    })
}

/// One message's handling, as its behaviour says; its start goes to
/// `history` (its end is the caller's to record). Once its process is dead it
/// never returns: a killed process records nothing more.
async fn misbehave(
    history: &History,
    dead: &AtomicBool,
    plan: &FaultPlan,
    body: &str,
    ctx: &Context,
) -> Result<(), HandlerError> {
    if dead.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    history.started(ctx.message());
    let first = ctx.receive_count() == 1;
    let v = plan.visibility;
    let result = match behaviour(index_of(body), plan.seed) {
        Behaviour::Quick => {
            sleep(plan.quick).await;
            Ok(())
        }
        Behaviour::Panics if first && ctx.attempt() == 1 => panic!("{body} panics on purpose"),
        Behaviour::Flaky if ctx.attempt() <= 2 => Err(HandlerError::retry("flaky")),
        Behaviour::Permanent => Err(HandlerError::permanent("refused for good")),
        Behaviour::Long => {
            sleep(v.mul_f64(1.5)).await;
            Ok(())
        }
        Behaviour::Hangs if first => {
            // Past handler_timeout (2 × visibility): the timeout drops this future.
            sleep(v * 3).await;
            Ok(())
        }
        Behaviour::Throttled if ctx.attempt() <= 3 => Err(HandlerError::throttled("slow down")),
        _ => Ok(()),
    };
    if dead.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    result
}

/// A handling's end: recorded as it came out with [`EndOnDrop::record`], or
/// as a failure if the handling is dropped or unwinds first — unless its
/// process is dead by then, which records nothing more.
struct EndOnDrop {
    history: History,
    ctx: Context,
    dead: Arc<AtomicBool>,
    recorded: bool,
}

impl EndOnDrop {
    fn new(history: &History, ctx: &Context, dead: &Arc<AtomicBool>) -> Self {
        Self {
            history: history.clone(),
            ctx: ctx.clone(),
            dead: dead.clone(),
            recorded: false,
        }
    }

    fn record(mut self, ok: bool) {
        self.recorded = true;
        self.history.ended(self.ctx.message(), ok);
    }
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if !self.recorded && !self.dead.load(Ordering::SeqCst) {
            self.history.ended(self.ctx.message(), false);
        }
    }
}

/// The run's two queues: the queue and its dead-letter queue.
struct Queues {
    queue: String,
    dlq: String,
}

impl Queues {
    fn new(prefix: &str, plan: &FaultPlan) -> Self {
        let suffix = if plan.fifo_groups.is_some() {
            ".fifo"
        } else {
            ""
        };
        Self {
            queue: format!("{prefix}{suffix}"),
            dlq: format!("{prefix}-dlq{suffix}"),
        }
    }

    /// Creates both queues as `config` describes them.
    async fn create(&self, backend: &dyn QueueBackend, config: &Config) {
        for name in [&self.dlq, &self.queue] {
            if let Err(e) = backend
                .create_queue(name, config.queues[name.as_str()].attributes(name))
                .await
            {
                panic!("creating {name}: {e}");
            }
        }
    }

    /// Sends the plan's messages in batches of ten through `backend` (which
    /// records them); FIFO sends go in group order.
    async fn fill(&self, backend: &dyn QueueBackend, plan: &FaultPlan) {
        let groups = plan.fifo_groups.unwrap_or(1).max(1);
        for start in (0..plan.messages).step_by(10) {
            let entries = (start..plan.messages.min(start + 10))
                .map(|i| {
                    let mut m = SendMessage::new(key(i));
                    if plan.fifo_groups.is_some() {
                        m.group_id = Some(format!("g{}", i % groups));
                        m.deduplication_id = Some(key(i));
                    }
                    SendBatchEntry {
                        id: (i - start).to_string(),
                        message: m,
                    }
                })
                .collect();
            match backend.send_batch(&self.queue, entries).await {
                Ok(r) if r.failed.is_empty() => {}
                other => panic!("sending: {other:?}"),
            }
        }
    }

    /// Reads the dead-letter queue once to the end, recording each message
    /// in `drain`, and returns their bodies.
    async fn drain_dead_letters(&self, backend: &dyn QueueBackend, drain: &History) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let got = match backend.receive(&self.dlq, ReceiveRequest::new(10)).await {
                Ok(got) => got,
                Err(e) => panic!("draining {}: {e}", self.dlq),
            };
            if got.is_empty() {
                return bodies;
            }
            for m in got {
                drain.dead_lettered(&m);
                bodies.push(m.body.clone());
                if let Err(e) = backend.delete(&self.dlq, &m.receipt_handle).await {
                    panic!("deleting from {}: {e}", self.dlq);
                }
            }
        }
    }

    /// Checks that both queues are empty, then deletes them.
    async fn remove(&self, backend: &dyn QueueBackend) {
        for q in [&self.queue, &self.dlq] {
            match backend.stats(q).await {
                Ok(s) => assert_eq!(s.total(), 0, "{q} is empty at the end: {s:?}"),
                Err(e) => panic!("stats of {q}: {e}"),
            }
            if let Err(e) = backend.delete_queue(q).await {
                panic!("deleting {q}: {e}");
            }
        }
    }
}

/// The checker's verdict on `events`, after asserting what every run must
/// show: every send acknowledged, the `crashes` kills in the history, every
/// permanent failure (and no throttled message) among `dead_letters`.
fn judge(
    queue: &str,
    events: &[Event],
    rules: Rules,
    plan: &FaultPlan,
    crashes: usize,
    dead_letters: &[String],
) -> Verdict {
    let verdict = check(events, rules);
    if verdict.shared_receives > 0 {
        println!(
            "fault run `{queue}`: {} receives handed out twice by the engine",
            verdict.shared_receives
        );
    }
    println!(
        "fault run `{queue}`: {} sent, {} processed, {} dead-lettered, {} processed twice, {} redeliveries ({} unexplained), {} crashes, {} violations",
        verdict.sent,
        verdict.processed,
        verdict.dead_lettered,
        verdict.processed_twice,
        verdict.redeliveries,
        verdict.unexplained,
        verdict.crashes,
        verdict.violations.len()
    );
    assert_eq!(verdict.sent, plan.messages, "every send acknowledged");
    assert_eq!(verdict.crashes, crashes, "the kills are in the history");
    for i in 0..plan.messages {
        let b = behaviour(i, plan.seed);
        let in_dlq = dead_letters.contains(&key(i));
        if b == Behaviour::Permanent {
            assert!(in_dlq, "{}: a permanent failure is dead-lettered", key(i));
        }
        if b == Behaviour::Throttled {
            assert!(
                !in_dlq,
                "{}: a throttled message never reaches the dead-letter queue",
                key(i)
            );
        }
    }
    verdict
}
