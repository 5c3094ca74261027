//! The retry policy: exponential backoff with full jitter.

use ebbflow_core::config::RetryConfig;
use std::time::Duration;

/// How many in-process attempts a message gets and how long to wait between them.
///
/// The wait before attempt `n + 1` is drawn uniformly from zero to
/// `min(max_delay, initial_delay × multiplier^(n-1))` ("full jitter"), so that
/// a burst of failures does not come back as a burst of retries.
///
/// ```
/// use ebbflow_runtime::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_secs(1), 2.0);
/// assert_eq!(p.ceiling(1), Duration::from_millis(100));
/// assert_eq!(p.ceiling(3), Duration::from_millis(400));
/// assert_eq!(p.ceiling(10), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in process, the first included.
    pub attempts: u32,
    /// Ceiling of the first backoff.
    pub initial_delay: Duration,
    /// Largest ceiling.
    pub max_delay: Duration,
    /// Growth of the ceiling per attempt.
    pub multiplier: f64,
}

impl RetryPolicy {
    /// A policy with these figures.
    pub fn new(
        attempts: u32,
        initial_delay: Duration,
        max_delay: Duration,
        multiplier: f64,
    ) -> Self {
        Self {
            attempts,
            initial_delay,
            max_delay,
            multiplier,
        }
    }

    /// The policy `[workers.NAME.retry]` describes.
    pub fn from_config(cfg: &RetryConfig) -> Self {
        Self::new(
            cfg.attempts,
            cfg.initial_delay.0,
            cfg.max_delay.0,
            cfg.multiplier,
        )
    }

    /// The longest wait after failure number `failures` (from 1).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let grown = self.initial_delay.as_secs_f64() * self.multiplier.powi(exponent);
        // A multiplier below zero or NaN (from code, not config) must not panic here.
        if grown.is_finite() && grown >= 0.0 && grown < self.max_delay.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            self.max_delay
        }
    }

    /// The wait after failure number `failures`: uniform in `[0, ceiling]`.
    pub fn backoff(&self, failures: u32) -> Duration {
        self.ceiling(failures).mul_f64(fastrand::f64())
    }

    /// The wait after failure number `failures` with `error`: the delay the
    /// handler asked for, if it asked, else [`RetryPolicy::backoff`].
    pub fn wait_after(&self, failures: u32, error: &crate::HandlerError) -> Duration {
        error
            .retry_after_delay()
            .unwrap_or_else(|| self.backoff(failures))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::from_config(&RetryConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_or_nan_multiplier_waits_the_maximum_instead_of_panicking() {
        for multiplier in [-2.0, f64::NAN] {
            let p = RetryPolicy::new(
                5,
                Duration::from_millis(100),
                Duration::from_secs(3),
                multiplier,
            );
            assert_eq!(p.ceiling(2), Duration::from_secs(3));
            assert!(p.backoff(2) <= Duration::from_secs(3));
        }
    }

    #[test]
    fn a_retry_after_near_the_end_of_time_is_cut_to_twelve_hours() {
        let p = RetryPolicy::default();
        let e = crate::HandlerError::throttled("429").with_retry_after(Duration::MAX);
        assert_eq!(p.wait_after(1, &e), crate::MAX_RETRY_AFTER);
        // The deadline arithmetic the layers do with it holds.
        assert!(tokio::time::Instant::now()
            .checked_add(p.wait_after(1, &e))
            .is_some());
    }

    #[test]
    fn ceilings_grow_then_cap() {
        let p = RetryPolicy::new(
            10,
            Duration::from_millis(10),
            Duration::from_millis(100),
            3.0,
        );
        let c: Vec<u128> = (1..=5).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(c, vec![10, 30, 90, 100, 100]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(100));
    }

    #[test]
    fn backoff_is_jittered_within_the_ceiling() {
        let p = RetryPolicy::new(3, Duration::from_secs(1), Duration::from_secs(1), 2.0);
        let draws: Vec<Duration> = (0..200).map(|_| p.backoff(1)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(1)));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100, "full jitter spreads the waits");
    }
}
