//! The whole SQS conformance suite against the memory backend, on tokio's paused clock.

use async_trait::async_trait;
use ebbflow_core::{testkit::Harness, QueueBackend};
use ebbflow_memory::MemoryBackend;
use std::sync::Arc;
use std::time::Duration;

struct Memory;

#[async_trait]
impl Harness for Memory {
    async fn backend(&self) -> Arc<dyn QueueBackend> {
        Arc::new(MemoryBackend::new())
    }

    async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await;
    }
}

ebbflow_core::conformance_suite!(paused_clock, async { Memory });
