//! What one client can hold of the server: connections, time, bytes.

use std::time::Duration;

/// How long a client may take to send its request headers (and a TLS
/// handshake, before them).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send its request body, after the headers.
/// A 3 MiB body at 160 KiB/s makes it; a trickle of a byte a second does not.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(20);

/// Connections open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The first pause after `accept` fails (out of file descriptors, say),
/// doubled each failure in a row up to [`MAX_ACCEPT_BACKOFF`].
pub const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The longest pause after `accept` fails.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The limits a listener keeps.
///
/// ```
/// let limits = ebbflow_listener::Limits { max_connections: 64, ..Default::default() };
/// assert_eq!(limits.max_connections, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; the next waits in the kernel's backlog
    /// until one closes.
    pub max_connections: usize,
    /// How long a client may take to send its headers.
    pub header_timeout: Duration,
    /// How long a client may take to send its body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
        }
    }
}
