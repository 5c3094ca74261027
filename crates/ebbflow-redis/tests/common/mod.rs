//! The server the tests use: `EBBFLOW_TEST_REDIS_URL` (`.ci/run` points it at the
//! machine's Redis); see `ebbflow_core::testkit::services`.

#![allow(dead_code)]

use ebbflow_core::testkit::services::{io_offload, service_url};
use ebbflow_redis::{RedisBackend, RedisOptions};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const NO_SERVER: &str = "EBBFLOW_TEST_REDIS_URL is not set (see .ci/run)";

/// The server's URL, or `None` when the tests should skip.
pub fn url() -> Option<String> {
    service_url("EBBFLOW_TEST_REDIS_URL")
}

/// One backend per test process, its I/O on a runtime of its own, so that
/// tests under tokio's paused clock see the server as if time stood still
/// during a call.
pub async fn shared() -> Option<Arc<RedisBackend>> {
    static BACKEND: OnceCell<Option<Arc<RedisBackend>>> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let options = RedisOptions::new(url()?).offload(io_offload());
            match RedisBackend::connect(&options).await {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => panic!("{e}"),
            }
        })
        .await
        .clone()
}
