//! Message ids: UUID-shaped, unique within a process, cheap to make.

use std::sync::atomic::{AtomicU64, Ordering};

/// Makes message ids from a random per-backend prefix and a counter, so that
/// no two ids of one backend collide and ids of two backends almost never do.
#[derive(Debug)]
pub(crate) struct MessageIds {
    prefix: u64,
    counter: AtomicU64,
}

impl MessageIds {
    pub(crate) fn new() -> Self {
        Self {
            prefix: fastrand::u64(..),
            counter: AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let p = self.prefix;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            p >> 32,
            (p >> 16) & 0xffff,
            p & 0xfff,
            0x8000 | ((n >> 48) & 0x3fff),
            n & 0xffff_ffff_ffff
        )
    }
}
