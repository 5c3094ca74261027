//! The server the tests use: `EBBFLOW_TEST_POSTGRES_URL` (`.ci/run` points it at the
//! machine's PostgreSQL); see `ebbflow_core::testkit::services`.

#![allow(dead_code)]

use ebbflow_core::testkit::services::{io_offload, service_url};
use ebbflow_postgres::{PostgresBackend, PostgresOptions};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const NO_SERVER: &str = "EBBFLOW_TEST_POSTGRES_URL is not set (see .ci/run)";

/// The server's URL, or `None` when the tests should skip.
pub fn url() -> Option<String> {
    service_url("EBBFLOW_TEST_POSTGRES_URL")
}

/// One backend per test process, its I/O on a runtime of its own, so that
/// tests under tokio's paused clock see the server as if time stood still
/// during a call.
pub async fn shared() -> Option<Arc<PostgresBackend>> {
    static BACKEND: OnceCell<Option<Arc<PostgresBackend>>> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let options = PostgresOptions::new(url()?).offload(io_offload());
            match PostgresBackend::connect(&options).await {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => panic!("{e}"),
            }
        })
        .await
        .clone()
}

/// The sealed tests' keys. Every sealed test holds both (in one order or
/// the other), so that each opens what any of them recorded.
pub const KEY: &str = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
pub const NEWER_KEY: &str = "a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f";

/// The database the sealed tests use, `ebbflow_sealed_test` on the same
/// server (made here when missing): the key ids they record there
/// (`ebbflow_seal_keys`) stay out of the way of the tests that run with no
/// key in the main test database.
pub async fn sealed_url() -> Option<String> {
    const DATABASE: &str = "ebbflow_sealed_test";
    let url = url()?;
    let (base, rest) = url.rsplit_once('/')?;
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let (client, connection) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let task = tokio::spawn(connection);
    // Two test processes may make it at once: "already exists" is fine.
    if let Err(e) = client
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .await
    {
        let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
        if code != "42P04" && code != "23505" {
            panic!("creating {DATABASE}: {e}");
        }
    }
    drop(client);
    let _ = task.await;
    Some(format!("{base}/{DATABASE}{query}"))
}

pub use ebbflow_core::testkit::services::key_file;

/// As [`shared`], sealing with [`NEWER_KEY`] (and opening with [`KEY`] too)
/// in the sealed tests' database.
pub async fn shared_sealed() -> Option<Arc<PostgresBackend>> {
    static BACKEND: OnceCell<Option<Arc<PostgresBackend>>> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let options = PostgresOptions::new(sealed_url().await?)
                .offload(io_offload())
                .encryption(ebbflow_postgres::KeySource::File(key_file(
                    "shared",
                    &[KEY, NEWER_KEY],
                )));
            match PostgresBackend::connect(&options).await {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => panic!("{e}"),
            }
        })
        .await
        .clone()
}
