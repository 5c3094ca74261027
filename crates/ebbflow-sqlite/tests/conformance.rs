//! The SQS conformance suite against a fresh database file per test, under
//! tokio's paused clock (the backend takes its time from tokio).

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
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(
            &SqliteOptions::new(dir.path().join("queues.db")).paused_clock(true),
        )
        .expect("open database");
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
