//! Dead letters back to where they failed, on any backend: the one redrive
//! that `ebbflow redrive`, `ebbflow serve`'s message-move tasks and the
//! dashboard share.
//!
//! Each message moves on its own: received from the dead-letter queue (hidden
//! there meanwhile), sent to its destination, then deleted from the
//! dead-letter queue. A stop ([`Progress::stop`]) is looked at between
//! messages only, so a stopped redrive leaves every message in exactly one of
//! the two queues. Messages left alone (filtered out, or with no known
//! source) are hidden while the redrive runs, so that it reaches the end, and
//! made visible again when it ends, whichever way it ends.
//!
//! ```
//! # async fn demo(backend: &dyn ebbflow_core::QueueBackend) -> Result<(), ebbflow_redrive::RedriveError> {
//! use ebbflow_redrive::{Progress, Redrive};
//! let redrive = Redrive {
//!     filters: vec!["reason=permanent".parse().expect("a NAME=VALUE filter")],
//!     rate: Some(100.0),
//!     ..Redrive::default()
//! };
//! let report = redrive.run(backend, "orders-dlq", &Progress::default()).await?;
//! println!("moved {}", report.moved());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod dead_letter;
mod filter;

pub use dead_letter::{DeadLetter, DEAD_LETTER_ATTRIBUTES};
pub use filter::{Filter, FilterError};

use ebbflow_core::limits::MAX_BATCH_ENTRIES;
use ebbflow_core::{
    ChangeVisibilityBatchEntry, QueueBackend, QueueError, ReceiveRequest, ReceivedMessage,
    SendMessage,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Redrives (and message-move tasks) one process runs at once: each holds
/// a task and backend calls, so a client cannot start them without end.
pub const MAX_RUNNING: usize = 16;

/// The slowest rate a redrive takes: one message every 100 seconds.
pub const MIN_RATE: f64 = 0.01;

/// The fastest rate a redrive takes, in messages per second.
pub const MAX_RATE: f64 = 100_000.0;

/// Checks a rate in messages per second: a number from [`MIN_RATE`] to
/// [`MAX_RATE`] (a rate such as `1e-300` would make a pause longer than any
/// clock can hold).
///
/// ```
/// assert!(ebbflow_redrive::check_rate(50.0).is_ok());
/// assert!(ebbflow_redrive::check_rate(1e-300).is_err());
/// assert!(ebbflow_redrive::check_rate(f64::NAN).is_err());
/// ```
pub fn check_rate(rate: f64) -> Result<(), String> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "`{rate}`: a number of messages per second from {MIN_RATE} to {MAX_RATE}"
        ))
    }
}

/// What to move, where, and how fast.
#[derive(Debug, Clone)]
pub struct Redrive {
    /// The destination of every message; `None` sends each back to its source.
    pub to: Option<String>,
    /// Messages per second at most; `None` moves as fast as the backend goes.
    pub rate: Option<f64>,
    /// Only messages matching every filter move.
    pub filters: Vec<Filter>,
    /// How long a received message stays hidden in the dead-letter queue
    /// while it is moved (and while it is left alone, until the end).
    pub visibility: Duration,
}

impl Default for Redrive {
    fn default() -> Self {
        Self {
            to: None,
            rate: None,
            filters: Vec::new(),
            visibility: Duration::from_secs(300),
        }
    }
}

/// Counts a redrive under way publishes, and the stop it obeys; shared with
/// whoever watches it (a progress bar, a message-move task's listing).
#[derive(Debug, Default)]
pub struct Progress {
    moved: AtomicU64,
    left_alone: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

impl Progress {
    /// Messages moved so far.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Messages left in the dead-letter queue so far (filtered out, no source).
    pub fn left_alone(&self) -> u64 {
        self.left_alone.load(Ordering::Relaxed)
    }

    /// Messages that could not be sent so far (they stay in the dead-letter queue).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Asks the redrive to stop after the message under way.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages moved, by destination queue.
    pub moved_to: BTreeMap<String, u64>,
    /// Messages that did not match the filters.
    pub filtered_out: u64,
    /// Messages with no known source queue (and no `to`).
    pub no_source: u64,
    /// Messages that could not be sent, with why: they stay in the dead-letter queue.
    pub failed: Vec<(String, String)>,
    /// Messages sent whose delete from the dead-letter queue failed (their
    /// visibility ran out first): they are in both queues.
    pub in_both_queues: Vec<String>,
    /// Whether it ended because a stop was asked for.
    pub stopped: bool,
}

impl Report {
    /// Messages moved, to every destination.
    pub fn moved(&self) -> u64 {
        self.moved_to.values().sum()
    }
}

/// A backend call that failed, and what the redrive was doing.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct RedriveError {
    /// What the redrive was doing, naming the queue.
    pub context: String,
    /// The backend's error.
    #[source]
    pub source: QueueError,
}

fn context<T>(
    result: Result<T, QueueError>,
    what: impl FnOnce() -> String,
) -> Result<T, RedriveError> {
    result.map_err(|source| RedriveError {
        context: what(),
        source,
    })
}

/// The pause between two messages at `rate` per second (checked by
/// [`check_rate`]); `None` for no limit.
fn pause_at(rate: Option<f64>) -> Option<Duration> {
    rate.and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok())
}

impl Redrive {
    /// Moves the messages of `dlq`, publishing counts in `progress`, and
    /// makes the messages it left alone visible again before it returns.
    pub async fn run(
        &self,
        backend: &dyn QueueBackend,
        dlq: &str,
        progress: &Progress,
    ) -> Result<Report, RedriveError> {
        if let Some(rate) = self.rate {
            context(
                check_rate(rate).map_err(|why| QueueError::invalid("rate", why)),
                || format!("redriving {dlq}"),
            )?;
        }
        if self.to.as_deref() == Some(dlq) {
            return Err(RedriveError {
                context: format!("redriving {dlq}"),
                source: QueueError::invalid(
                    "to",
                    "a redrive cannot move messages into the queue they come from",
                ),
            });
        }
        let mut held = HashMap::new();
        let mut report = Report::default();
        let moved = self
            .move_all(backend, dlq, progress, &mut held, &mut report)
            .await;
        let released = release(backend, dlq, held.into_values().collect()).await;
        moved?;
        released?;
        Ok(report)
    }

    async fn move_all(
        &self,
        b: &dyn QueueBackend,
        dlq: &str,
        progress: &Progress,
        held: &mut HashMap<String, String>,
        report: &mut Report,
    ) -> Result<(), RedriveError> {
        let sources = context(b.list_dead_letter_source_queues(dlq).await, || {
            format!("reading queue {dlq}")
        })?;
        let pause = pause_at(self.rate);
        let mut fifo_of: HashMap<String, bool> = HashMap::new();
        let mut hold = |m: &ReceivedMessage| {
            held.insert(m.message_id.clone(), m.receipt_handle.clone());
        };
        loop {
            if progress.stop_requested() {
                report.stopped = true;
                return Ok(());
            }
            let request = ReceiveRequest::new(MAX_BATCH_ENTRIES as u32)
                .visibility_timeout(self.visibility)
                .wait(Duration::ZERO);
            let got = context(b.receive(dlq, request).await, || {
                format!("receiving from {dlq}")
            })?;
            if got.is_empty() {
                return Ok(());
            }
            for (i, m) in got.iter().enumerate() {
                if progress.stop_requested() {
                    // Not started: these stay in the dead-letter queue.
                    got[i..].iter().for_each(&mut hold);
                    report.stopped = true;
                    return Ok(());
                }
                let why = DeadLetter::of_message(m);
                if !self.filters.iter().all(|f| f.matches(m, &why)) {
                    report.filtered_out += 1;
                    progress.left_alone.fetch_add(1, Ordering::Relaxed);
                    hold(m);
                    continue;
                }
                // Back to where it came from, but only to a queue that
                // dead-letters here (when the engine knows any), and never
                // into this queue itself.
                let recorded = why
                    .source
                    .as_ref()
                    .filter(|s| s.as_str() != dlq)
                    .filter(|s| sources.is_empty() || sources.contains(s));
                let destination = match (&self.to, recorded, sources.as_slice()) {
                    (Some(to), _, _) => to.clone(),
                    (None, Some(source), _) => source.clone(),
                    (None, None, [only]) if only != dlq => only.clone(),
                    (None, None, _) => {
                        report.no_source += 1;
                        progress.left_alone.fetch_add(1, Ordering::Relaxed);
                        hold(m);
                        continue;
                    }
                };
                let fifo = match fifo_of.get(&destination) {
                    Some(fifo) => *fifo,
                    None => {
                        let attrs = context(b.get_queue_attributes(&destination).await, || {
                            format!("reading queue {destination}")
                        })?;
                        fifo_of.insert(destination.clone(), attrs.fifo);
                        attrs.fifo
                    }
                };
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
                if let Err(e) = b.send(&destination, resend(m, fifo)).await {
                    report.failed.push((
                        m.message_id.clone(),
                        format!("sending to {destination}: {e}"),
                    ));
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    hold(m);
                    continue;
                }
                if let Err(e) = b.delete(dlq, &m.receipt_handle).await {
                    report
                        .in_both_queues
                        .push(format!("{} ({e})", m.message_id));
                }
                *report.moved_to.entry(destination).or_default() += 1;
                progress.moved.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The message as it was first sent: without the attributes the runtime
/// added when it dead-lettered it, and, on a FIFO destination, in its group.
fn resend(m: &ReceivedMessage, fifo: bool) -> SendMessage {
    let mut message = SendMessage {
        body: m.body.clone(),
        attributes: m.attributes.clone(),
        trace_header: m.system.aws_trace_header.clone(),
        ..SendMessage::default()
    };
    message
        .attributes
        .retain(|name, _| !DEAD_LETTER_ATTRIBUTES.contains(&name.as_str()));
    if fifo {
        message.group_id = Some(
            m.system
                .message_group_id
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
        );
        // A fresh id: the original one may still be inside the destination's
        // five-minute window, which would drop the message as a duplicate.
        message.deduplication_id = Some(format!("redrive-{}", m.message_id));
    }
    message
}

/// Makes the messages behind `handles` visible again in `queue` now. A
/// handle that expired meanwhile is no error: its message is visible already.
///
/// ```
/// # async fn demo(backend: &dyn ebbflow_core::QueueBackend, handles: Vec<String>) -> Result<(), ebbflow_redrive::RedriveError> {
/// ebbflow_redrive::release(backend, "orders-dlq", handles).await?;
/// # Ok(()) }
/// ```
pub async fn release(
    backend: &dyn QueueBackend,
    queue: &str,
    handles: Vec<String>,
) -> Result<(), RedriveError> {
    for chunk in handles.chunks(MAX_BATCH_ENTRIES) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, handle)| ChangeVisibilityBatchEntry {
                id: format!("h{i}"),
                receipt_handle: handle.clone(),
                visibility_timeout: Duration::ZERO,
            })
            .collect();
        match backend.change_visibility_batch(queue, entries).await {
            Ok(_) | Err(QueueError::ReceiptHandleIsInvalid(_)) => {}
            Err(source) => {
                return Err(RedriveError {
                    context: format!(
                        "making messages visible again in {queue} (they return by themselves when their visibility timeout ends)"
                    ),
                    source,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
