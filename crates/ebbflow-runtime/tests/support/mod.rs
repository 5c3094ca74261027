//! Helpers the runtime tests share (each test binary uses some of them).

#![allow(dead_code)]

use ebbflow_core::config::Config;
use std::time::Duration;

/// A config from JSON, with `[metrics]` replaced by `metrics` (tests listen on
/// port 0, or not at all, so that they run in parallel).
pub fn config(mut value: serde_json::Value, metrics: serde_json::Value) -> Config {
    value["metrics"] = metrics;
    serde_json::from_value(value).expect("config")
}

/// Polls (in real time, briefly) until `done` holds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 5 s");
}

/// Waits (in paused time) until `done` holds, failing after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < end,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
