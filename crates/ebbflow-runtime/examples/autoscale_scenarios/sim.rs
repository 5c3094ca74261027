//! One simulated run: the real runtime and autoscaler on the memory backend,
//! a synthetic handler and a load generator, all under tokio's paused clock.
//! Every random draw comes from one seeded generator on one thread, so a run
//! is the same every time.

use ebbflow_core::config::{Config, ScalingConfig};
use ebbflow_core::testkit::CallLog;
use ebbflow_core::{
    BackendCall, BackendHook, Hooked, Operation, QueueBackend, QueueError, SendBatchEntry,
    SendMessage,
};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::{handler_fn, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};

/// How long the synthetic handler takes.
#[derive(Debug, Clone, Copy)]
pub enum Latency {
    Fixed(Duration),
    /// Lognormal with this median and 99th percentile.
    LogNormal {
        median: f64,
        p99: f64,
    },
}

impl Latency {
    fn sample(self) -> Duration {
        match self {
            Latency::Fixed(d) => d,
            Latency::LogNormal { median, p99 } => {
                // z of the 99th percentile of the standard normal.
                let sigma = (p99 / median).ln() / 2.326_348;
                // Box–Muller from the seeded global generator.
                let (u1, u2) = (fastrand::f64().max(f64::MIN_POSITIVE), fastrand::f64());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                Duration::from_secs_f64(median * (sigma * z).exp())
            }
        }
    }
}

/// Arrivals per second from `start` on (until the next phase).
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub start: f64,
    pub rate: f64,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Setup {
    pub scaling: ScalingConfig,
    pub latency: Latency,
    /// The handler fails with a throttling error while more than this many run.
    pub throttle_above: Option<u32>,
    pub visibility_timeout: Duration,
    pub handler_timeout: Duration,
    /// Steady arrivals, as a list of phases.
    pub phases: Vec<Phase>,
    /// Messages sent at once at a time, in seconds.
    pub bursts: Vec<(f64, u64)>,
    /// Simulated seconds.
    pub run_for: f64,
    pub seed: u64,
    /// Worker processes (runtimes) consuming the queue, one fleet.
    pub processes: usize,
    /// One process stopped at a time, in seconds: (its index, when).
    pub stop: Option<(usize, f64)>,
    /// Whether the engine keeps a registry of consumers (Amazon SQS does not).
    pub registry: bool,
}

/// The memory engine as Amazon SQS is: no registry of consumers.
struct NoRegistry;

impl BackendHook for NoRegistry {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        if op == Operation::Announce {
            Box::pin(async {
                Err(QueueError::UnsupportedOperation {
                    backend: "sqs",
                    operation: "announce",
                })
            })
        } else {
            call
        }
    }
}

/// One sample of the pool, every [`SAMPLE_EVERY`].
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t: f64,
    pub workers: u64,
    pub busy: u64,
    pub backlog: u64,
}

pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What happened in a run.
#[derive(Debug, Default)]
pub struct Trace {
    pub samples: Vec<Sample>,
    /// Handler completions, as (time, count so far) each time one finishes.
    pub completions: Vec<f64>,
    pub handler_starts: Vec<f64>,
    pub first_throttle: Option<f64>,
    pub interrupted: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
    /// Receive calls, with their times.
    pub receives: Vec<f64>,
}

#[derive(Default)]
struct Shared {
    /// Set when the run is over: handlers stopped by the final shutdown do not count as interrupted.
    over: std::sync::atomic::AtomicBool,
    running: AtomicU32,
    interrupted: AtomicU64,
    redelivered: AtomicU64,
    events: Mutex<Events>,
}

#[derive(Default)]
struct Events {
    completions: Vec<f64>,
    starts: Vec<f64>,
    first_throttle: Option<f64>,
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Events> {
    shared.events.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks a handler run that was dropped before it finished.
struct Unfinished<'a>(&'a Shared, bool);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.1 && !self.0.over.load(Ordering::Relaxed) {
            self.0.interrupted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const QUEUE: &str = "jobs";

/// Runs `setup` to completion and returns its trace.
pub fn run(setup: Setup) -> Trace {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    fastrand::seed(setup.seed);
    rt.block_on(simulate(setup))
}

async fn simulate(setup: Setup) -> Trace {
    let epoch = Instant::now();
    let shared = Arc::new(Shared::default());
    let memory = Arc::new(MemoryBackend::new());
    // Receive calls are counted, to show how quiet an idle pool is.
    let (backend, calls) = CallLog::wrap(memory.clone());
    let backend: Arc<dyn QueueBackend> = if setup.registry {
        backend
    } else {
        Arc::new(Hooked::new(backend, NoRegistry))
    };
    let mut config: Config = serde_json::from_value(json!({
        "metrics": {"enabled": false},
        "queues": {
            "jobs-dlq": {},
            QUEUE: {
                "visibility_timeout": format!("{}s", setup.visibility_timeout.as_secs()),
                "dead_letter_queue": "jobs-dlq",
                "max_receive_count": 5,
            },
        },
        "workers": {QUEUE: {
            "handler_timeout": format!("{}s", setup.handler_timeout.as_secs()),
            "heartbeat": true,
        }},
    }))
    .expect("a valid simulation config");
    if let Some(w) = config.workers.get_mut(QUEUE) {
        w.scaling = setup.scaling.clone();
    }

    let (latency, throttle_above) = (setup.latency, setup.throttle_above);
    let make_handler = |handler_shared: Arc<Shared>| {
        handler_fn(move |_body: String, ctx: Context| {
            let shared = handler_shared.clone();
            async move {
                let now = epoch.elapsed().as_secs_f64();
                if ctx.receive_count() > 1 && ctx.attempt() == 1 {
                    shared.redelivered.fetch_add(1, Ordering::Relaxed);
                }
                let running = shared.running.fetch_add(1, Ordering::Relaxed) + 1;
                if throttle_above.is_some_and(|limit| running > limit) {
                    shared.running.fetch_sub(1, Ordering::Relaxed);
                    lock(&shared).first_throttle.get_or_insert(now);
                    return Err(HandlerError::throttled("downstream: too many requests"));
                }
                lock(&shared).starts.push(now);
                let mut guard = Unfinished(&shared, false);
                sleep(latency.sample()).await;
                guard.1 = true;
                shared.running.fetch_sub(1, Ordering::Relaxed);
                lock(&shared)
                    .completions
                    .push(epoch.elapsed().as_secs_f64());
                Ok::<_, HandlerError>(())
            }
        })
    };
    // Each process a runtime of its own on the one backend, as separate
    // machines on one engine; the handlers share one downstream.
    let mut processes = Vec::new();
    for _ in 0..setup.processes.max(1) {
        let running = Runtime::new(config.clone(), backend.clone())
            .handler(QUEUE, make_handler(shared.clone()))
            .start()
            .await
            .expect("the simulated runtime starts");
        let stats = running.stats(QUEUE).expect("the group's stats");
        processes.push(Some((running, stats)));
    }

    let end = epoch + Duration::from_secs_f64(setup.run_for);
    let load = tokio::spawn(generate(memory.clone(), setup.clone(), epoch, end));
    let mut samples = Vec::new();
    let mut next = epoch;
    let mut dead_lettered = 0;
    while next <= end {
        sleep_until(next).await;
        let t = next.duration_since(epoch).as_secs_f64();
        if let Some((i, at)) = setup.stop {
            if t >= at {
                if let Some((running, stats)) = processes.get_mut(i).and_then(Option::take) {
                    dead_lettered += stats.dead_lettered.get();
                    running.shutdown().await;
                }
            }
        }
        let backlog = memory.stats(QUEUE).await.map_or(0, |s| s.visible);
        let live = || processes.iter().flatten().map(|(_, stats)| stats);
        samples.push(Sample {
            t,
            workers: live().map(|s| s.workers.get()).sum(),
            busy: live().map(|s| s.busy.get()).sum(),
            backlog,
        });
        next += SAMPLE_EVERY;
    }
    if let Err(e) = load.await {
        eprintln!("load generator failed: {e}");
    }
    shared.over.store(true, Ordering::Relaxed);
    for (running, stats) in processes.into_iter().flatten() {
        dead_lettered += stats.dead_lettered.get();
        running.shutdown().await;
    }
    let events = std::mem::take(&mut *lock(&shared));
    Trace {
        samples,
        completions: events.completions,
        handler_starts: events.starts,
        first_throttle: events.first_throttle,
        interrupted: shared.interrupted.load(Ordering::Relaxed),
        redelivered: shared.redelivered.load(Ordering::Relaxed),
        dead_lettered,
        receives: calls
            .times(Operation::Receive)
            .iter()
            .map(|t| t.duration_since(epoch).as_secs_f64())
            .collect(),
    }
}

/// Sends the phases' steady arrivals in 10 ms slices, and the bursts; returns
/// the send times of the bursts' first messages.
async fn generate(memory: Arc<MemoryBackend>, setup: Setup, epoch: Instant, end: Instant) {
    const SLICE: Duration = Duration::from_millis(10);
    let mut owed = 0.0;
    let mut bursts = setup.bursts.clone();
    let mut at = epoch;
    let mut n: u64 = 0;
    while at < end {
        sleep_until(at).await;
        let t = at.duration_since(epoch).as_secs_f64();
        let rate = setup
            .phases
            .iter()
            .rev()
            .find(|p| p.start <= t)
            .map_or(0.0, |p| p.rate);
        owed += rate * SLICE.as_secs_f64();
        let mut count = owed.floor() as u64;
        owed -= count as f64;
        while let Some(i) = bursts.iter().position(|&(bt, _)| bt <= t) {
            count += bursts.remove(i).1;
        }
        while count > 0 {
            let chunk = count.min(10);
            let entries = (0..chunk)
                .map(|i| SendBatchEntry {
                    id: i.to_string(),
                    message: SendMessage::new(format!("job {}", n + i)),
                })
                .collect();
            if let Err(e) = memory.send_batch(QUEUE, entries).await {
                eprintln!("load generator: send failed: {e}");
            }
            n += chunk;
            count -= chunk;
        }
        at += SLICE;
    }
}
