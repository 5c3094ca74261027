//! FIFO receive attempts: a receive retried with the same
//! `ReceiveRequestAttemptId` within five minutes gets the same messages
//! with the same receipt handles, as long as they are still in flight.

use super::ReceiptHandle;
use crate::{limits, queue_name_from_arn};
use parking_lot::Mutex;
use std::collections::HashMap;

/// When an attempt's window closes (engine ms), and the handles it returned.
type Attempt = (i64, Vec<ReceiptHandle>);

/// The attempts of the last five minutes, by queue and attempt id, with the
/// handles each returned. Kept in process memory: a retry reaches the process
/// that made the attempt, which is where a network failure leaves it.
///
/// ```
/// use ebbflow_core::local::{ReceiptHandle, ReceiveAttempts};
/// let attempts = ReceiveAttempts::default();
/// let h = ReceiptHandle { queue: 1, key: 2, nonce: 3 };
/// attempts.record("q.fifo", "try-1", 0, vec![h]);
/// assert_eq!(attempts.handles("q.fifo", "try-1", 1_000), Some(vec![h]));
/// assert_eq!(attempts.handles("q.fifo", "try-1", 301_000), None, "the window closed");
/// ```
#[derive(Debug, Default)]
pub struct ReceiveAttempts {
    by_id: Mutex<HashMap<(String, String), Attempt>>,
}

impl ReceiveAttempts {
    /// The handles attempt `id` on `queue` returned, if its window (from
    /// `now_ms`) is still open; forgets attempts whose window closed.
    pub fn handles(&self, queue: &str, id: &str, now_ms: i64) -> Option<Vec<ReceiptHandle>> {
        let mut by_id = self.by_id.lock();
        by_id.retain(|_, (expires, _)| *expires > now_ms);
        by_id
            .get(&(queue_name_from_arn(queue).to_owned(), id.to_owned()))
            .map(|(_, h)| h.clone())
    }

    /// Remembers what attempt `id` on `queue` returned at `now_ms`.
    pub fn record(&self, queue: &str, id: &str, now_ms: i64, handles: Vec<ReceiptHandle>) {
        let expires = now_ms + super::millis(limits::DEDUPLICATION_WINDOW);
        self.by_id.lock().insert(
            (queue_name_from_arn(queue).to_owned(), id.to_owned()),
            (expires, handles),
        );
    }
}
