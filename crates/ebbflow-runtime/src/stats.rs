//! The live figures of one worker group: plain atomics that workers bump and
//! anyone may read (progress lines, the autoscaler, the metrics listener,
//! which copies them into Prometheus at each scrape), and two latency
//! histograms.

use crate::telemetry::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one away.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sets the value.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one worker group has done so far.
///
/// Every handling of a message ends in exactly one of `succeeded`, `retried`,
/// `released`, `dead_lettered` or `failed`.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Messages received from the queue.
    pub received: Counter,
    /// Messages handled successfully (and deleted).
    pub succeeded: Counter,
    /// Attempts that failed and were retried in process.
    pub retried: Counter,
    /// Messages given back to the queue for redelivery.
    pub released: Counter,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: Counter,
    /// Messages left to their visibility timeout: their release failed, or
    /// they failed after the timeout had run out ([`crate::Outcome::Expired`]).
    pub failed: Counter,
    /// Dead-lettered messages by reason, in the order of [`DEAD_LETTER_REASONS`].
    pub dead_lettered_by_reason: [Counter; 3],
    /// Workers now running a message.
    pub busy: Gauge,
    /// Workers in the pool.
    pub workers: Gauge,
    /// The pool size the runtime aims for.
    pub desired: Gauge,
    /// Times the desired pool size went up.
    pub scaled_up: Counter,
    /// Times the desired pool size went down.
    pub scaled_down: Counter,
    /// 1 while the group's poller runs.
    pub polling: Gauge,
    /// Receives under way now (at most `RECEIVES_IN_FLIGHT`).
    pub receives_in_flight: Gauge,
    /// Delete batches under way now (at most `BATCHES_IN_FLIGHT`).
    pub delete_batches_in_flight: Gauge,
    /// Microseconds workers spent on messages, summed (the autoscaler's handler time).
    pub worker_micros: Counter,
    /// Handler attempts that succeeded.
    pub attempts_ok: Counter,
    /// Microseconds those successful attempts took, summed.
    pub attempts_ok_micros: Counter,
    /// Handler attempts that failed with a throttling error.
    pub throttled: Counter,
    /// Processes consuming the queue, this one included (1 where the engine
    /// keeps no registry of consumers).
    pub fleet_consumers: Gauge,
    /// The pool size the autoscaler aims for across the fleet.
    pub fleet_desired: Gauge,
    /// 1 while an operator has paused the queue's consumers (`ebbflow
    /// pause`), as the group last read it: it starts no receive.
    pub paused: Gauge,
    /// Worker tasks that panicked outside the handler's catch (their messages were released).
    pub task_failures: Counter,
    pub(crate) histograms: Histograms,
    /// The autoscaler's recent changes, until the history writer takes them.
    pub(crate) decisions: std::sync::Mutex<Vec<ebbflow_core::history::ScalingNote>>,
}

/// The most autoscaler changes kept between two history rollups.
pub(crate) const KEPT_DECISIONS: usize = 60;

/// Why a message was dead-lettered, as metrics label it.
pub const DEAD_LETTER_REASONS: [&str; 3] = ["permanent", "undecodable", "max_receives"];

impl GroupStats {
    /// Figures whose latencies go to these histograms.
    pub(crate) fn with_histograms(histograms: Histograms) -> Self {
        Self {
            histograms,
            ..Self::default()
        }
    }

    /// Messages that reached an outcome: succeeded, released, dead-lettered or failed.
    pub fn completed(&self) -> u64 {
        self.succeeded.get() + self.released.get() + self.dead_lettered.get() + self.failed.get()
    }

    /// Counts one handler attempt for the autoscaler's saturation check:
    /// successes with their duration, and throttling errors.
    pub(crate) fn count_attempt(
        &self,
        result: &Result<(), crate::HandlerError>,
        took: std::time::Duration,
    ) {
        match result {
            Ok(()) => {
                self.attempts_ok.inc();
                self.attempts_ok_micros.add(took.as_micros() as u64);
            }
            Err(e) if e.kind() == crate::ErrorKind::Throttled => self.throttled.inc(),
            Err(_) => {}
        }
    }

    /// Keeps an autoscaler change for the next history rollup (the oldest
    /// go past [`KEPT_DECISIONS`]).
    pub(crate) fn note_decision(&self, note: ebbflow_core::history::ScalingNote) {
        let mut notes = self
            .decisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if notes.len() >= KEPT_DECISIONS {
            notes.remove(0);
        }
        notes.push(note);
    }

    /// Puts back the changes of a rollup that could not be written, ahead
    /// of those noted since, keeping the newest [`KEPT_DECISIONS`]: a
    /// history queue that stays unwritable must not grow them without bound.
    pub(crate) fn restore_decisions(&self, older: Vec<ebbflow_core::history::ScalingNote>) {
        let mut notes = self
            .decisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let newer = std::mem::replace(&mut *notes, older);
        notes.extend(newer);
        let over = notes.len().saturating_sub(KEPT_DECISIONS);
        notes.drain(..over);
    }

    /// Counts a message dead-lettered for `reason` (one of [`DEAD_LETTER_REASONS`]).
    pub(crate) fn count_dead_lettered(&self, reason: &str) {
        self.dead_lettered.inc();
        if let Some(i) = DEAD_LETTER_REASONS.iter().position(|r| *r == reason) {
            self.dead_lettered_by_reason[i].inc();
        }
    }
}

/// Latency histograms of one group (no-ops when metrics are off).
#[derive(Debug, Default)]
pub(crate) struct Histograms {
    /// Start of processing to outcome, in seconds.
    pub(crate) process: Histogram,
    /// Send to start of processing, in seconds.
    pub(crate) queued: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow_core::history::ScalingNote;

    fn note(at_ms: u64) -> ScalingNote {
        ScalingNote {
            at_ms,
            from: 0,
            to: 1,
            reason: "backlog".into(),
            backlog: 1,
        }
    }

    /// Rollups that keep failing put their changes back each time: the
    /// newest are kept, never more than the cap (issue 38, path 8).
    #[test]
    fn changes_put_back_after_failed_writes_stay_bounded() {
        let stats = GroupStats::default();
        let mut at = 0;
        for _ in 0..10 {
            for _ in 0..KEPT_DECISIONS {
                at += 1;
                stats.note_decision(note(at));
            }
            let failed = std::mem::take(&mut *stats.decisions.lock().unwrap());
            at += 1;
            stats.note_decision(note(at));
            stats.restore_decisions(failed);
        }
        let kept = stats.decisions.lock().unwrap();
        assert_eq!(kept.len(), KEPT_DECISIONS);
        assert_eq!(kept.last().map(|n| n.at_ms), Some(at), "the newest kept");
    }
}
