//! Errors of connecting, and how server errors become [`QueueError`]s.

use ebbflow_core::QueueError;

/// Why [`RedisBackend::connect`](crate::RedisBackend::connect) failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a Redis URL.
    #[error("backend.url: `{url}` is not a Redis URL: {source}")]
    Url {
        /// The URL, password removed.
        url: String,
        /// The parser's complaint.
        source: redis::RedisError,
    },
    /// The server could not be reached.
    #[error("cannot connect to Redis at {url}: {message}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What the client said.
        message: String,
    },
    /// The keys for encryption at rest are unreadable, absent or wrong.
    #[error("Redis encryption at rest: {0}")]
    Seal(#[from] ebbflow_core::seal::SealError),
}

impl From<ConnectError> for QueueError {
    fn from(e: ConnectError) -> Self {
        backend_error(e)
    }
}

pub(crate) fn backend_error(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend {
        backend: "redis",
        message: e.to_string(),
    }
}

/// A URL with its password replaced, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
