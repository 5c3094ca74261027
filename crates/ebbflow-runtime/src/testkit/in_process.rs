//! Fault runs in one process, under tokio's paused clock: simulated kills
//! and outages.

use super::{batch_handler, fault_config, handler, judge, FaultPlan, Queues};
use crate::stats::GroupStats;
use crate::sync::lock;
use crate::Running;
use crate::Runtime;
use ebbflow_core::config::Config;
use ebbflow_core::testkit::history::{Clock, History, Recorded, Rules, Verdict};
use ebbflow_core::testkit::Outage;
use ebbflow_core::{BackendCall, BackendHook, Hooked, Operation, QueueBackend};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// Runs `plan` on queues named after `prefix` (created here, deleted at the
/// end) and returns the checker's verdict, after asserting the run's own
/// expectations: every send acknowledged, every permanent failure (and no
/// throttled message) in the dead-letter queue, both queues empty.
///
/// The runtime runs as `plan.incarnations` simulated processes in turn:
/// each but the last is killed at a random moment — its backend is cut off
/// for good, as a process killed with SIGKILL, and its handlers stop dead —
/// and the next one takes over. All along, the backend fails every call
/// `plan.outages` times for a while.
pub async fn fault_run(backend: Arc<dyn QueueBackend>, prefix: &str, plan: FaultPlan) -> Verdict {
    let queues = Queues::new(prefix, &plan);
    let queue = &queues.queue;
    let history = History::in_memory(Clock::Tokio);
    let engine: Arc<dyn QueueBackend> = match plan.slow_deletes {
        Some(wait) => Arc::new(Hooked::new(backend.clone(), SlowDeletes(wait))),
        None => backend.clone(),
    };
    // Each incarnation records as a worker of its own, so that the checker
    // can tell a message its dead holder left from one a live worker let go.
    let outage = Outage::default();
    let through_outage = |history: &History| -> Arc<dyn QueueBackend> {
        Arc::new(Hooked::new(
            Recorded::wrap(engine.clone(), history.clone(), queue),
            outage.clone(),
        ))
    };
    let config = fault_config(queue, &queues.dlq, &plan);
    queues.create(backend.as_ref(), &config).await;
    queues.fill(through_outage(&history).as_ref(), &plan).await;

    let faults = tokio::spawn(outages(outage.clone(), plan.clone(), history.worker(0)));
    // The live fleet's pools, summed every 50 ms: the peak must stay within `fleet_max`.
    let fleet: Arc<Mutex<Vec<Arc<GroupStats>>>> = Arc::default();
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let (fleet, peak) = (fleet.clone(), peak.clone());
        async move {
            loop {
                let workers: u64 = lock(&fleet).iter().map(|s| s.workers.get()).sum();
                peak.fetch_max(workers, Ordering::SeqCst);
                sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    for incarnation in 0..plan.incarnations {
        let worker = history.worker(incarnation as u32 + 1);
        let (cut_off, kill) = Outage::wrap(through_outage(&worker));
        let dead = Arc::new(AtomicBool::new(false));
        let mut members = Vec::new();
        for _ in 0..plan.fleet_members.max(1) {
            let running = start(&config, &cut_off, queue, &worker, &dead, &plan, incarnation).await;
            if let Some(stats) = running.stats(queue) {
                lock(&fleet).push(stats);
            }
            members.push(running);
        }
        if incarnation + 1 < plan.incarnations {
            // Long enough to be in the middle of things: messages held, some
            // heartbeats extended, deletes queued.
            sleep(plan.visibility.mul_f64(0.5 + 1.5 * rng.f64())).await;
            kill.set_down(true);
            dead.store(true, Ordering::SeqCst);
            worker.crashed();
            // Dropped without shutdown: their tasks live on, cut off from the queue.
            lock(&fleet).clear();
            drop(members);
        } else {
            settle(backend.as_ref(), queue, &outage, plan.limit).await;
            // Nothing left to run: pools that stop now count for nothing.
            sampler.abort();
            for running in members {
                running.shutdown().await;
            }
        }
    }
    if let Some(cap) = plan.fleet_max {
        let peak = peak.load(Ordering::SeqCst);
        println!(
            "fleet run `{queue}`: the live fleet's pools peaked at {peak} workers, fleet_max {cap}"
        );
        assert!(
            peak <= u64::from(cap),
            "{queue}: the live fleet ran {peak} workers, above fleet_max {cap}"
        );
    }
    faults.abort();
    outage.set_down(false);
    history.worker(0).outage_ended();

    let dead_letters = queues
        .drain_dead_letters(backend.as_ref(), &history.worker(0))
        .await;
    // Kills and outages are in the history; nothing expires on purpose. A
    // batch handler is handed a FIFO group's messages together, to run as it
    // likes: the one-at-a-time order rule is a single-message handler's.
    let rules = Rules {
        fifo: plan.fifo_groups.is_some() && plan.batch_size.is_none(),
        expiries: false,
        stale_changes: false,
        shared_receives: false,
    };
    let verdict = judge(
        queue,
        &history.events(),
        rules,
        &plan,
        plan.incarnations - 1,
        &dead_letters,
    );
    queues.remove(backend.as_ref()).await;
    verdict
}

/// Starts one runtime of `incarnation` as a supervisor would: again until
/// the backend lets it.
async fn start(
    config: &Config,
    backend: &Arc<dyn QueueBackend>,
    queue: &str,
    worker: &History,
    dead: &Arc<AtomicBool>,
    plan: &FaultPlan,
    incarnation: usize,
) -> Running {
    let mut tries = 0;
    loop {
        let runtime = Runtime::new(config.clone(), backend.clone());
        let runtime = match plan.batch_size {
            Some(_) => runtime.batch_handler(
                queue,
                batch_handler(worker.clone(), dead.clone(), plan.clone()),
            ),
            None => runtime.handler(queue, handler(worker.clone(), dead.clone(), plan.clone())),
        };
        match runtime.start().await {
            Ok(r) => return r,
            Err(e) if tries < 100 => {
                tries += 1;
                tracing::info!(error = %e, "incarnation {incarnation} could not start; again");
                sleep(plan.visibility / 8).await;
            }
            Err(e) => panic!("starting incarnation {incarnation}: {e}"),
        }
    }
}

/// Takes the backend down `plan.outages` times, for up to one visibility
/// timeout each, and says so in the history.
async fn outages(outage: Outage, plan: FaultPlan, history: History) {
    let mut rng = fastrand::Rng::with_seed(plan.seed.wrapping_add(7));
    for _ in 0..plan.outages {
        sleep(plan.visibility.mul_f64(0.5 + rng.f64())).await;
        history.outage_began();
        outage.set_down(true);
        sleep(plan.visibility.mul_f64(0.2 + 0.8 * rng.f64())).await;
        outage.set_down(false);
        history.outage_ended();
    }
}

/// Waits until the queue holds nothing: every message settled.
async fn settle(backend: &dyn QueueBackend, queue: &str, outage: &Outage, limit: Duration) {
    let end = Instant::now() + limit;
    loop {
        let empty = !outage.is_down() && backend.stats(queue).await.is_ok_and(|s| s.total() == 0);
        if empty {
            return;
        }
        assert!(
            Instant::now() < end,
            "{queue}: not settled within {limit:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

/// An engine whose deletes take `.0` before they are made (wrap a backend
/// in it with [`Hooked`]).
pub struct SlowDeletes(pub Duration);

impl BackendHook for SlowDeletes {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        match op {
            Operation::Delete | Operation::DeleteBatch => {
                let wait = self.0;
                Box::pin(async move {
                    sleep(wait).await;
                    call.await
                })
            }
            _ => call,
        }
    }
}
