//! Helpers for tests that start, stop and restart a server of their own.

use crate::Result;
use std::time::Duration;

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("a free port: {e}"),
    }
}

/// Retries `call` every 100 ms until it succeeds, for up to 15 s: how a test
/// waits for a backend to reconnect after its server came back.
pub async fn retry<T>(what: &str, mut call: impl AsyncFnMut() -> Result<T>) -> T {
    let mut last = None;
    for _ in 0..150 {
        match call().await {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: the backend did not recover: {last:?}");
}
