//! Obeying an operator's pause (`ebbflow pause QUEUE`): each group reads its
//! queue's flag from the engine every tick and tells its poller and its
//! autoscaler through a watch. While paused the poller starts no receive
//! and the autoscaler holds the pool at its minimum; messages already in
//! hand finish and settle as usual.

use crate::stats::GroupStats;
use ebbflow_core::QueueBackend;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Starts the watch of `queue`'s pause, read every `every` until `shutdown`.
/// The receiver says whether the queue is paused now; it starts unpaused
/// and learns the flag at once.
pub(crate) fn watch(
    queue: Arc<str>,
    backend: Arc<dyn QueueBackend>,
    every: Duration,
    stats: Arc<GroupStats>,
    shutdown: CancellationToken,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Say once, not every tick, that the flag cannot be read.
        let mut unreadable = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let paused = match backend.get_queue_attributes(&queue).await {
                Ok(attributes) => {
                    unreadable = false;
                    attributes.paused
                }
                Err(e) => {
                    if !unreadable {
                        tracing::warn!(queue = %queue, error = %e, "cannot read whether the queue is paused; keeping the last state");
                    }
                    unreadable = true;
                    continue;
                }
            };
            let now = paused.is_some();
            if tx.send_if_modified(|was| std::mem::replace(was, now) != now) {
                stats.paused.set(u64::from(now));
                match &paused {
                    Some(p) => tracing::info!(
                        queue = %queue,
                        reason = p.reason.as_deref().unwrap_or(""),
                        by = p.by.as_deref().unwrap_or(""),
                        "queue paused by an operator: no new receives; messages in hand finish"
                    ),
                    None => tracing::info!(queue = %queue, "queue resumed: receiving again"),
                }
            }
        }
    });
    rx
}
