//! Receipt handles: which queue, which message, which receive.

use super::push_hex_u64;
use crate::{QueueError, Result};

/// A parsed receipt handle. The nonce changes at every receive, so a handle
/// names one receive of one message, and a later receive makes it stale.
///
/// The prefix tells which engine issued a handle (`ebm1-` memory, `ebs1-`
/// SQLite), so a handle from one is rejected by the other.
///
/// ```
/// use ebbflow_core::local::ReceiptHandle;
/// let h = ReceiptHandle { queue: 1, key: 2, nonce: 3 };
/// assert_eq!(ReceiptHandle::parse("ebm1-", &h.encode("ebm1-")).unwrap(), h);
/// assert!(ReceiptHandle::parse("ebs1-", &h.encode("ebm1-")).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// The queue's unique id (a re-created queue gets a new one).
    pub queue: u64,
    /// The message's key within the queue.
    pub key: u64,
    /// The receive.
    pub nonce: u64,
}

impl ReceiptHandle {
    /// Parses a handle issued with `prefix`; anything else is `ReceiptHandleIsInvalid`.
    pub fn parse(prefix: &str, handle: &str) -> Result<Self> {
        let invalid = || {
            QueueError::ReceiptHandleIsInvalid(format!(
                "`{handle}` is not a handle this backend issued"
            ))
        };
        let mut parts = handle.strip_prefix(prefix).ok_or_else(invalid)?.split('-');
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
    pub fn encode(&self, prefix: &str) -> String {
        let mut out = String::with_capacity(prefix.len() + 3 * 17);
        out.push_str(prefix);
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
        assert_eq!(
            ReceiptHandle::parse("ebm1-", &h.encode("ebm1-")).unwrap(),
            h
        );
        for bad in [
            "",
            "ebm1-",
            "ebm1-1-2",
            "ebm1-1-2-3-4",
            "ebm1-x-2-3",
            "other-1-2-3",
        ] {
            assert_eq!(
                ReceiptHandle::parse("ebm1-", bad).unwrap_err().code(),
                "ReceiptHandleIsInvalid",
                "{bad}"
            );
        }
    }
}
