//! How to reach the server.

use ebbflow_core::local::Offload;

/// Where the PostgreSQL backend connects, and with how many connections.
///
/// ```
/// let options = ebbflow_postgres::PostgresOptions::new("postgres://postgres@127.0.0.1:5432/test")
///     .pool_size(8);
/// assert_eq!(options.pool_size, 8);
/// ```
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A libpq-style URL (`postgres://user:password@host:port/database`) or key=value string.
    pub url: String,
    /// Connections kept for queue calls (long-poll notifications use one more).
    pub pool_size: usize,
    /// Where server calls run (tests under a paused clock run them on a runtime of their own).
    pub offload: Offload,
}

impl PostgresOptions {
    /// Options for `url`, with 16 pooled connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            offload: Offload::Inline,
        }
    }

    /// Sets how many connections queue calls share.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// The options `[backend]` describes: its `url`, or the default for `kind = "postgres"`.
    pub fn from_config(config: &ebbflow_core::config::BackendConfig) -> Self {
        Self::new(config.server_url())
    }

    /// Runs server calls on `offload` (see [`Offload`]).
    pub fn offload(mut self, offload: Offload) -> Self {
        self.offload = offload;
        self
    }
}
