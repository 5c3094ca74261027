//! The time an engine stamps on messages: wall-clock milliseconds that move
//! with tokio's clock, so that a test under a paused clock moves the engine's
//! time too (and a server's, when the engine passes its time to the server).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Milliseconds since the Unix epoch, read at creation from the system clock
/// and advanced since by tokio's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let clock = ebbflow_core::local::Clock::new();
/// let now = clock.now_ms();
/// assert!(clock.now_ms() >= now);
/// assert!(clock.instant(now + 1_000) > tokio::time::Instant::now());
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_ms: i64,
}

impl Clock {
    /// A clock reading the system's time now.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            base: Instant::now(),
            base_ms,
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let since = Instant::now().saturating_duration_since(self.base);
        self.base_ms + i64::try_from(since.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// The tokio instant of an engine time (now, for a time in the past).
    pub fn instant(&self, at_ms: i64) -> Instant {
        self.base + Duration::from_millis(u64::try_from(at_ms - self.base_ms).unwrap_or(0))
    }
}

/// A duration in whole milliseconds, as engines store it (saturating).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
