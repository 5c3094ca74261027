//! The history writer: each interval (a minute by default), one worker
//! group's figures since the last rollup go to its queue's history queue as
//! one message ([`ebbflow_core::history::Rollup`]), and a last one when the
//! group stops, so that even a short run leaves its minute behind. The
//! dashboard draws its charts from them.
//!
//! A failed write is logged and the figures carry over to the next one:
//! history never holds up the messages themselves.

use crate::stats::GroupStats;
use ebbflow_core::config::HistoryConfig;
use ebbflow_core::history::{history_queue, Rollup};
use ebbflow_core::{QueueAttributes, QueueBackend, QueueError, SendMessage};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The counters a rollup reports the change of.
#[derive(Default, Clone)]
struct Totals {
    succeeded: u64,
    retried: u64,
    released: u64,
    dead_lettered: u64,
    failed: u64,
    latency: Vec<u64>,
}

impl Totals {
    fn now(stats: &GroupStats) -> (Self, &'static [f64]) {
        let (bounds, latency) = stats.histograms.process.counts().unwrap_or_default();
        let totals = Totals {
            succeeded: stats.succeeded.get(),
            retried: stats.retried.get(),
            released: stats.released.get(),
            dead_lettered: stats.dead_lettered.get(),
            failed: stats.failed.get(),
            latency,
        };
        (totals, bounds)
    }
}

/// Writes `queue`'s rollups every `config.interval` until `shutdown`, then
/// one last.
pub(crate) async fn run(
    queue: Arc<str>,
    backend: Arc<dyn QueueBackend>,
    stats: Arc<GroupStats>,
    config: HistoryConfig,
    shutdown: CancellationToken,
) {
    let Some(history) = history_queue(&queue) else {
        tracing::warn!(queue = %queue, "the queue's name is too long for a history queue beside it; no history is kept");
        return;
    };
    let me = crate::autoscale::consumer_id(&queue);
    let mut ready = false;
    let mut last = Totals::default();
    let mut ticks = tokio::time::interval(config.interval.0);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = ticks.tick() => false,
        };
        let (now, bounds) = Totals::now(&stats);
        let rollup = rollup(&me, &stats, &last, &now, bounds, &backend, &queue).await;
        let quiet = rollup.handled() == 0 && rollup.retried == 0 && rollup.decisions.is_empty();
        // A minute with nothing done is written only if the queue has work
        // waiting (an outage worth seeing), or as the last.
        if !quiet || rollup.visible > 0 || stopping {
            if !ready {
                ready = ensure(&*backend, &history, config.retention.0).await;
            }
            match write(&*backend, &history, &rollup).await {
                Ok(()) => last = now,
                Err(e) => {
                    tracing::warn!(queue = %queue, error = %e, "cannot write the queue's history; its figures carry over to the next rollup");
                    // Put the decisions back for the next try.
                    stats.restore_decisions(rollup.decisions);
                }
            }
        }
        if stopping {
            return;
        }
    }
}

async fn rollup(
    me: &str,
    stats: &GroupStats,
    last: &Totals,
    now: &Totals,
    bounds: &'static [f64],
    backend: &Arc<dyn QueueBackend>,
    queue: &str,
) -> Rollup {
    let at = now_ms();
    let latency_counts: Vec<u64> = now
        .latency
        .iter()
        .enumerate()
        .map(|(i, n)| n.saturating_sub(last.latency.get(i).copied().unwrap_or(0)))
        .collect();
    let decisions = std::mem::take(
        &mut *stats
            .decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let counts = backend.stats(queue).await.unwrap_or_default();
    let gauge = |g: &crate::stats::Gauge| u32::try_from(g.get()).unwrap_or(u32::MAX);
    Rollup {
        minute_ms: at - at % 60_000,
        consumer: me.to_owned(),
        succeeded: now.succeeded.saturating_sub(last.succeeded),
        retried: now.retried.saturating_sub(last.retried),
        released: now.released.saturating_sub(last.released),
        dead_lettered: now.dead_lettered.saturating_sub(last.dead_lettered),
        failed: now.failed.saturating_sub(last.failed),
        latency_bounds: if latency_counts.is_empty() {
            Vec::new()
        } else {
            bounds.to_vec()
        },
        latency_counts,
        pool: gauge(&stats.workers),
        desired: gauge(&stats.desired),
        busy: gauge(&stats.busy),
        visible: counts.visible,
        in_flight: counts.in_flight,
        delayed: counts.delayed,
        decisions,
    }
}

/// Creates the history queue, keeping messages for `retention`; whether it
/// is there now (one that exists already, with other settings, is used as
/// it is).
async fn ensure(backend: &dyn QueueBackend, history: &str, retention: Duration) -> bool {
    let attributes = QueueAttributes {
        message_retention_period: retention,
        ..QueueAttributes::standard()
    };
    match backend.create_queue(history, attributes).await {
        Ok(_) | Err(QueueError::QueueAlreadyExists(_)) => true,
        Err(e) => {
            tracing::warn!(queue = %history, error = %e, "cannot create the history queue");
            false
        }
    }
}

async fn write(
    backend: &dyn QueueBackend,
    history: &str,
    rollup: &Rollup,
) -> Result<(), QueueError> {
    let body =
        serde_json::to_string(rollup).map_err(|e| QueueError::invalid("history", e.to_string()))?;
    backend
        .send(history, SendMessage::new(body))
        .await
        .map(|_| ())
}
