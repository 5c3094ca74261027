//! `[history]`: each group's per-minute rollups in its queue's history
//! queue, under tokio's paused clock against the memory backend.

use ebbflow_core::history::{history_queue, Rollup};
use ebbflow_core::{BrowseRequest, QueueBackend, SendMessage};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::{handler_fn, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{config, wait_until};

mod support;

async fn rollups(b: &MemoryBackend, queue: &str) -> Vec<Rollup> {
    let history = history_queue(queue).expect("a history queue name");
    let page = b
        .browse(&history, BrowseRequest::new(100))
        .await
        .expect("the history queue exists");
    page.messages
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("a rollup"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_outcome_time_and_pool_change_reaches_the_history() {
    let b = MemoryBackend::new();
    let backend: Arc<dyn QueueBackend> = Arc::new(b.clone());
    let cfg = config(
        json!({
            "queues": {"orders-dlq": {}, "orders": {"dead_letter_queue": "orders-dlq"}},
            "workers": {"orders": {"scaling": {"min": 1, "max": 8, "tick": "1s"}}},
            "history": {"enabled": true, "retention": "3d"}
        }),
        json!({"listen": "127.0.0.1:0"}),
    );
    let running = Runtime::new(cfg, backend)
        .handler(
            "orders",
            handler_fn(|body: String, _ctx: Context| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if body.starts_with("bad") {
                    return Err(HandlerError::permanent("no such product"));
                }
                Ok(())
            }),
        )
        .start()
        .await
        .expect("start");
    for i in 0..200 {
        let body = if i % 10 == 0 {
            format!("bad-{i}")
        } else {
            format!("ok-{i}")
        };
        b.send("orders", SendMessage::new(body))
            .await
            .expect("send");
    }
    wait_until(Duration::from_secs(600), || async {
        b.stats("orders").await.expect("stats").total() == 0
    })
    .await;
    // Two minutes later: the idle minutes write nothing.
    tokio::time::sleep(Duration::from_secs(120)).await;
    running.shutdown().await;

    let history = rollups(&b, "orders").await;
    assert!(!history.is_empty());
    let mut all = Rollup::default();
    for r in &history {
        all.merge(r);
    }
    assert_eq!((all.succeeded, all.dead_lettered), (180, 20));
    assert_eq!(
        all.latency_counts.iter().sum::<u64>(),
        200,
        "every message's processing time"
    );
    let median = all.latency_quantile(0.5).expect("samples");
    assert!((0.2..=0.5).contains(&median), "{median}");
    assert!(
        all.decisions.iter().any(|d| d.to > d.from),
        "the pool grew for the backlog: {:?}",
        all.decisions
    );
    let attrs = b
        .get_queue_attributes(&history_queue("orders").expect("name"))
        .await
        .expect("history queue");
    assert_eq!(
        attrs.message_retention_period,
        Duration::from_secs(3 * 86_400)
    );
}

#[tokio::test(start_paused = true)]
async fn without_history_no_companion_queue_is_made() {
    let b = MemoryBackend::new();
    let backend: Arc<dyn QueueBackend> = Arc::new(b.clone());
    let cfg = config(
        json!({"queues": {"jobs": {}}, "workers": {"jobs": {"concurrency": 2}}}),
        json!({"enabled": false}),
    );
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(|_: String, _ctx: Context| async move { Ok::<(), HandlerError>(()) }),
        )
        .start()
        .await
        .expect("start");
    b.send("jobs", SendMessage::new("x")).await.expect("send");
    wait_until(Duration::from_secs(60), || async {
        b.stats("jobs").await.expect("stats").total() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    running.shutdown().await;
    assert_eq!(b.list_queues(None).await.expect("list"), ["jobs"]);
}
