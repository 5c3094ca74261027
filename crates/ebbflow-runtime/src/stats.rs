//! Counters of one worker group, read by progress displays and (later) metrics.

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
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Messages received from the queue.
    pub received: Counter,
    /// Messages handled successfully (and deleted).
    pub succeeded: Counter,
    /// In-process retries.
    pub retried: Counter,
    /// Messages given back to the queue for redelivery.
    pub released: Counter,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: Counter,
    /// Messages the runtime could not route (a dead-letter send or a release failed).
    pub failed: Counter,
    /// Workers now running a message.
    pub busy: Gauge,
    /// Workers in the pool.
    pub workers: Gauge,
}
