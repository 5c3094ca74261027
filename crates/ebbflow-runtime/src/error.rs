//! What a handler returns when it fails, and what the runtime can fail with.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The longest delay a handler's error can ask for before its next
/// attempt: 12 hours, SQS's longest visibility timeout.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(12 * 3600);

/// Why a message failed, which decides what the runtime does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth trying again: retried in process, then released for redelivery.
    Retryable,
    /// Will never succeed: straight to the dead-letter queue.
    Permanent,
    /// The body could not be decoded into the handler's message type: straight to the dead-letter queue.
    Undecodable,
    /// The attempt ran past the handler timeout; retried like [`ErrorKind::Retryable`].
    TimedOut,
    /// The handler panicked; retried like [`ErrorKind::Retryable`].
    Panicked,
    /// A downstream said "too many requests": retried like
    /// [`ErrorKind::Retryable`] but never dead-lettered for it, and the
    /// autoscaler stops growing the pool past what the downstream sustains.
    Throttled,
}

impl ErrorKind {
    /// The spelling used in logs and dead-letter attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Undecodable => "undecodable",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Panicked => "panicked",
            ErrorKind::Throttled => "throttled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A handler's failure: what went wrong, and whether to retry.
///
/// ```
/// use ebbflow_runtime::{ErrorKind, HandlerError};
/// use std::time::Duration;
///
/// let busy = HandlerError::retry_after("payment gateway busy", Duration::from_secs(5));
/// assert!(busy.is_retryable());
/// let bad = HandlerError::permanent("order has no items");
/// assert_eq!(bad.kind(), ErrorKind::Permanent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl HandlerError {
    fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
            retry_after: None,
        }
    }

    /// A failure worth retrying, after the configured backoff.
    pub fn retry(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Retryable, error)
    }

    /// A failure worth retrying no sooner than `after`.
    pub fn retry_after(error: impl fmt::Display, after: Duration) -> Self {
        Self::retry(error).with_retry_after(after)
    }

    /// The downstream is overloaded ("429 Too Many Requests"): the message is
    /// retried, never dead-lettered for it, and the pool stops growing.
    ///
    /// ```
    /// use ebbflow_runtime::{ErrorKind, HandlerError};
    /// let e = HandlerError::throttled("payments API: 429");
    /// assert_eq!(e.kind(), ErrorKind::Throttled);
    /// assert!(e.is_retryable());
    /// ```
    pub fn throttled(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Throttled, error)
    }

    /// The same failure, with the delay the next attempt waits (a retryable or
    /// throttled one; an HTTP `Retry-After`, say).
    ///
    /// ```
    /// use ebbflow_runtime::HandlerError;
    /// use std::time::Duration;
    /// let e = HandlerError::throttled("429").with_retry_after(Duration::from_secs(3));
    /// assert_eq!(e.retry_after_delay(), Some(Duration::from_secs(3)));
    /// ```
    ///
    /// A delay past [`MAX_RETRY_AFTER`] (12 hours, SQS's longest visibility
    /// timeout) is cut to it, so that a downstream's `Retry-After` cannot
    /// overflow the arithmetic of deadlines.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after.min(MAX_RETRY_AFTER));
        self
    }

    /// A failure no retry will fix: the message goes to the dead-letter queue.
    pub fn permanent(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Permanent, error)
    }

    pub(crate) fn undecodable(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Undecodable, error)
    }

    pub(crate) fn timed_out(after: Duration) -> Self {
        Self::new(
            ErrorKind::TimedOut,
            format!("the handler ran past its timeout of {after:?}"),
        )
    }

    pub(crate) fn panicked(message: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::Panicked,
            format!("the handler panicked: {message}"),
        )
    }

    /// Why it failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The delay the handler asked for before the next attempt, if any.
    pub fn retry_after_delay(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Retryable | ErrorKind::TimedOut | ErrorKind::Panicked | ErrorKind::Throttled
        )
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failure: {}", self.kind, self.message)
    }
}

impl std::error::Error for HandlerError {}

/// Why the runtime could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The configuration could not be read or is invalid.
    #[error("{}{}", .file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default(), .problems.join("; "))]
    Config {
        /// The file, when the configuration came from one.
        file: Option<PathBuf>,
        /// Each problem, with its key path.
        problems: Vec<String>,
    },
    /// A worker group is configured but has no handler, or the other way round.
    #[error("worker group `{group}`: {reason}")]
    Group {
        /// The group's name.
        group: String,
        /// What is missing.
        reason: String,
    },
    /// The backend refused a set-up step (creating a queue, reading its attributes).
    #[error("{step}: {source}")]
    Backend {
        /// What the runtime was doing.
        step: String,
        /// The backend's error.
        source: ebbflow_core::QueueError,
    },
    /// The metrics listener could not bind its address (`[metrics] listen`).
    #[error("metrics.listen: cannot listen on {addr}: {source} (set another address, or port 0 for any free port)")]
    Listen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
}
