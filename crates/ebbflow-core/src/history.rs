//! A queue's history: one [`Rollup`] a minute from each worker process,
//! kept in the backend itself as messages of a companion queue
//! ([`history_queue`]) whose retention is the history's length. The runtime
//! writes them (`[history]` in the configuration); the dashboard reads them
//! with the browse verb and draws its charts from them.
//!
//! Keeping them as messages needs no new storage in any engine, and the
//! engine's retention drops the old ones. What it costs: one message of
//! about 600 bytes a minute per worker process per queue, so about
//! 0.9 MB a day, or 1.7 MB for the default two days, per process and queue.

use serde::{Deserialize, Serialize};

/// The prefix of every history queue's name.
pub const HISTORY_PREFIX: &str = "ebbflow_history__";

/// The longest queue name SQS takes.
const MAX_QUEUE_NAME: usize = 80;

/// The name of `queue`'s history queue (a standard queue, whatever `queue`
/// is); `None` for a name too long to take the prefix, or for a history
/// queue itself.
///
/// ```
/// use ebbflow_core::history::history_queue;
/// assert_eq!(history_queue("orders").as_deref(), Some("ebbflow_history__orders"));
/// assert_eq!(history_queue("jobs.fifo").as_deref(), Some("ebbflow_history__jobs_fifo"));
/// assert_eq!(history_queue("ebbflow_history__orders"), None);
/// ```
pub fn history_queue(queue: &str) -> Option<String> {
    if is_history_queue(queue) {
        return None;
    }
    let stem = match queue.strip_suffix(".fifo") {
        Some(stem) => format!("{stem}_fifo"),
        None => queue.to_owned(),
    };
    let name = format!("{HISTORY_PREFIX}{stem}");
    (name.len() <= MAX_QUEUE_NAME).then_some(name)
}

/// Whether `name` is a history queue (listings leave them out).
pub fn is_history_queue(name: &str) -> bool {
    name.starts_with(HISTORY_PREFIX)
}

/// A change of the pool size the autoscaler made, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingNote {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// The fleet's size before (this process's where no registry tells).
    pub from: u32,
    /// The size it aims for now.
    pub to: u32,
    /// The rule that decided it, as the log says it.
    pub reason: String,
    /// The backlog it saw.
    pub backlog: u64,
}

/// One worker process's minute on one queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// The minute's start, ms since the Unix epoch.
    pub minute_ms: u64,
    /// The process (its consumer id).
    pub consumer: String,
    /// Messages handled successfully in the minute.
    pub succeeded: u64,
    /// Attempts retried in process.
    pub retried: u64,
    /// Messages given back to the queue.
    pub released: u64,
    /// Messages dead-lettered.
    pub dead_lettered: u64,
    /// Messages left to their visibility timeout.
    pub failed: u64,
    /// The upper bounds, in seconds, of the processing-time buckets.
    #[serde(default)]
    pub latency_bounds: Vec<f64>,
    /// Messages per bucket (one more than the bounds: past the last);
    /// empty when the process records no latencies (metrics off).
    #[serde(default)]
    pub latency_counts: Vec<u64>,
    /// Workers at the end of the minute.
    pub pool: u32,
    /// The pool size it aimed for.
    pub desired: u32,
    /// Workers running a message then.
    pub busy: u32,
    /// Messages waiting, in flight and delayed, as the queue showed them.
    pub visible: u64,
    /// See `visible`.
    pub in_flight: u64,
    /// See `visible`.
    pub delayed: u64,
    /// The autoscaler's changes in the minute.
    #[serde(default)]
    pub decisions: Vec<ScalingNote>,
}

impl Rollup {
    /// Messages that reached an outcome in the minute.
    pub fn handled(&self) -> u64 {
        self.succeeded + self.released + self.dead_lettered + self.failed
    }

    /// Adds what another rollup counted: outcomes, latency buckets (when
    /// their bounds agree), decisions.
    fn add_counts(&mut self, other: &Rollup) {
        self.succeeded += other.succeeded;
        self.retried += other.retried;
        self.released += other.released;
        self.dead_lettered += other.dead_lettered;
        self.failed += other.failed;
        if self.latency_counts.is_empty() {
            self.latency_bounds.clone_from(&other.latency_bounds);
            self.latency_counts.clone_from(&other.latency_counts);
        } else if self.latency_bounds == other.latency_bounds {
            for (a, b) in self.latency_counts.iter_mut().zip(&other.latency_counts) {
                *a += b;
            }
        }
        self.decisions.extend(other.decisions.iter().cloned());
    }

    /// Adds another process's minute of the same queue: outcomes, latency
    /// buckets, pools and decisions summed; the queue's counts are the
    /// latest seen.
    pub fn merge(&mut self, other: &Rollup) {
        self.add_counts(other);
        self.pool += other.pool;
        self.desired += other.desired;
        self.busy += other.busy;
        (self.visible, self.in_flight, self.delayed) =
            (other.visible, other.in_flight, other.delayed);
    }

    /// Adds a later rollup of the same process in the same minute (its last
    /// one, written as it stopped): outcomes summed, the pool and the
    /// queue's counts as they were at the later one.
    pub fn follow(&mut self, later: &Rollup) {
        self.add_counts(later);
        (self.pool, self.desired, self.busy) = (later.pool, later.desired, later.busy);
        (self.visible, self.in_flight, self.delayed) =
            (later.visible, later.in_flight, later.delayed);
    }

    /// The `q` quantile (0 to 1) of the minute's processing times, in
    /// seconds: the upper bound of the bucket it falls in (the last bound
    /// for the bucket past it); `None` without samples.
    ///
    /// ```
    /// let r = ebbflow_core::history::Rollup {
    ///     latency_bounds: vec![0.01, 0.1, 1.0],
    ///     latency_counts: vec![90, 9, 1, 0],
    ///     ..Default::default()
    /// };
    /// assert_eq!(r.latency_quantile(0.5), Some(0.01));
    /// assert_eq!(r.latency_quantile(0.95), Some(0.1));
    /// assert_eq!(r.latency_quantile(1.0), Some(1.0));
    /// ```
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency_counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.latency_counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return self
                    .latency_bounds
                    .get(i)
                    .or(self.latency_bounds.last())
                    .copied();
            }
        }
        self.latency_bounds.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_minutes_add_outcomes_buckets_and_pools() {
        let a = Rollup {
            succeeded: 10,
            dead_lettered: 1,
            latency_bounds: vec![0.1, 1.0],
            latency_counts: vec![5, 5, 1],
            pool: 4,
            desired: 4,
            visible: 100,
            ..Default::default()
        };
        let b = Rollup {
            succeeded: 5,
            latency_bounds: vec![0.1, 1.0],
            latency_counts: vec![0, 5, 0],
            pool: 6,
            desired: 8,
            visible: 90,
            ..Default::default()
        };
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!((m.succeeded, m.handled()), (15, 16));
        assert_eq!(m.latency_counts, [5, 10, 1]);
        assert_eq!((m.pool, m.desired, m.visible), (10, 12, 90));
        assert_eq!(m.latency_quantile(0.99), Some(1.0));
        // The same process twice in a minute: its pool once, the later one.
        let mut same = a.clone();
        same.follow(&b);
        assert_eq!((same.succeeded, same.pool, same.desired), (15, 6, 8));
        assert_eq!(Rollup::default().latency_quantile(0.5), None);
    }

    #[test]
    fn history_queue_names_fit_sqs() {
        let long = "q".repeat(64);
        assert_eq!(history_queue(&long), None);
        let fits = "q".repeat(63);
        assert_eq!(history_queue(&fits).map(|n| n.len()), Some(80));
    }
}
