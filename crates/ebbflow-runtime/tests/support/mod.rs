//! Helpers the real-clock runtime tests share.

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
