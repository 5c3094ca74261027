//! Why a database could not be opened, and how SQLite's errors reach callers.

use ebbflow_core::QueueError;
use std::path::PathBuf;

/// A database that could not be opened. Each names the file or the key source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread for {path}: {source}")]
    Writer {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused the file (not a database, locked, unreadable, …).
    #[error("cannot open the SQLite database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database was made by a newer ebbflow.
    #[error("{path} has schema version {found}; this ebbflow knows up to {known}")]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The key could not be read or is not 64 hex digits.
    #[error("encryption key from {source_name}: {reason}")]
    BadKey {
        /// Where the key was read from.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database is encrypted and no key was given.
    #[error("{path} is encrypted; give its key with backend.encryption_key_file or backend.encryption_key_env")]
    KeyRequired {
        /// The file.
        path: PathBuf,
    },
    /// The key does not decrypt this database.
    #[error("the encryption key from {source_name} does not match {path} (wrong key?)")]
    WrongKey {
        /// The file.
        path: PathBuf,
        /// Where the key was read from.
        source_name: String,
    },
    /// A key was given for a database that already holds unencrypted messages.
    #[error("{path} already holds unencrypted messages; encryption can only be turned on for a new database")]
    NotEncrypted {
        /// The file.
        path: PathBuf,
    },
}

impl From<OpenError> for QueueError {
    fn from(e: OpenError) -> Self {
        backend_error(e)
    }
}

/// Any failure of the engine itself, as the retryable `Backend` error.
pub(crate) fn backend_error(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend {
        backend: "sqlite",
        message: e.to_string(),
    }
}

/// SQLite errors inside an operation.
pub(crate) fn sql(e: rusqlite::Error) -> QueueError {
    backend_error(e)
}
