//! The HTTP listener end to end: a real runtime on the memory backend,
//! scraped over HTTP on a free loopback port. (Logs are in `logs.rs`.)

mod support;

use ebbflow_core::testkit::Outage;
use ebbflow_core::{QueueBackend, SendBatchEntry, SendMessage};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::telemetry::catalogue::{Kind, CATALOGUE};
use ebbflow_runtime::{handler_fn, Context, HandlerError, Running, Runtime};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The `[metrics]` of a test that scrapes: any free loopback port.
fn any_port() -> serde_json::Value {
    json!({"listen": "127.0.0.1:0"})
}

/// A plain HTTP/1.1 GET: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_owned())
}

/// Samples of a scrape, keyed by name and labels exactly as rendered.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn sample(all: &HashMap<String, f64>, key: &str) -> f64 {
    *all.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in the scrape"))
}

async fn scrape(running: &Running) -> (String, HashMap<String, f64>) {
    let addr = running.metrics_addr().expect("metrics are on");
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    let parsed = samples(&body);
    (body, parsed)
}

async fn send(backend: &dyn QueueBackend, queue: &str, bodies: impl Iterator<Item = String>) {
    let bodies: Vec<String> = bodies.collect();
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| SendBatchEntry {
                id: i.to_string(),
                message: SendMessage::new(body.clone()),
            })
            .collect();
        let result = backend.send_batch(queue, entries).await.expect("send");
        assert!(result.failed.is_empty());
    }
}

#[tokio::test]
async fn scrape_counts_what_was_processed() {
    let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
    let cfg = support::config(
        json!({
            "queues": {"orders-dlq": {}, "orders": {"dead_letter_queue": "orders-dlq"}},
            "workers": {"orders": {"concurrency": 4, "wait_time": "1s"}}
        }),
        any_port(),
    );
    let running = Runtime::new(cfg, backend.clone())
        .handler(
            "orders",
            handler_fn(|body: String, _: Context| async move {
                if body.starts_with("bad") {
                    Err(HandlerError::permanent("the order does not add up"))
                } else {
                    Ok(())
                }
            }),
        )
        .start()
        .await
        .expect("start");
    let good = (0..20).map(|i| format!("good-{i}"));
    let bad = (0..5).map(|i| format!("bad-{i}"));
    send(backend.as_ref(), "orders", good.chain(bad)).await;
    let stats = running.stats("orders").expect("group");
    support::eventually("all 25 handled", || {
        stats.succeeded.get() + stats.dead_lettered.get() == 25
    })
    .await;

    let (text, all) = scrape(&running).await;
    let q = r#"queue="orders""#;
    assert_eq!(
        sample(&all, &format!("ebbflow_messages_received_total{{{q}}}")),
        25.0
    );
    let processed = |outcome: &str| {
        sample(
            &all,
            &format!(r#"ebbflow_messages_processed_total{{{q},outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(processed("success"), 20.0);
    assert_eq!(processed("dead_lettered"), 5.0);
    assert_eq!(processed("retried"), 0.0);
    assert_eq!(
        sample(
            &all,
            &format!(r#"ebbflow_messages_dead_lettered_total{{{q},reason="permanent"}}"#)
        ),
        5.0
    );
    assert_eq!(
        sample(
            &all,
            &format!("ebbflow_message_process_duration_seconds_count{{{q}}}")
        ),
        25.0,
        "one observation per message"
    );
    assert_eq!(
        sample(
            &all,
            &format!("ebbflow_message_queued_duration_seconds_count{{{q}}}")
        ),
        25.0
    );
    let inf = sample(
        &all,
        &format!(r#"ebbflow_message_process_duration_seconds_bucket{{{q},le="+Inf"}}"#),
    );
    assert_eq!(inf, 25.0, "buckets, not a summary");
    assert_eq!(
        sample(
            &all,
            &format!(r#"ebbflow_queue_messages{{{q},state="visible"}}"#)
        ),
        0.0
    );
    let workers = |state: &str| sample(&all, &format!(r#"ebbflow_workers{{{q},state="{state}"}}"#));
    assert_eq!(workers("busy") + workers("idle"), 4.0);
    assert_eq!(
        sample(&all, &format!("ebbflow_workers_desired{{{q}}}")),
        4.0
    );
    // The test's own sends go around the runtime; the runtime's deletes and
    // dead-letter sends go through it and are timed.
    assert!(
        sample(
            &all,
            r#"ebbflow_backend_operation_duration_seconds_count{backend="memory",operation="send"}"#
        ) >= 5.0
    );
    assert!(
        sample(
            &all,
            r#"ebbflow_backend_operation_duration_seconds_count{backend="memory",operation="delete_batch"}"#
        ) >= 1.0
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(
            &all,
            &format!(r#"ebbflow_build_info{{version="{version}"}}"#)
        ),
        1.0
    );
    for metric in CATALOGUE {
        assert!(
            text.contains(&format!("# HELP {} ", metric.name)),
            "{} has no description",
            metric.name
        );
        let kind = match metric.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert!(
            text.contains(&format!("# TYPE {} {kind}", metric.name)),
            "{} is not a {kind}",
            metric.name
        );
    }
    running.shutdown().await;
}

#[tokio::test]
async fn scrape_shows_backlog_and_busy_workers() {
    let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
    let cfg = support::config(
        json!({
            "queues": {"slow": {}},
            "workers": {"slow": {"concurrency": 1, "batch_size": 1, "wait_time": "1s"}}
        }),
        any_port(),
    );
    let gate = Arc::new(Semaphore::new(0));
    let held = gate.clone();
    let running = Runtime::new(cfg, backend.clone())
        .handler(
            "slow",
            handler_fn(move |_: String, _: Context| {
                let held = held.clone();
                async move {
                    let _permit = held.acquire().await;
                    Ok::<_, HandlerError>(())
                }
            }),
        )
        .start()
        .await
        .expect("start");
    send(backend.as_ref(), "slow", (0..5).map(|i| format!("job-{i}"))).await;
    let stats = running.stats("slow").expect("group");
    support::eventually("one message in the handler", || stats.busy.get() == 1).await;

    let (_, all) = scrape(&running).await;
    let q = r#"queue="slow""#;
    let depth = |state: &str| {
        sample(
            &all,
            &format!(r#"ebbflow_queue_messages{{{q},state="{state}"}}"#),
        )
    };
    assert_eq!(depth("visible"), 4.0);
    assert_eq!(depth("in_flight"), 1.0);
    assert_eq!(depth("delayed"), 0.0);
    assert_eq!(
        sample(&all, &format!(r#"ebbflow_workers{{{q},state="busy"}}"#)),
        1.0
    );
    assert_eq!(
        sample(&all, &format!(r#"ebbflow_workers{{{q},state="idle"}}"#)),
        0.0
    );
    assert!(
        sample(
            &all,
            &format!("ebbflow_queue_oldest_message_age_seconds{{{q}}}")
        ) >= 0.0
    );

    gate.add_permits(5);
    support::eventually("all five done", || stats.succeeded.get() == 5).await;
    running.shutdown().await;
}

#[tokio::test]
async fn readyz_follows_the_backend() {
    let (backend, outage) = Outage::wrap(Arc::new(MemoryBackend::new()));
    let cfg = support::config(
        json!({
            "queues": {"jobs": {}},
            "workers": {"jobs": {"wait_time": "1s"}}
        }),
        any_port(),
    );
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(|_: String, _: Context| async { Ok::<_, HandlerError>(()) }),
        )
        .start()
        .await
        .expect("start");
    let addr = running.metrics_addr().expect("metrics are on");
    support::eventually("the poller runs", || {
        running.stats("jobs").is_some_and(|s| s.polling.get() == 1)
    })
    .await;
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".to_owned()));

    outage.set_down(true);
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("backend unreachable"), "{body}");
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive all the same");
    let (_, all) = scrape(&running).await;
    assert!(
        sample(
            &all,
            r#"ebbflow_backend_errors_total{backend="memory",operation="stats"}"#
        ) >= 1.0
    );

    outage.set_down(false);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/nowhere").await.0, 404);
    running.shutdown().await;
}

#[tokio::test]
async fn metrics_off_means_no_listener() {
    let backend: Arc<dyn QueueBackend> = Arc::new(MemoryBackend::new());
    let cfg = support::config(
        json!({"workers": {"jobs": {"wait_time": "1s"}}, "queues": {"jobs": {}}}),
        json!({"enabled": false}),
    );
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(|_: String, _: Context| async { Ok::<_, HandlerError>(()) }),
        )
        .start()
        .await
        .expect("start");
    assert_eq!(running.metrics_addr(), None);
    running.shutdown().await;
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let mut cfg = support::config(
        json!({"queues": {"jobs": {}}, "workers": {"jobs": {}}}),
        any_port(),
    );
    cfg.metrics.listen = addr;
    let err = Runtime::new(cfg, Arc::new(MemoryBackend::new()))
        .handler(
            "jobs",
            handler_fn(|_: String, _: Context| async { Ok::<_, HandlerError>(()) }),
        )
        .start()
        .await
        .err()
        .expect("the port is taken");
    let text = err.to_string();
    assert!(text.starts_with("metrics.listen"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
}

/// Every `ebbflow_*` name in `text`, with a histogram's `_bucket` suffix taken off.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("ebbflow_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        names.insert(name.strip_suffix("_bucket").unwrap_or(name).to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_reference_and_the_readme_list_the_catalogue_and_nothing_else() {
    let kind = |k: Kind| match k {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let catalogue: std::collections::BTreeSet<(String, String, String)> = CATALOGUE
        .iter()
        .map(|m| {
            let labels: Vec<String> = m.labels.iter().map(|l| format!("`{l}`")).collect();
            (
                m.name.to_owned(),
                kind(m.kind).to_owned(),
                labels.join(", "),
            )
        })
        .collect();
    for (page, text) in [
        (
            "the book's metrics reference",
            include_str!("../../../docs/book/src/reference/metrics.md"),
        ),
        ("the README", include_str!("../../../README.md")),
    ] {
        // A row: | `name` | type | `label`, `label` | meaning |
        let rows: std::collections::BTreeSet<(String, String, String)> = text
            .lines()
            .filter(|l| l.starts_with("| `ebbflow_"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].to_owned(),
                    cells[3].to_owned(),
                )
            })
            .collect();
        assert_eq!(
            rows, catalogue,
            "{page}: the metrics table (name, type, labels)"
        );
    }
}

#[test]
fn the_grafana_dashboard_uses_only_catalogue_metrics() {
    let dashboard = include_str!("../../../examples/grafana/ebbflow.json");
    let parsed: serde_json::Value = serde_json::from_str(dashboard).expect("valid JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 4));
    let used = metric_names(dashboard);
    for name in &used {
        assert!(
            CATALOGUE.iter().any(|m| m.name == name),
            "the dashboard queries {name}, which ebbflow does not export"
        );
    }
    for needed in [
        "ebbflow_queue_messages",
        "ebbflow_messages_processed_total",
        "ebbflow_message_process_duration_seconds",
        "ebbflow_workers",
        "ebbflow_workers_desired",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
}
