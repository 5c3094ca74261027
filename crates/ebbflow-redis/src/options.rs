//! How to reach the server.

use ebbflow_core::local::Offload;

/// Where the Redis backend connects.
///
/// ```
/// let options = ebbflow_redis::RedisOptions::new("redis://127.0.0.1:6379");
/// assert_eq!(options.url, "redis://127.0.0.1:6379");
/// ```
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS, when built with it).
    pub url: String,
    /// Where server calls run (tests under a paused clock run them on a runtime of their own).
    pub offload: Offload,
}

impl RedisOptions {
    /// Options for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            offload: Offload::Inline,
        }
    }

    /// The options `[backend]` describes: its `url`, or the default for `kind = "redis"`.
    pub fn from_config(config: &ebbflow_core::config::BackendConfig) -> Self {
        Self::new(config.server_url())
    }

    /// Runs server calls on `offload` (see [`Offload`]).
    pub fn offload(mut self, offload: Offload) -> Self {
        self.offload = offload;
        self
    }
}
