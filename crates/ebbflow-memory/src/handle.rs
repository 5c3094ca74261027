//! Receipt handles: which queue, which message, which receive.

use crate::ids::push_hex_u64;
use ebbflow_core::{QueueError, Result};

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

impl ReceiptHandle {
    /// The handle as given to consumers: fixed-width hex, made without `format!`
    /// because every receive makes one.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::with_capacity(PREFIX.len() + 3 * 17);
        out.push_str(PREFIX);
        push_hex_u64(&mut out, self.queue, 16);
        out.push('-');
        push_hex_u64(&mut out, self.key, 16);
        out.push('-');
        push_hex_u64(&mut out, self.nonce, 16);
        out
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
        assert_eq!(ReceiptHandle::parse(&h.encode()).unwrap(), h);
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
