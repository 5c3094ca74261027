//! Histograms cheap enough for every message.
//!
//! `metrics-exporter-prometheus` keeps every raw sample in one shared,
//! append-only bucket per series until the next scrape; with workers on two
//! cores, that shared tail and its generation counter bounce between the cores
//! on every message (measured: about 5 % of the runtime's throughput). Here a
//! sample is two relaxed atomic adds on counters that belong to the recording
//! thread's shard, and the shards are summed when `/metrics` is scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Shards per histogram; threads are spread over them round-robin.
const SHARDS: usize = 8;

/// The most bucket bounds a catalogue histogram may have.
pub(crate) const MAX_BOUNDS: usize = 23;

/// One shard's counters, on cache lines of its own.
#[repr(align(128))]
struct Shard {
    /// Samples per bucket; the last one past every bound (`+Inf`).
    counts: [AtomicU64; MAX_BOUNDS + 1],
    /// Sum of the samples, in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// The shard of the calling thread.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// Bucketed observations of durations, in seconds.
pub(crate) struct Buckets {
    bounds: &'static [f64],
    shards: Box<[Shard]>,
}

impl Buckets {
    /// Buckets with these upper bounds (at most [`MAX_BOUNDS`], ascending).
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds: &bounds[..bounds.len().min(MAX_BOUNDS)],
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    /// Records `count` samples of the same duration.
    fn record(&self, seconds: f64, count: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < seconds);
        let shard = &self.shards[shard_index()];
        shard.counts[bucket].fetch_add(count, Ordering::Relaxed);
        let nanos = (seconds.max(0.0) * 1e9) as u64;
        shard
            .sum_nanos
            .fetch_add(nanos.saturating_mul(count), Ordering::Relaxed);
    }

    /// Writes the series' `_bucket`, `_sum` and `_count` lines; `labels` are
    /// rendered already (`queue="orders"`).
    pub(crate) fn render(&self, name: &str, labels: &str, out: &mut String) {
        let mut cumulative = 0u64;
        let sep = if labels.is_empty() { "" } else { "," };
        for bucket in 0..=self.bounds.len() {
            cumulative += self
                .shards
                .iter()
                .map(|s| s.counts[bucket].load(Ordering::Relaxed))
                .sum::<u64>();
            let le = match self.bounds.get(bucket) {
                Some(bound) => bound.to_string(),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum_nanos: u64 = self
            .shards
            .iter()
            .map(|s| s.sum_nanos.load(Ordering::Relaxed))
            .sum();
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", sum_nanos as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// A handle to record into; does nothing when metrics are off.
#[derive(Clone, Default)]
pub(crate) struct Histogram(Option<Arc<Buckets>>);

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").finish_non_exhaustive()
    }
}

impl Histogram {
    pub(crate) fn new(buckets: Arc<Buckets>) -> Self {
        Self(Some(buckets))
    }

    /// Records one duration, in seconds.
    pub(crate) fn record(&self, seconds: f64) {
        if let Some(buckets) = &self.0 {
            buckets.record(seconds, 1);
        }
    }

    /// Records the same duration `count` times.
    pub(crate) fn record_many(&self, seconds: f64, count: usize) {
        if let Some(buckets) = &self.0 {
            buckets.record(seconds, count as u64);
        }
    }

    /// The bucket bounds and the samples per bucket so far (not cumulative;
    /// one more count than bounds); `None` when metrics are off.
    pub(crate) fn counts(&self) -> Option<(&'static [f64], Vec<u64>)> {
        let buckets = self.0.as_ref()?;
        let counts = (0..=buckets.bounds.len())
            .map(|bucket| {
                buckets
                    .shards
                    .iter()
                    .map(|s| s.counts[bucket].load(Ordering::Relaxed))
                    .sum()
            })
            .collect();
        Some((buckets.bounds, counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_sum_and_count() {
        static BOUNDS: [f64; 2] = [0.1, 1.0];
        let buckets = Arc::new(Buckets::new(&BOUNDS));
        let h = Histogram::new(buckets.clone());
        for s in [0.05, 0.1, 0.5] {
            h.record(s);
        }
        h.record_many(2.0, 2);
        let mut out = String::new();
        buckets.render("t_seconds", "queue=\"q\"", &mut out);
        assert_eq!(
            out,
            "t_seconds_bucket{queue=\"q\",le=\"0.1\"} 2\n\
             t_seconds_bucket{queue=\"q\",le=\"1\"} 3\n\
             t_seconds_bucket{queue=\"q\",le=\"+Inf\"} 5\n\
             t_seconds_sum{queue=\"q\"} 4.65\n\
             t_seconds_count{queue=\"q\"} 5\n"
        );
    }

    #[test]
    fn catalogue_buckets_fit_and_ascend() {
        for metric in super::super::catalogue::CATALOGUE {
            assert!(metric.buckets.len() <= MAX_BOUNDS, "{}", metric.name);
            assert!(
                metric.buckets.windows(2).all(|w| w[0] < w[1]),
                "{} buckets must ascend",
                metric.name
            );
        }
    }

    #[test]
    fn threads_add_up() {
        static BOUNDS: [f64; 1] = [1.0];
        let buckets = Arc::new(Buckets::new(&BOUNDS));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let h = Histogram::new(buckets.clone());
                scope.spawn(move || (0..1000).for_each(|_| h.record(0.5)));
            }
        });
        let mut out = String::new();
        buckets.render("t", "", &mut out);
        assert!(out.contains("t_count 4000\n"), "{out}");
        assert!(out.contains("t_sum 2000\n"), "{out}");
    }
}
