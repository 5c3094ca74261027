//! Deletes processed messages in batches, several batches at once, keeping
//! each hidden until its delete lands: a slow engine must not let a
//! processed message run out and go to someone else (issue 38, path 7).

use crate::layers::{extend_due, keep_hidden, next_beat, RETRY_AFTER};
use crate::stats::GroupStats;
use crate::Context;
use ebbflow_core::{DeleteBatchEntry, QueueBackend};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, Instant};

/// How long a delete may wait for others to share its batch.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_millis(5);

const ENTRY_IDS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Delete batches in flight at once. On a network engine one batch per round
/// trip caps a group at ten deletes per round trip, whatever its pool; a few
/// at once lift that cap without flooding the engine.
pub(crate) const BATCHES_IN_FLIGHT: usize = 4;

/// Deletes waiting in the channel at most: two rounds of batches. Beyond it
/// a worker waits to hand its delete over, its heartbeat still running; a
/// long queue here would wait unheartbeated behind a slow engine.
const QUEUED_AT_MOST: usize = 2 * BATCHES_IN_FLIGHT * ENTRY_IDS.len();

/// Collects receipt handles and deletes them ten at a time, or after
/// [`FLUSH_AFTER`], whichever comes first, with up to [`BATCHES_IN_FLIGHT`]
/// batches under way; flushes everything when closed.
pub(crate) struct Acker {
    tx: mpsc::Sender<Context>,
    task: JoinHandle<()>,
}

impl Acker {
    /// `heartbeat`: whether to keep the messages hidden while their deletes
    /// wait and run (the group's `heartbeat` setting).
    pub(crate) fn spawn(
        backend: Arc<dyn QueueBackend>,
        queue: Arc<str>,
        stats: Arc<GroupStats>,
        heartbeat: bool,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUED_AT_MOST);
        let task = tokio::spawn(run(backend, queue, stats, rx, heartbeat));
        Self { tx, task }
    }

    /// A handle workers use to queue deletes.
    pub(crate) fn sender(&self) -> mpsc::Sender<Context> {
        self.tx.clone()
    }

    /// Flushes what is queued and stops, once every sender is dropped.
    pub(crate) async fn close(self) {
        drop(self.tx);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the acker task failed");
        }
    }
}

async fn run(
    backend: Arc<dyn QueueBackend>,
    queue: Arc<str>,
    stats: Arc<GroupStats>,
    mut rx: mpsc::Receiver<Context>,
    heartbeat: bool,
) {
    let mut flushing = JoinSet::new();
    // Taken from the channel, not yet in a batch under way: kept hidden here
    // while they wait for a batch to fill or for a slot.
    let mut waiting: Vec<Context> = Vec::new();
    let mut first_at = Instant::now();
    let mut beat_after = Instant::now();
    let mut open = true;
    loop {
        while flushing.len() < BATCHES_IN_FLIGHT
            && (waiting.len() >= ENTRY_IDS.len()
                || (!waiting.is_empty() && (!open || first_at + FLUSH_AFTER <= Instant::now())))
        {
            let take = waiting.len().min(ENTRY_IDS.len());
            let batch: Vec<Context> = waiting.drain(..take).collect();
            first_at = Instant::now();
            let (backend, queue) = (backend.clone(), queue.clone());
            flushing.spawn(async move {
                let handles = batch
                    .iter()
                    .map(|c| c.message().receipt_handle.clone())
                    .collect();
                let keep = if heartbeat { batch.clone() } else { Vec::new() };
                keep_hidden(keep, flush(backend.as_ref(), &queue, handles)).await;
                for ctx in &batch {
                    ctx.settle();
                }
            });
        }
        stats.delete_batches_in_flight.set(flushing.len() as u64);
        if !open && waiting.is_empty() {
            break;
        }
        // A partial batch waits out its flush delay, if a slot is free for it then.
        let partial = !waiting.is_empty()
            && waiting.len() < ENTRY_IDS.len()
            && flushing.len() < BATCHES_IN_FLIGHT;
        // What waits here is kept hidden as the heartbeat would, no sooner
        // than a second after a try that left some due.
        let beat_at = heartbeat
            .then(|| next_beat(&waiting))
            .flatten()
            .map(|at| at.max(beat_after));
        let next = tokio::select! {
            next = rx.recv(), if open && waiting.len() < QUEUED_AT_MOST => Next::Delete(next),
            ended = flushing.join_next(), if !flushing.is_empty() => {
                reap(ended);
                Next::Look
            }
            _ = sleep_until(first_at + FLUSH_AFTER), if partial => Next::Look,
            _ = sleep_until(beat_at.unwrap_or_else(Instant::now)), if beat_at.is_some() => Next::Beat,
        };
        match next {
            Next::Delete(Some(ctx)) => {
                if waiting.is_empty() {
                    first_at = Instant::now();
                }
                waiting.push(ctx);
            }
            Next::Delete(None) => open = false,
            Next::Beat => {
                extend_due(&waiting).await;
                beat_after = Instant::now() + RETRY_AFTER;
            }
            Next::Look => {}
        }
    }
    while let Some(ended) = flushing.join_next().await {
        reap(Some(ended));
    }
    stats.delete_batches_in_flight.set(0);
}

/// What woke the acker.
enum Next {
    /// A delete to queue, or `None`: every sender is gone.
    Delete(Option<Context>),
    /// A heartbeat is due for what waits here.
    Beat,
    /// A batch ended, or a partial one's delay is over.
    Look,
}

fn reap(ended: Option<Result<(), tokio::task::JoinError>>) {
    if let Some(Err(e)) = ended {
        tracing::error!(error = %e, "a delete batch task failed; its messages will be redelivered");
    }
}

/// Deletes `handles` (at most ten), trying once more after a failed call.
pub(crate) async fn flush(backend: &dyn QueueBackend, queue: &str, handles: Vec<String>) {
    let entries = |handles: &[String]| -> Vec<DeleteBatchEntry> {
        handles
            .iter()
            .zip(ENTRY_IDS)
            .map(|(receipt_handle, id)| DeleteBatchEntry {
                id: id.to_owned(),
                receipt_handle: receipt_handle.clone(),
            })
            .collect()
    };
    // One retry covers a passing backend fault; past that the message comes
    // back after its visibility timeout and is processed again (at-least-once).
    let first = backend.delete_batch(queue, entries(&handles)).await;
    let result = match first {
        Err(e) => {
            tracing::warn!(queue, error = %e, "delete batch failed; retrying once");
            tokio::time::sleep(FLUSH_AFTER).await;
            backend.delete_batch(queue, entries(&handles)).await
        }
        other => other,
    };
    match result {
        Ok(result) => {
            for failed in result.failed {
                tracing::warn!(queue, error = %failed.error, "delete failed; the message will be redelivered");
            }
        }
        Err(e) => {
            tracing::error!(queue, error = %e, count = handles.len(), "delete batch failed; these messages will be redelivered");
        }
    }
}
