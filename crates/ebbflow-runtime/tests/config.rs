//! Loading `ebbflow.toml`: the shipped reference, environment overrides, and
//! errors that name the file and the key.

use ebbflow_core::config::ScalingConfig;
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
    // The orders group autoscales, and the reference lists every scaling key at its default.
    assert_eq!(orders.concurrency, None);
    assert_eq!(orders.scaling, ScalingConfig::default());
    assert_eq!(cfg.workers["videos"].concurrency, Some(4));
    assert_eq!(orders.retry.initial_delay.0, Duration::from_millis(100));
    assert_eq!(
        cfg.queues["orders"].dead_letter_queue.as_deref(),
        Some("orders-dlq")
    );
    // The examples run on the durable embedded backend, with every key at its default.
    assert_eq!(cfg.backend, ebbflow_core::config::BackendConfig::default());
    assert_eq!(cfg.backend.kind, ebbflow_core::config::BackendKind::Sqlite);
}

#[test]
fn backend_keys_select_the_sqlite_file_durability_and_key() {
    let path = write(
        "sqlite.toml",
        "[backend]\nkind = \"sqlite\"\npath = \"/var/lib/app/q.db\"\nsynchronous = \"normal\"\nencryption_key_env = \"APP_KEY\"\n",
    );
    let cfg = load_config(&path).unwrap();
    assert_eq!(cfg.backend.path, PathBuf::from("/var/lib/app/q.db"));
    assert_eq!(
        cfg.backend.synchronous,
        ebbflow_core::config::Synchronous::Normal
    );
    assert_eq!(cfg.backend.encryption_key_env.as_deref(), Some("APP_KEY"));
}

#[test]
fn server_backends_take_a_url_or_their_default() {
    use ebbflow_core::config::{BackendKind, DEFAULT_POSTGRES_URL};
    let path = write(
        "redis.toml",
        "[backend]\nkind = \"redis\"\nurl = \"redis://cache:6380/2\"\n",
    );
    let cfg = load_config(&path).unwrap();
    assert_eq!(cfg.backend.kind, BackendKind::Redis);
    assert_eq!(cfg.backend.server_url(), "redis://cache:6380/2");
    let path = write("postgres.toml", "[backend]\nkind = \"postgres\"\n");
    let cfg = load_config(&path).unwrap();
    assert_eq!(cfg.backend.kind, BackendKind::Postgres);
    assert_eq!(cfg.backend.server_url(), DEFAULT_POSTGRES_URL);
}

#[test]
fn two_key_sources_are_an_error_naming_the_key() {
    let path = write(
        "two-keys.toml",
        "[backend]\nencryption_key_file = \"k\"\nencryption_key_env = \"K\"\n",
    );
    let (_, text) = problems(load_config(&path).unwrap_err());
    assert!(text.contains("backend.encryption_key_env"), "{text}");
}

#[test]
fn a_key_in_the_toml_itself_is_refused() {
    let path = write("inline-key.toml", "[backend]\nencryption_key = \"00\"\n");
    let (_, text) = problems(load_config(&path).unwrap_err());
    assert!(text.contains("encryption_key"), "{text}");
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
    assert_eq!(cfg.workers["orders"].concurrency, Some(7));
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

#[test]
fn a_partial_scale_policy_keeps_the_other_keys_of_its_direction() {
    let path = write(
        "scaling.toml",
        "[workers.orders.scaling.down]\nmax_step = 5\n[workers.orders.scaling.up]\ncooldown = \"2s\"\n",
    );
    let scaling = &load_config(&path).unwrap().workers["orders"].scaling;
    assert_eq!(scaling.down.max_step, Some(5));
    assert_eq!(scaling.down.stabilisation.0, Duration::from_secs(90));
    assert_eq!(scaling.up.cooldown.0, Duration::from_secs(2));
    assert_eq!(scaling.up.stabilisation.0, Duration::ZERO);
}

#[test]
fn scaling_rules_are_checked_with_their_key_paths() {
    let path = write(
        "scaling-bad.toml",
        "[workers.orders.scaling]\nmin = 5\nmax = 2\nbacklog = []\n[workers.orders.scaling.up]\nmax_step = 0\n",
    );
    let (_, text) = problems(load_config(&path).unwrap_err());
    for key in [
        "workers.orders.scaling.min: at most scaling.max (2), not 5",
        "workers.orders.scaling.backlog",
        "workers.orders.scaling.up.max_step",
    ] {
        assert!(text.contains(key), "{key} missing from: {text}");
    }
}

#[test]
fn a_fixed_pool_and_scaling_rules_do_not_mix() {
    let path = write(
        "fixed-and-scaling.toml",
        "[workers.orders]\nconcurrency = 4\n[workers.orders.scaling]\nmax = 10\n",
    );
    let (_, text) = problems(load_config(&path).unwrap_err());
    assert!(
        text.contains("workers.orders.scaling: no [scaling] rules with a fixed `concurrency`"),
        "{text}"
    );
}

#[test]
fn an_unknown_backlog_count_is_rejected() {
    let path = write(
        "backlog.toml",
        "[workers.orders.scaling]\nbacklog = [\"pending\"]\n",
    );
    let (_, text) = problems(load_config(&path).unwrap_err());
    assert!(
        text.contains("pending") && text.contains("workers.orders.scaling.backlog"),
        "{text}"
    );
}
