//! The SQS conformance suite again, with encryption at rest on: every rule
//! holds while bodies and attributes are sealed (issue 35).

mod common;

use ebbflow_core::testkit::Harness;
use ebbflow_core::QueueBackend;
use ebbflow_postgres::PostgresBackend;
use std::sync::Arc;
use std::time::Duration;

struct SealedPostgres(Option<Arc<PostgresBackend>>);

#[async_trait::async_trait]
impl Harness for SealedPostgres {
    async fn backend(&self) -> Arc<dyn QueueBackend> {
        match &self.0 {
            Some(b) => b.clone(),
            None => unreachable!("{}", common::NO_SERVER),
        }
    }

    async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await
    }

    fn unsupported(&self, _rule: &str) -> Option<&'static str> {
        self.0.is_none().then_some(common::NO_SERVER)
    }
}

ebbflow_core::conformance_suite!(paused_clock, async {
    SealedPostgres(common::shared_sealed().await)
});
