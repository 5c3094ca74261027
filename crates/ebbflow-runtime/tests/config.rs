//! Loading `ebbflow.toml`: the shipped reference, environment overrides, and
//! errors that name the file and the key.

use ebbflow_runtime::{load_config, load_config_with_env, RuntimeError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

fn reference() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/ebbflow.toml")
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ebbflow-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn problems(err: RuntimeError) -> (Option<PathBuf>, String) {
    match err {
        RuntimeError::Config { file, problems } => (file, problems.join("; ")),
        other => panic!("expected a config error, got {other}"),
    }
}

#[test]
fn the_reference_config_loads_and_is_valid() {
    let cfg = load_config(reference()).unwrap();
    let orders = &cfg.workers["orders"];
    assert_eq!(orders.concurrency, 64);
    assert_eq!(orders.retry.initial_delay.0, Duration::from_millis(100));
    assert_eq!(
        cfg.queues["orders"].dead_letter_queue.as_deref(),
        Some("orders-dlq")
    );
}

#[test]
fn environment_overrides_file_keys() {
    let env = HashMap::from([
        (
            "EBBFLOW__WORKERS__ORDERS__CONCURRENCY".to_owned(),
            "7".to_owned(),
        ),
        (
            "EBBFLOW__RUNTIME__SHUTDOWN_GRACE".to_owned(),
            "5s".to_owned(),
        ),
    ]);
    let cfg = load_config_with_env(reference(), env).unwrap();
    assert_eq!(cfg.workers["orders"].concurrency, 7);
    assert_eq!(cfg.runtime.shutdown_grace.0, Duration::from_secs(5));
}

#[test]
fn unknown_key_names_file_and_key() {
    let path = write("unknown.toml", "[workers.orders]\nconcurency = 3\n");
    let (file, text) = problems(load_config(&path).unwrap_err());
    assert_eq!(file.as_deref(), Some(path.as_path()));
    assert!(text.contains("concurency"), "{text}");
}

#[test]
fn bad_duration_names_key_and_expectation() {
    let path = write("duration.toml", "[workers.orders]\nwait_time = \"soon\"\n");
    let err = load_config(&path).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("duration.toml"), "{shown}");
    assert!(shown.contains("wait_time"), "{shown}");
    assert!(shown.contains("\"30s\""), "{shown}");
}

#[test]
fn out_of_range_value_names_key_path() {
    let path = write("range.toml", "[workers.orders]\nbatch_size = 11\n");
    let (_, text) = problems(load_config(&path).unwrap_err());
    assert!(text.contains("workers.orders.batch_size"), "{text}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = load_config("/nonexistent/ebbflow.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/ebbflow.toml: no such file"),
        "{err}"
    );
}
