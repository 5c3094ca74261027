//! The SQS conformance suite against a fresh database file per test, under
//! tokio's paused clock (the backend takes its time from tokio); and again
//! with encryption at rest on (`sealed`).

use ebbflow_core::testkit::Harness;
use ebbflow_core::QueueBackend;
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use std::sync::Arc;
use std::time::Duration;

struct Sqlite {
    backend: Arc<SqliteBackend>,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        Self::open(false)
    }

    /// A fresh file; `sealed`: encrypted at rest, with a key of its own.
    fn open(sealed: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = SqliteOptions::new(dir.path().join("queues.db")).paused_clock(true);
        if sealed {
            let key = dir.path().join("key");
            std::fs::write(&key, "5e".repeat(32)).expect("key");
            options = options.encryption(ebbflow_sqlite::KeySource::File(key));
        }
        let backend = SqliteBackend::open(&options).expect("open database");
        Self {
            backend: Arc::new(backend),
            _dir: dir,
        }
    }
}

#[async_trait::async_trait]
impl Harness for Sqlite {
    async fn backend(&self) -> Arc<dyn QueueBackend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await
    }
}

ebbflow_core::conformance_suite!(paused_clock, async { Sqlite::new() });

/// Every rule again, with bodies and attributes sealed at rest.
mod sealed {
    use super::Sqlite;

    ebbflow_core::conformance_suite!(paused_clock, async { Sqlite::open(true) });
}
