//! The digests SQS defines on messages: MD5 of the body, SHA-256 for content-based deduplication.

use md5::{Digest as _, Md5};
use sha2::Sha256;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`, appended to `out`. A table lookup rather than
/// `format!`, which costs several times more on the send path.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    push_hex(&mut out, bytes);
    out
}

/// Lower-case hex MD5 of a message body, as SQS returns in `MD5OfMessageBody`.
///
/// ```
/// assert_eq!(ebbflow_core::md5_hex("hello"), "5d41402abc4b2a76b9719d911017c592");
/// ```
pub fn md5_hex(body: &str) -> String {
    to_hex(&Md5::digest(body.as_bytes()))
}

/// The deduplication id SQS derives from a body when a FIFO queue has
/// content-based deduplication: lower-case hex SHA-256 of the body.
pub fn content_deduplication_id(body: &str) -> String {
    to_hex(&Sha256::digest(body.as_bytes()))
}
