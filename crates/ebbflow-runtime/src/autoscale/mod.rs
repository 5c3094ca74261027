//! Autoscaling: each worker group's pool follows its queue's backlog.
//!
//! Every tick ([`ScalingConfig::tick`]) the controller reads the queue's
//! stats and the pool's own figures, asks the [`policy`] for a size, and
//! resizes the [`pool`], which retires idle workers only. Each change is
//! logged at `info` with the inputs that caused it; holds are logged at
//! `debug`.

pub(crate) mod policy;
pub(crate) mod pool;

use crate::stats::GroupStats;
use ebbflow_core::config::{BacklogCount, ScalingConfig};
use ebbflow_core::{QueueBackend, QueueStats};
use policy::{Autoscaler, Decision, Observation};
use pool::Pool;
use std::sync::Arc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Resizes `pool` every tick until `shutdown`.
pub(crate) async fn run(
    queue: Arc<str>,
    rules: ScalingConfig,
    backend: Arc<dyn QueueBackend>,
    pool: Arc<Pool>,
    stats: Arc<GroupStats>,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(rules.tick.0);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let backlog = rules.backlog.clone();
    let mut scaler = Autoscaler::new(rules);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let queue_stats = match backend.stats(&queue).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(queue = %queue, error = %e, "autoscaler cannot read the queue's stats; keeping the pool as it is");
                continue;
            }
        };
        let observation = observe(&queue_stats, &backlog, &stats);
        let decision = scaler.decide(observation, pool.desired());
        log(&queue, &decision);
        if decision.desired != decision.previous {
            pool.resize(decision.desired);
        }
    }
}

/// What the queue and the pool show now.
fn observe(queue: &QueueStats, backlog: &[BacklogCount], stats: &GroupStats) -> Observation {
    let backlog = backlog
        .iter()
        .map(|count| match count {
            BacklogCount::Visible => queue.visible,
            BacklogCount::Delayed => queue.delayed,
            BacklogCount::InFlight => queue.in_flight,
        })
        .sum();
    Observation {
        at: Instant::now(),
        backlog,
        visible: queue.visible,
        busy: u32::try_from(stats.busy.get()).unwrap_or(u32::MAX),
        received: stats.received.get(),
        completed: stats.completed(),
        worker_micros: stats.worker_micros.get(),
        attempts_ok: stats.attempts_ok.get(),
        attempts_ok_micros: stats.attempts_ok_micros.get(),
        throttled: stats.throttled.get(),
    }
}

/// One decision as a log event at `$level`: the sizes and the inputs behind them.
macro_rules! decision_event {
    ($level:expr, $queue:expr, $d:expr, $message:literal) => {
        tracing::event!(
            $level,
            queue = $queue,
            from = $d.previous,
            to = $d.desired,
            reason = $d.why.as_str(),
            recommended = $d.recommended,
            backlog = $d.backlog,
            busy = $d.busy,
            arrivals_per_s = ($d.arrival_rate * 10.0).round() / 10.0,
            service_ms = $d.service_time.map(|s| (s * 1e3).round() as u64),
            ceiling = $d.ceiling,
            $message
        )
    };
}

/// Changes at `info`, holds at `debug`.
fn log(queue: &str, d: &Decision) {
    if d.desired != d.previous {
        decision_event!(
            tracing::Level::INFO,
            queue,
            d,
            "autoscaler resized the pool"
        );
    } else {
        decision_event!(tracing::Level::DEBUG, queue, d, "autoscaler kept the pool");
    }
}
