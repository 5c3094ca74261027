//! Errors of connecting, and how server errors become [`QueueError`]s.

use ebbflow_core::QueueError;

/// Why [`PostgresBackend::connect`](crate::PostgresBackend::connect) failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a PostgreSQL connection string.
    #[error("backend.url: `{url}` is not a PostgreSQL URL: {source}")]
    Url {
        /// The URL, password removed.
        url: String,
        /// The parser's complaint.
        source: tokio_postgres::Error,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {url}: {message}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What the driver said.
        message: String,
    },
    /// Applying the schema migrations failed.
    #[error("migrating the ebbflow schema at {url}: {source}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// What the server said.
        source: tokio_postgres::Error,
    },
    /// The database was migrated by a newer ebbflow.
    #[error("the database at {url} has ebbflow schema version {found}; this build knows up to {known}: upgrade ebbflow")]
    NewerSchema {
        /// The URL, password removed.
        url: String,
        /// The version found.
        found: i32,
        /// The newest version this build knows.
        known: i32,
    },
    /// The keys for encryption at rest are unreadable, absent or wrong.
    #[error("PostgreSQL encryption at rest: {0}")]
    Seal(#[from] ebbflow_core::seal::SealError),
}

impl From<ConnectError> for QueueError {
    fn from(e: ConnectError) -> Self {
        backend_error(e)
    }
}

pub(crate) fn backend_error(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend {
        backend: "postgres",
        message: e.to_string(),
    }
}

/// A server error inside an operation, with its SQLSTATE when there is one.
pub(crate) fn db(e: tokio_postgres::Error) -> QueueError {
    match e.as_db_error() {
        Some(d) => backend_error(format!(
            "{}: {} (SQLSTATE {})",
            d.severity(),
            d.message(),
            d.code().code()
        )),
        None => backend_error(e),
    }
}

pub(crate) fn pool(e: deadpool_postgres::PoolError) -> QueueError {
    backend_error(format!("no connection: {e}"))
}

/// A URL with its password replaced, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("host=h user=u"), "host=h user=u");
    }
}
