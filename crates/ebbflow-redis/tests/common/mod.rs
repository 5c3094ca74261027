//! The server the tests use: `EBBFLOW_TEST_REDIS_URL` (`.ci/run` points it
//! at the machine's Redis). Without it the tests say they were skipped,
//! unless `EBBFLOW_REQUIRE_SERVICES=1`, which makes a missing server a failure.

#![allow(dead_code)]

use ebbflow_core::local::Offload;
use ebbflow_redis::{RedisBackend, RedisOptions};
use std::sync::{Arc, LazyLock};
use tokio::sync::OnceCell;

pub const NO_SERVER: &str = "EBBFLOW_TEST_REDIS_URL is not set (see .ci/run)";

/// The server's URL, or `None` when the tests should skip.
pub fn url() -> Option<String> {
    let url = std::env::var("EBBFLOW_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("EBBFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "EBBFLOW_REQUIRE_SERVICES=1 but {NO_SERVER}"
        );
        println!("skipped: {NO_SERVER}");
    }
    url
}

/// A real-clock runtime for the server calls of tests under a paused clock.
pub static IO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("an I/O runtime for the tests")
});

/// One backend per test process, its I/O on [`IO`], so that tests under
/// tokio's paused clock see the server as if time stood still during a call.
pub async fn shared() -> Option<Arc<RedisBackend>> {
    static BACKEND: OnceCell<Option<Arc<RedisBackend>>> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let url = url()?;
            let options = RedisOptions::new(url).offload(Offload::Runtime(IO.handle().clone()));
            match RedisBackend::connect(&options).await {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => panic!("{e}"),
            }
        })
        .await
        .clone()
}
