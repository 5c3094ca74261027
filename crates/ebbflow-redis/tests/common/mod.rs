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

/// The sealed tests' key, and a second one for rotation.
pub const KEY: &str = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
pub const NEWER_KEY: &str = "a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f";

/// The server's logical database 9: the sealed suite records its key id
/// there (`ebbflow:seal-keys`), out of the way of the tests that run with
/// no key in database 0.
pub fn sealed_url() -> Option<String> {
    database_url(9)
}

/// The server's logical database `db`.
pub fn database_url(db: u8) -> Option<String> {
    let url = url()?;
    let base = match url.rsplit_once('/') {
        Some((base, db)) if !db.is_empty() && db.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => url.as_str(),
    };
    Some(format!("{}/{db}", base.trim_end_matches('/')))
}

pub use ebbflow_core::testkit::services::key_file;

/// As [`shared`], sealing with [`KEY`] in the sealed tests' database.
pub async fn shared_sealed() -> Option<Arc<RedisBackend>> {
    static BACKEND: OnceCell<Option<Arc<RedisBackend>>> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let options = RedisOptions::new(sealed_url()?)
                .offload(io_offload())
                .encryption(ebbflow_redis::KeySource::File(key_file("shared", &[KEY])));
            match RedisBackend::connect(&options).await {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => panic!("{e}"),
            }
        })
        .await
        .clone()
}
