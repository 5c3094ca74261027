//! How to open a database: where, how durable, and with which key.

use std::path::{Path, PathBuf};

/// SQLite's `synchronous` setting in WAL mode: when a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is fsynced before the call that made it returns: a send
    /// that returned success survives a power cut. The default.
    #[default]
    Full,
    /// Commits are fsynced at checkpoints: a process crash loses nothing, a
    /// power cut may lose the latest commits.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

pub use ebbflow_core::seal::KeySource;

/// Options of [`SqliteBackend::open`](crate::SqliteBackend::open).
///
/// ```
/// use ebbflow_sqlite::{KeySource, SqliteOptions, Synchronous};
/// let options = SqliteOptions::new("data/ebbflow.db")
///     .synchronous(Synchronous::Full)
///     .encryption(KeySource::Env("EBBFLOW_KEY".into()));
/// assert_eq!(options.path.to_str(), Some("data/ebbflow.db"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The database file; its directory is created when missing.
    pub path: PathBuf,
    /// When commits reach the disk.
    pub synchronous: Synchronous,
    /// Encrypt bodies and attributes at rest with this key.
    pub encryption: Option<KeySource>,
    /// Set when the backend runs under tokio's paused clock (tests with
    /// `start_paused`): callers then wait for the writer on tokio's blocking
    /// pool, which keeps the paused clock from jumping ahead while SQLite
    /// works. Costs a thread hand-off per call; off by default.
    pub paused_clock: bool,
}

impl SqliteOptions {
    /// A durable (`synchronous = FULL`), unencrypted database at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            synchronous: Synchronous::Full,
            encryption: None,
            paused_clock: false,
        }
    }

    /// Sets when commits reach the disk.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Marks the backend as running under tokio's paused clock (tests).
    pub fn paused_clock(mut self, paused: bool) -> Self {
        self.paused_clock = paused;
        self
    }

    /// Encrypts bodies and attributes with the key from `source`.
    pub fn encryption(mut self, source: KeySource) -> Self {
        self.encryption = Some(source);
        self
    }
}

impl SqliteOptions {
    /// The options `[backend]` gives: `path`, `synchronous`, and
    /// `encryption_key_file` or `encryption_key_env`.
    ///
    /// ```
    /// use ebbflow_core::config::BackendConfig;
    /// use ebbflow_sqlite::{SqliteOptions, Synchronous};
    /// let options = SqliteOptions::from_config(&BackendConfig::default());
    /// assert_eq!(options.path.to_str(), Some("data/ebbflow.db"));
    /// assert_eq!(options.synchronous, Synchronous::Full);
    /// ```
    pub fn from_config(backend: &ebbflow_core::config::BackendConfig) -> Self {
        use ebbflow_core::config::Synchronous as Configured;
        let encryption = backend.key_source();
        Self {
            path: backend.path.clone(),
            synchronous: match backend.synchronous {
                Configured::Full => Synchronous::Full,
                Configured::Normal => Synchronous::Normal,
            },
            encryption,
            paused_clock: false,
        }
    }
}
