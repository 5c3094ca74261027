//! Message ids: UUID-shaped, unique within a process, cheap to make.

use std::sync::atomic::{AtomicU64, Ordering};

/// Makes message ids from a random per-backend prefix and a counter, so that
/// no two ids of one backend collide and ids of two backends almost never do.
#[derive(Debug)]
pub struct MessageIds {
    prefix: u64,
    counter: AtomicU64,
}

impl MessageIds {
    /// Ids with a fresh random prefix.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            prefix: fastrand::u64(..),
            counter: AtomicU64::new(0),
        }
    }

    /// The next id.
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let p = self.prefix;
        let mut id = String::with_capacity(36);
        push_hex_u64(&mut id, p >> 32, 8);
        id.push('-');
        push_hex_u64(&mut id, (p >> 16) & 0xffff, 4);
        id.push_str("-4");
        push_hex_u64(&mut id, p & 0xfff, 3);
        id.push('-');
        push_hex_u64(&mut id, 0x8000 | ((n >> 48) & 0x3fff), 4);
        id.push('-');
        push_hex_u64(&mut id, n & 0xffff_ffff_ffff, 12);
        id
    }
}

/// Appends the low `digits` hex digits of `value`, zero-padded. Ids and
/// handles are made on every send and receive; `format!` costs several times more.
pub fn push_hex_u64(out: &mut String, value: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..digits).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize] as char);
    }
}

/// The first FIFO sequence number; SQS's are 20-digit decimals.
const FIRST_SEQUENCE: u128 = 10_000_000_000_000_000_000;

/// The `n`th FIFO sequence number of a queue as SQS writes it (20 digits, increasing).
///
/// ```
/// assert_eq!(ebbflow_core::local::fifo_sequence_string(2), "10000000000000000002");
/// ```
pub fn fifo_sequence_string(n: i64) -> String {
    format!("{:020}", FIRST_SEQUENCE + n.max(0) as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_distinct() {
        let ids = MessageIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        let lens: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(lens, vec![8, 4, 4, 4, 12]);
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    }
}
