//! The SQS backend's conformance suite, through the real Rust AWS SDK,
//! against `ebbflow serve`'s API over the durable SQLite engine: every rule
//! an SQS client can observe must hold through the wire, every request signed
//! (SigV4) and verified.

use async_trait::async_trait;
mod common;

use ebbflow_core::testkit::Harness;
use ebbflow_core::QueueBackend;
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use ebbflow_sqs::SqsBackend;
use std::sync::Arc;
use std::time::Duration;

/// A server of its own per test, on the test's runtime under tokio's paused
/// clock: the engine takes its time from tokio, so a rule that waits out a
/// visibility timeout or a long poll advances the clock instead of sleeping
/// (signatures are still dated and checked by the wall clock).
struct Serve {
    backend: Arc<dyn QueueBackend>,
    _dir: tempfile::TempDir,
}

async fn serve() -> Serve {
    let dir = tempfile::tempdir().expect("a temp dir");
    // The rules are about the wire, not power cuts: skip the fsync per commit.
    let mut options = SqliteOptions::new(dir.path().join("serve.db")).paused_clock(true);
    options.synchronous = ebbflow_sqlite::Synchronous::Normal;
    // Encrypted at rest: a queue created with SQS's default SSE then reads
    // back `SqsManagedSseEnabled = true`, as the engine keeps it truthfully.
    let key = dir.path().join("key");
    std::fs::write(&key, "c4".repeat(32)).expect("the key file");
    options.encryption = Some(ebbflow_sqlite::KeySource::File(key));
    let engine = SqliteBackend::open(&options).expect("the SQLite engine opens");
    let endpoint = common::serve(Arc::new(engine), &[("test", "test")]).await;
    Serve {
        backend: Arc::new(SqsBackend::from_client(common::client(
            &endpoint, "test", "test",
        ))),
        _dir: dir,
    }
}

#[async_trait]
impl Harness for Serve {
    async fn backend(&self) -> Arc<dyn QueueBackend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await;
    }

    fn unsupported(&self, rule: &str) -> Option<&'static str> {
        // What no SQS endpoint can show a client, and nothing else.
        ebbflow_sqs::UNSUPPORTED_BY_SQS
            .iter()
            .find(|(name, _)| *name == rule)
            .map(|(_, why)| *why)
    }

    fn waived(&self, clause: &str) -> Option<&'static str> {
        ebbflow_sqs::WAIVED_BY_SQS
            .iter()
            .find(|(name, _)| *name == clause)
            .map(|(_, why)| *why)
    }
}

ebbflow_core::conformance_suite!(paused_clock, serve());
