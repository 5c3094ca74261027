//! How to reach the server.

use ebbflow_core::local::Offload;
pub use ebbflow_core::seal::KeySource;

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
    /// Seal bodies and attributes at rest with the keys from here (the
    /// newest seals; every one opens, for rotation).
    pub encryption: Option<KeySource>,
}

impl RedisOptions {
    /// Options for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            offload: Offload::Inline,
            encryption: None,
        }
    }

    /// The options `[backend]` describes: its `url`, or the default for `kind = "redis"`.
    pub fn from_config(config: &ebbflow_core::config::BackendConfig) -> Self {
        Self {
            encryption: config.key_source(),
            ..Self::new(config.server_url())
        }
    }

    /// Seals bodies and attributes with the keys from `source`.
    pub fn encryption(mut self, source: KeySource) -> Self {
        self.encryption = Some(source);
        self
    }

    /// Runs server calls on `offload` (see [`Offload`]).
    pub fn offload(mut self, offload: Offload) -> Self {
        self.offload = offload;
        self
    }
}
