//! How to reach the server.

use ebbflow_core::local::Offload;
pub use ebbflow_core::seal::KeySource;

/// Dead row versions between two vacuums, by default.
const DEFAULT_VACUUM_AFTER: u64 = 100_000;

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
    /// Dead row versions (two a message: its receive and its delete) this
    /// process makes between two vacuums of the messages table, and twice
    /// the most messages it sends between two analyzes (which come sooner
    /// while the table grows); 0 for none.
    pub vacuum_after: u64,
    /// Seal bodies and attributes at rest with the keys from here (the
    /// newest seals; every one opens, for rotation).
    pub encryption: Option<KeySource>,
}

impl PostgresOptions {
    /// Options for `url`, with 16 pooled connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            offload: Offload::Inline,
            vacuum_after: DEFAULT_VACUUM_AFTER,
            encryption: None,
        }
    }

    /// Sets how many connections queue calls share.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// The options `[backend]` describes: its `url`, or the default for
    /// `kind = "postgres"`, and its `vacuum_after` if set.
    ///
    /// ```
    /// use ebbflow_core::config::{BackendConfig, BackendKind};
    /// let config = BackendConfig { kind: BackendKind::Postgres, ..BackendConfig::default() };
    /// let options = ebbflow_postgres::PostgresOptions::from_config(&config);
    /// assert_eq!(options.vacuum_after, 100_000);
    /// let off = BackendConfig { vacuum_after: Some(0), ..config };
    /// assert_eq!(ebbflow_postgres::PostgresOptions::from_config(&off).vacuum_after, 0);
    /// ```
    pub fn from_config(config: &ebbflow_core::config::BackendConfig) -> Self {
        let options = Self {
            encryption: config.key_source(),
            ..Self::new(config.server_url())
        };
        match config.vacuum_after {
            Some(rows) => options.vacuum_after(rows),
            None => options,
        }
    }

    /// Vacuums the messages table after every `rows` dead row versions this
    /// process makes (default 100,000, that is 50,000 messages), and
    /// analyzes it as its sends grow it (after 1,000 messages, then after
    /// twice as many as the time before, up to `rows / 2`, starting again
    /// after each vacuum); 0 leaves the
    /// table to autovacuum alone.
    ///
    /// ```
    /// let options = ebbflow_postgres::PostgresOptions::new("postgres://postgres@127.0.0.1:5432/test")
    ///     .vacuum_after(0);
    /// assert_eq!(options.vacuum_after, 0);
    /// ```
    pub fn vacuum_after(mut self, rows: u64) -> Self {
        self.vacuum_after = rows;
        self
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
