//! Server time of the dashboard's pages on a big installation: 1,000 queues,
//! one of them holding 1,000,000 messages and a dead-letter queue of
//! 100,000, two days of history from two processes. Each page is asked
//! through [`Dashboard::handle`] (no network), several times; the median
//! and the slowest are printed.
//!
//! `cargo bench -p ebbflow-dashboard --bench pages [-- QUEUES MESSAGES] [memory|sqlite]…`;
//! with `EBBFLOW_BENCH_CALLS=1` it first times the backend calls behind the pages one by one.

use ebbflow_core::history::{history_queue, Rollup};
use ebbflow_core::limits::MAX_BATCH_ENTRIES;
use ebbflow_core::{QueueAttributes, QueueBackend, RedrivePolicy, SendBatchEntry, SendMessage};
use ebbflow_dashboard::Dashboard;
use ebbflow_memory::MemoryBackend;
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 7;

async fn fill(b: &Arc<dyn QueueBackend>, queues: usize, messages: usize) {
    let started = Instant::now();
    b.create_queue("big-dlq", QueueAttributes::standard())
        .await
        .expect("dlq");
    let big = QueueAttributes::standard().with_redrive_policy(RedrivePolicy::new("big-dlq", 5));
    b.create_queue("big", big).await.expect("big");
    for i in 0..queues.saturating_sub(2) {
        let name = format!("q-{i:04}");
        b.create_queue(&name, QueueAttributes::standard())
            .await
            .expect("queue");
        b.send(&name, SendMessage::new(format!("{{\"n\": {i}}}")))
            .await
            .expect("send");
    }
    let batch = |queue: &'static str, n: usize, extra: bool| {
        let b = b.clone();
        async move {
            let mut sent = 0;
            while sent < n {
                let k = (n - sent).min(MAX_BATCH_ENTRIES);
                let entries: Vec<SendBatchEntry> = (0..k)
                    .map(|j| {
                        let mut m = SendMessage::new(format!(
                            "{{\"order\": {}, \"customer\": \"c-{}\", \"lines\": [1, 2, 3]}}",
                            sent + j,
                            (sent + j) % 977
                        ));
                        if extra {
                            m = m
                                .attribute(
                                    "ebbflow.reason",
                                    ebbflow_core::MessageAttributeValue::string(
                                        ["permanent", "undecodable"][(sent + j) % 2],
                                    ),
                                )
                                .attribute(
                                    "ebbflow.source_queue",
                                    ebbflow_core::MessageAttributeValue::string("big"),
                                );
                        }
                        SendBatchEntry {
                            id: j.to_string(),
                            message: m,
                        }
                    })
                    .collect();
                b.send_batch(queue, entries).await.expect("send_batch");
                sent += k;
            }
        }
    };
    let producers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(batch("big", messages / 4, false)))
        .collect();
    for p in producers {
        p.await.expect("producer");
    }
    batch("big-dlq", messages / 10, true).await;
    let history = history_queue("big").expect("name");
    b.create_queue(&history, QueueAttributes::standard())
        .await
        .expect("history");
    let now = now_ms();
    let minutes = 2 * 24 * 60;
    for m in 0..minutes {
        for consumer in ["a", "b"] {
            let r = Rollup {
                minute_ms: now - now % 60_000 - (minutes - 1 - m) * 60_000,
                consumer: consumer.to_owned(),
                succeeded: 1_000 + m % 300,
                latency_bounds: vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
                latency_counts: vec![0, 0, 0, 600, 300, 0, 100, 0, 0, 0, 0, 0],
                pool: 8,
                desired: 8,
                visible: 5_000,
                ..Default::default()
            };
            let body = serde_json::to_string(&r).expect("JSON");
            b.send(&history, SendMessage::new(body))
                .await
                .expect("send");
        }
    }
    println!(
        "  filled {queues} queues, {messages} messages in `big`, {} in `big-dlq`, {} rollups in {:.1} s",
        messages / 10,
        minutes * 2,
        started.elapsed().as_secs_f64()
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn time(d: &Dashboard, path: &str) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..RUNS {
        let req = hyper::Request::get(path)
            .body(Full::new(Bytes::new()))
            .expect("request");
        let started = Instant::now();
        let response = d.handle(req).await;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        times.push(started.elapsed());
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        size = body.len();
    }
    times.sort();
    (times[RUNS / 2], times[RUNS - 1], size)
}

async fn measure(engine: &str, b: Arc<dyn QueueBackend>, queues: usize, messages: usize) {
    println!("{engine}:");
    fill(&b, queues, messages).await;
    let d = Dashboard::new(b.clone(), "/ui");
    if std::env::var_os("EBBFLOW_BENCH_CALLS").is_some() {
        let t = Instant::now();
        b.get_queue_attributes("q-0500").await.expect("attrs");
        println!("  get_queue_attributes {:?}", t.elapsed());
        let t = Instant::now();
        b.stats("q-0500").await.expect("stats");
        println!("  stats {:?}", t.elapsed());
        let t = Instant::now();
        b.list_dead_letter_source_queues("q-0500")
            .await
            .expect("sources");
        println!("  list_dead_letter_source_queues {:?}", t.elapsed());
        let t = Instant::now();
        b.browse("q-0500", ebbflow_core::BrowseRequest::new(50))
            .await
            .expect("browse");
        println!("  browse {:?}", t.elapsed());
        let t = Instant::now();
        let _ = b
            .announce(
                "q-0500",
                &ebbflow_core::ConsumerReport::default(),
                Duration::ZERO,
            )
            .await;
        println!("  announce {:?}", t.elapsed());
        let t = Instant::now();
        let _ = b
            .browse(
                "ebbflow_history__q-0500",
                ebbflow_core::BrowseRequest::new(50),
            )
            .await;
        println!("  browse of a missing queue {:?}", t.elapsed());
        let t = Instant::now();
        b.stats("big").await.expect("stats");
        println!("  stats of big {:?}", t.elapsed());
        let t = Instant::now();
        b.list_queues(None).await.expect("list");
        println!("  list_queues {:?}", t.elapsed());
        let t = Instant::now();
        ebbflow_dashboard::data::queue(&b, "big")
            .await
            .expect("queue");
        println!("  data::queue(big) {:?}", t.elapsed());
        let t = Instant::now();
        ebbflow_dashboard::data::messages(&b, "big", None, 50)
            .await
            .expect("messages");
        println!("  data::messages(big) {:?}", t.elapsed());
        let t = Instant::now();
        ebbflow_dashboard::data::history(&b, "big", Duration::from_secs(3600), now_ms())
            .await
            .expect("history");
        println!("  data::history(big, 1h) {:?}", t.elapsed());
        let t = Instant::now();
        ebbflow_dashboard::data::consumers(&b, "big")
            .await
            .expect("consumers");
        println!("  data::consumers(big) {:?}", t.elapsed());
        let t = Instant::now();
        ebbflow_dashboard::data::dead_letters(&b, "big-dlq")
            .await
            .expect("dead letters");
        println!("  data::dead_letters(big-dlq) {:?}", t.elapsed());
    }
    // A cursor deep in the big queue: the page after 900,000 messages.
    let deep = {
        let mut request = ebbflow_core::BrowseRequest::new(ebbflow_core::MAX_BROWSE_LIMIT);
        let mut cursor = None;
        for _ in 0..(messages * 9 / 10 / ebbflow_core::MAX_BROWSE_LIMIT as usize) {
            let page = b.browse("big", request.clone()).await.expect("browse");
            cursor = page.next.clone();
            match page.next {
                Some(c) => request = request.after(c),
                None => break,
            }
        }
        cursor.unwrap_or_default()
    };
    let pages = [
        ("queues (overview)", "/ui/".to_owned()),
        ("queues, JSON", "/ui/api/queues".to_owned()),
        ("the big queue (1 h of charts)", "/ui/queues/big".to_owned()),
        (
            "the big queue, 2 d of charts",
            "/ui/queues/big?window=2d".to_owned(),
        ),
        (
            "the big queue, a page 900,000 in",
            format!("/ui/queues/big?after={deep}"),
        ),
        (
            "its dead-letter queue (grouped)",
            "/ui/queues/big-dlq".to_owned(),
        ),
        (
            "search, a body text near the head",
            "/ui/queues/big/search?q=c-976".to_owned(),
        ),
        ("a small queue", "/ui/queues/q-0500".to_owned()),
    ];
    for (what, path) in pages {
        let (median, slowest, size) = time(&d, &path).await;
        println!(
            "  {what:<36} median {:>7.1} ms   slowest {:>7.1} ms   {:>7} bytes",
            median.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
            size
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let queues = numbers.first().copied().unwrap_or(1_000);
    let messages = numbers.get(1).copied().unwrap_or(1_000_000);
    let engines: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let wants = |e: &str| engines.is_empty() || engines.contains(&e);
    if wants("memory") {
        measure("memory", Arc::new(MemoryBackend::new()), queues, messages).await;
    }
    if wants("sqlite") {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = SqliteBackend::open(&SqliteOptions::new(dir.path().join("dashboard.db")))
            .expect("open");
        measure(
            "sqlite (synchronous = full)",
            Arc::new(backend),
            queues,
            messages,
        )
        .await;
    }
}
