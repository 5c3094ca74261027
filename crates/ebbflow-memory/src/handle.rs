//! Receipt handles: which queue, which message, which receive.

use ebbflow_core::{QueueError, Result};
use std::fmt;

/// A parsed receipt handle. The nonce changes at every receive, so a handle
/// names one receive of one message, and a later receive makes it stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReceiptHandle {
    /// The queue's unique id (a re-created queue gets a new one).
    pub(crate) queue: u64,
    /// The message's key within the queue.
    pub(crate) key: u64,
    /// The receive.
    pub(crate) nonce: u64,
}

const PREFIX: &str = "ebm1-";

impl ReceiptHandle {
    pub(crate) fn parse(handle: &str) -> Result<Self> {
        let invalid = || {
            QueueError::ReceiptHandleIsInvalid(format!(
                "`{handle}` is not a handle this backend issued"
            ))
        };
        let mut parts = handle.strip_prefix(PREFIX).ok_or_else(invalid)?.split('-');
        let mut next = || {
            parts
                .next()
                .and_then(|p| u64::from_str_radix(p, 16).ok())
                .ok_or_else(invalid)
        };
        let parsed = Self {
            queue: next()?,
            key: next()?,
            nonce: next()?,
        };
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(parsed)
    }
}

impl fmt::Display for ReceiptHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{:x}-{:x}-{:x}",
            self.queue, self.key, self.nonce
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_reject_garbage() {
        let h = ReceiptHandle {
            queue: 7,
            key: 1 << 40,
            nonce: 3,
        };
        assert_eq!(ReceiptHandle::parse(&h.to_string()).unwrap(), h);
        for bad in [
            "",
            "ebm1-",
            "ebm1-1-2",
            "ebm1-1-2-3-4",
            "ebm1-x-2-3",
            "other-1-2-3",
        ] {
            assert_eq!(
                ReceiptHandle::parse(bad).unwrap_err().code(),
                "ReceiptHandleIsInvalid",
                "{bad}"
            );
        }
    }
}
