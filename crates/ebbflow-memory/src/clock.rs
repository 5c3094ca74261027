//! Time for the memory backend: tokio's clock, so that tests can pause and advance it.

use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Monotonic time for every rule of the queue, plus the wall-clock milliseconds
/// that SQS's timestamps carry, derived from it so that both move together
/// under tokio's paused clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    base_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            base: Instant::now(),
            base_ms,
        }
    }

    /// Now, as an instant and as milliseconds since the Unix epoch.
    pub(crate) fn now(&self) -> (Instant, u64) {
        let now = Instant::now();
        let ms = self.base_ms + now.saturating_duration_since(self.base).as_millis() as u64;
        (now, ms)
    }
}
