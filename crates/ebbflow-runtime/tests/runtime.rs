//! The runtime's promises, each under tokio's paused clock against the memory backend.

use ebbflow_core::config::Config;
use ebbflow_core::{
    AttributeValue, MessageAttributeValue, QueueBackend, QueueStats, ReceiveRequest,
    ReceivedMessage, SendMessage,
};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::{handler_fn, Context, Delivery, HandlerError, Json, Runtime, WorkerGroup};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::wait_until;
use tokio::time::{sleep, Instant};

mod support;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A config from JSON; its metrics listener takes any free port, so tests run in parallel.
fn config(mut value: serde_json::Value) -> Config {
    value["metrics"] = json!({"listen": "127.0.0.1:0"});
    let cfg: Config = serde_json::from_value(value).expect("config");
    cfg.validate().expect("valid config");
    cfg
}

fn backend() -> (MemoryBackend, Arc<dyn QueueBackend>) {
    let b = MemoryBackend::new();
    let dyn_b: Arc<dyn QueueBackend> = Arc::new(b.clone());
    (b, dyn_b)
}

async fn stats(b: &MemoryBackend, queue: &str) -> QueueStats {
    b.stats(queue).await.expect("stats")
}

async fn dead_letters(b: &MemoryBackend, dlq: &str) -> Vec<ReceivedMessage> {
    b.receive(dlq, ReceiveRequest::new(10))
        .await
        .expect("receive dlq")
}

fn text_attr<'a>(m: &'a ReceivedMessage, name: &str) -> &'a str {
    match m.attributes.get(name).map(|v| &v.value) {
        Some(AttributeValue::Text(t)) => t,
        other => panic!("attribute {name}: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn retryable_failure_is_retried_with_backoff_then_released() {
    fastrand::seed(7);
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"jobs": {"visibility_timeout": "60s"}},
        "workers": {"jobs": {"concurrency": 1, "retry": {"attempts": 3, "initial_delay": "1s", "max_delay": "8s", "multiplier": 2.0}}}
    }));
    let attempts: Arc<Mutex<Vec<(u32, Instant)>>> = Arc::default();
    let seen = attempts.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(move |_: String, ctx: Context| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push((ctx.receive_count(), Instant::now()));
                    Err::<(), _>(HandlerError::retry("downstream unavailable"))
                }
            }),
        )
        .start()
        .await
        .unwrap();
    b.send("jobs", SendMessage::new("m")).await.unwrap();
    let seen = attempts.clone();
    wait_until(secs(120), || {
        let n = seen.lock().unwrap().len();
        async move { n >= 4 }
    })
    .await;
    let log = attempts.lock().unwrap().clone();
    let first: Vec<_> = log.iter().filter(|(rc, _)| *rc == 1).collect();
    assert_eq!(
        first.len(),
        3,
        "three in-process attempts on the first receive"
    );
    let policy = ebbflow_runtime::RetryPolicy::new(3, secs(1), secs(8), 2.0);
    for (n, pair) in first.windows(2).enumerate() {
        let gap = pair[1].1 - pair[0].1;
        // Full jitter draws from (0, ceiling]: the wait happened, and stayed under the ceiling.
        assert!(
            gap > Duration::ZERO && gap <= policy.ceiling(n as u32 + 1),
            "wait {n} was {gap:?}"
        );
    }
    assert_eq!(
        log[3].0, 2,
        "after the attempts the message was released and received again"
    );
    assert!(running.stats("jobs").unwrap().retried.get() >= 2);
    assert!(running.stats("jobs").unwrap().released.get() >= 1);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn exhausted_message_reaches_dead_letter_queue_with_reason_and_leaves_source() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {
            "orders-dlq": {},
            "orders": {"dead_letter_queue": "orders-dlq", "max_receive_count": 2, "visibility_timeout": "30s"}
        },
        "workers": {"orders": {"retry": {"attempts": 2, "initial_delay": "100ms", "max_delay": "1s"}}}
    }));
    let running = Runtime::new(cfg, backend)
        .handler(
            "orders",
            handler_fn(|_: String, _ctx: Context| async move {
                Err::<(), _>(HandlerError::retry("card declined\u{0}"))
            }),
        )
        .start()
        .await
        .unwrap();
    let msg =
        SendMessage::new("order-1").attribute("tenant", MessageAttributeValue::string("acme"));
    b.send("orders", msg).await.unwrap();
    wait_until(secs(120), || async {
        stats(&b, "orders-dlq").await.visible == 1
    })
    .await;
    running.shutdown().await;

    assert_eq!(
        stats(&b, "orders").await.total(),
        0,
        "deleted from the source"
    );
    let dead = dead_letters(&b, "orders-dlq").await;
    assert_eq!(dead[0].body, "order-1");
    assert_eq!(
        text_attr(&dead[0], "tenant"),
        "acme",
        "the producer's attributes survive"
    );
    assert_eq!(text_attr(&dead[0], "ebbflow.reason"), "max_receives");
    assert_eq!(text_attr(&dead[0], "ebbflow.source_queue"), "orders");
    assert_eq!(text_attr(&dead[0], "ebbflow.receive_count"), "2");
    assert_eq!(text_attr(&dead[0], "ebbflow.attempts"), "2");
    let error = text_attr(&dead[0], "ebbflow.error");
    assert!(error.contains("card declined"), "{error}");
    assert!(dead[0].attributes.contains_key("ebbflow.failed_at"));
}

/// Makes a backend claim that it redrives by itself, as SQS does.
struct NativeRedrive;

impl ebbflow_core::BackendHook for NativeRedrive {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _: ebbflow_core::Operation,
        call: ebbflow_core::BackendCall<'a, T>,
    ) -> ebbflow_core::BackendCall<'a, T> {
        call
    }

    fn redrives_natively(&self, _: bool) -> bool {
        true
    }
}

#[tokio::test(start_paused = true)]
async fn a_natively_redriving_engine_moves_exhausted_messages_itself() {
    let (b, inner) = backend();
    let backend: Arc<dyn QueueBackend> = Arc::new(ebbflow_core::Hooked::new(inner, NativeRedrive));
    let cfg = config(json!({
        "queues": {
            "orders-dlq": {},
            "orders": {"dead_letter_queue": "orders-dlq", "max_receive_count": 2, "visibility_timeout": "30s"}
        },
        "workers": {"orders": {"retry": {"attempts": 1, "initial_delay": "100ms", "max_delay": "1s"}}}
    }));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "orders",
            handler_fn(move |_: String, _ctx: Context| {
                seen.fetch_add(1, Ordering::SeqCst);
                async move { Err::<(), _>(HandlerError::retry("card declined")) }
            }),
        )
        .start()
        .await
        .unwrap();
    b.send("orders", SendMessage::new("order-1")).await.unwrap();
    wait_until(secs(120), || async {
        stats(&b, "orders-dlq").await.visible == 1
    })
    .await;
    running.shutdown().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "handled on each of its two receives"
    );
    let dead = dead_letters(&b, "orders-dlq").await;
    assert_eq!(dead[0].body, "order-1");
    assert!(
        !dead[0].attributes.contains_key("ebbflow.reason"),
        "the engine moved it, not the runtime"
    );
    assert_eq!(stats(&b, "orders").await.total(), 0);
}

#[tokio::test(start_paused = true)]
async fn undecodable_body_is_dead_lettered_on_first_receive() {
    #[derive(serde::Deserialize)]
    struct Order {
        #[allow(dead_code)]
        id: u64,
    }
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"dlq": {}, "orders": {"dead_letter_queue": "dlq", "max_receive_count": 5}},
    }));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "orders",
            handler_fn(move |Json(_order): Json<Order>, _ctx: Context| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, HandlerError>(()) }
            }),
        )
        .start()
        .await
        .unwrap();
    b.send("orders", SendMessage::new("{not json"))
        .await
        .unwrap();
    b.send("orders", SendMessage::new(r#"{"id": 7}"#))
        .await
        .unwrap();
    wait_until(secs(30), || async { stats(&b, "dlq").await.visible == 1 }).await;
    wait_until(secs(30), || async {
        stats(&b, "orders").await.total() == 0
    })
    .await;
    running.shutdown().await;
    let dead = dead_letters(&b, "dlq").await;
    assert_eq!(text_attr(&dead[0], "ebbflow.reason"), "undecodable");
    assert_eq!(text_attr(&dead[0], "ebbflow.receive_count"), "1");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the good message reached the handler"
    );
}

#[tokio::test(start_paused = true)]
async fn heartbeat_keeps_a_long_handler_from_redelivery() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"videos": {"visibility_timeout": "10s"}},
        "workers": {"videos": {"concurrency": 2, "handler_timeout": "5m", "heartbeat": true}}
    }));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    // Recorded here and asserted by the test: a panic in a handler is only a retry.
    let most_receives = Arc::new(AtomicUsize::new(0));
    let seen = most_receives.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "videos",
            handler_fn(move |_: String, ctx: Context| {
                counted.fetch_add(1, Ordering::SeqCst);
                seen.fetch_max(ctx.receive_count() as usize, Ordering::SeqCst);
                async move {
                    sleep(secs(30)).await;
                    Ok::<_, HandlerError>(())
                }
            }),
        )
        .start()
        .await
        .unwrap();
    b.send("videos", SendMessage::new("transcode"))
        .await
        .unwrap();
    wait_until(secs(120), || async {
        let s = stats(&b, "videos").await;
        s.total() == 0
    })
    .await;
    running.shutdown().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "handled once");
    assert_eq!(
        most_receives.load(Ordering::SeqCst),
        1,
        "never received again while its handler ran"
    );
}

#[tokio::test(start_paused = true)]
async fn panicking_handler_does_not_stop_the_pool() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"dlq": {}, "jobs": {"dead_letter_queue": "dlq", "max_receive_count": 1}},
        "workers": {"jobs": {"concurrency": 2, "retry": {"attempts": 2, "initial_delay": "10ms", "max_delay": "10ms"}}}
    }));
    let ok = Arc::new(AtomicUsize::new(0));
    let counted = ok.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(move |body: String, _ctx: Context| {
                let counted = counted.clone();
                async move {
                    if body == "boom" {
                        panic!("bad message");
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, HandlerError>(())
                }
            }),
        )
        .start()
        .await
        .unwrap();
    b.send("jobs", SendMessage::new("boom")).await.unwrap();
    for i in 0..20 {
        b.send("jobs", SendMessage::new(format!("ok-{i}")))
            .await
            .unwrap();
    }
    wait_until(secs(60), || async { ok.load(Ordering::SeqCst) == 20 }).await;
    wait_until(secs(60), || async { stats(&b, "dlq").await.visible == 1 }).await;
    running.shutdown().await;
    let dead = dead_letters(&b, "dlq").await;
    assert!(text_attr(&dead[0], "ebbflow.error").contains("bad message"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_work_in_flight_loses_nothing() {
    for (grace, finished) in [(secs(2), 0), (secs(20), 4)] {
        let (b, backend) = backend();
        let cfg = config(json!({
            "runtime": {"shutdown_grace": format!("{}s", grace.as_secs())},
            "queues": {"jobs": {"visibility_timeout": "5m"}},
            "workers": {"jobs": {"concurrency": 4, "handler_timeout": "5m"}}
        }));
        let running = Runtime::new(cfg, backend)
            .handler(
                "jobs",
                handler_fn(|_: String, _ctx: Context| async move {
                    sleep(secs(10)).await;
                    Ok::<_, HandlerError>(())
                }),
            )
            .start()
            .await
            .unwrap();
        for i in 0..10 {
            b.send("jobs", SendMessage::new(format!("m{i}")))
                .await
                .unwrap();
        }
        wait_until(secs(5), || async { stats(&b, "jobs").await.in_flight == 4 }).await;
        let group = running.stats("jobs").unwrap();
        running.shutdown().await;
        let s = stats(&b, "jobs").await;
        assert_eq!(s.in_flight, 0, "grace {grace:?}: nothing left hidden");
        assert_eq!(group.succeeded.get(), finished, "grace {grace:?}");
        assert_eq!(
            s.visible,
            10 - finished,
            "grace {grace:?}: the rest is visible again"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn prefetch_never_exceeds_idle_workers() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"jobs": {"visibility_timeout": "5m"}},
        "workers": {"jobs": {"concurrency": 3, "batch_size": 10, "handler_timeout": "5m"}}
    }));
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(|_: String, _ctx: Context| async move {
                sleep(secs(60)).await;
                Ok::<_, HandlerError>(())
            }),
        )
        .start()
        .await
        .unwrap();
    for i in 0..20 {
        b.send("jobs", SendMessage::new(format!("m{i}")))
            .await
            .unwrap();
    }
    for _ in 0..20 {
        sleep(Duration::from_millis(500)).await;
        let s = stats(&b, "jobs").await;
        let busy = running.stats("jobs").unwrap().busy.get();
        assert!(s.in_flight <= 3, "{} in flight with 3 workers", s.in_flight);
        assert_eq!(
            s.in_flight, busy,
            "every received message is being worked on"
        );
    }
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn user_tower_layer_runs_for_every_attempt() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"jobs": {}},
        "workers": {"jobs": {"retry": {"attempts": 2, "initial_delay": "10ms", "max_delay": "10ms"}}}
    }));
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let layer = tower::util::MapRequestLayer::new(move |d: Delivery| {
        counter.fetch_add(1, Ordering::SeqCst);
        d
    });
    let group = WorkerGroup::new(handler_fn(|body: String, ctx: Context| async move {
        if body == "flaky" && ctx.attempt() == 1 {
            return Err(HandlerError::retry("first attempt fails"));
        }
        Ok(())
    }))
    .layer(layer);
    let running = Runtime::new(cfg, backend)
        .group("jobs", group)
        .start()
        .await
        .unwrap();
    b.send("jobs", SendMessage::new("steady")).await.unwrap();
    b.send("jobs", SendMessage::new("flaky")).await.unwrap();
    wait_until(secs(30), || async { stats(&b, "jobs").await.total() == 0 }).await;
    running.shutdown().await;
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "one call for steady, two for flaky"
    );
}

#[tokio::test(start_paused = true)]
async fn configured_group_without_handler_is_an_error() {
    let (_b, backend) = backend();
    let cfg = config(json!({"workers": {"orders": {}}}));
    let err = Runtime::new(cfg, backend)
        .start()
        .await
        .err()
        .expect("error");
    assert!(err.to_string().contains("orders"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn batch_handler_retries_only_the_failed_messages() {
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
    }
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"dlq": {}, "rows": {"dead_letter_queue": "dlq", "max_receive_count": 3}},
        "workers": {"rows": {"concurrency": 1, "batch_size": 10,
                    "retry": {"attempts": 3, "initial_delay": "10ms", "max_delay": "10ms"}}}
    }));
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let seen = calls.clone();
    let running = Runtime::new(cfg, backend)
        .batch_handler(
            "rows",
            ebbflow_runtime::batch_handler_fn(move |batch: Vec<(Json<Row>, Context)>| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push(batch.iter().map(|(Json(r), _)| r.name.clone()).collect());
                    batch
                        .iter()
                        .map(|(Json(row), ctx)| match row.name.as_str() {
                            "flaky" if ctx.attempt() == 1 => {
                                Err(HandlerError::retry("lock timeout"))
                            }
                            "bad" => Err(HandlerError::permanent("constraint violated")),
                            _ => Ok(()),
                        })
                        .collect()
                }
            }),
        )
        .start()
        .await
        .unwrap();
    let batch: Vec<ebbflow_core::SendBatchEntry> = ["a", "flaky", "b", "bad", "c"]
        .iter()
        .enumerate()
        .map(|(i, name)| ebbflow_core::SendBatchEntry {
            id: i.to_string(),
            message: SendMessage::new(json!({"name": name}).to_string()),
        })
        .chain([ebbflow_core::SendBatchEntry {
            id: "junk".into(),
            message: SendMessage::new("not json"),
        }])
        .collect();
    b.send_batch("rows", batch).await.unwrap();
    wait_until(secs(30), || async { stats(&b, "rows").await.total() == 0 }).await;
    running.shutdown().await;

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let mut first = calls[0].clone();
    first.sort();
    assert_eq!(
        first,
        vec!["a", "b", "bad", "c", "flaky"],
        "the undecodable body never reaches the handler"
    );
    assert_eq!(
        calls[1],
        vec!["flaky"],
        "only the failed message is retried"
    );
    let mut reasons: Vec<String> = dead_letters(&b, "dlq")
        .await
        .iter()
        .map(|m| text_attr(m, "ebbflow.reason").to_owned())
        .collect();
    reasons.sort();
    assert_eq!(reasons, vec!["permanent", "undecodable"]);
}

#[tokio::test(start_paused = true)]
async fn the_poller_backs_off_while_the_backend_is_down_and_resumes_after() {
    fastrand::seed(7);
    let (b, inner) = backend();
    let (broken, outage) = ebbflow_core::testkit::Outage::wrap(inner);
    let (backend, calls) = ebbflow_core::testkit::CallLog::wrap(broken);
    let cfg = config(json!({
        "queues": {"jobs": {}},
        "workers": {"jobs": {"concurrency": 2, "wait_time": "1s"}}
    }));
    let handled = Arc::new(AtomicUsize::new(0));
    let count = handled.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(move |_: String, _ctx: Context| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, HandlerError>(())
                }
            }),
        )
        .start()
        .await
        .unwrap();
    outage.set_down(true);
    let before = calls.count(ebbflow_core::Operation::Receive);
    sleep(secs(60)).await;
    // Backoff from 100 ms doubling to 10 s (full jitter): a handful of tries
    // a minute, not a tight loop.
    let tries = calls.count(ebbflow_core::Operation::Receive) - before;
    assert!(
        (5..=40).contains(&tries),
        "{tries} receives in a minute of outage"
    );
    outage.set_down(false);
    b.send("jobs", SendMessage::new("m")).await.unwrap();
    // The longest backoff is 10 s; then the next long poll takes the message.
    let seen = handled.clone();
    wait_until(secs(12), || {
        let n = seen.load(Ordering::SeqCst);
        async move { n == 1 }
    })
    .await;
    running.shutdown().await;
}

/// A message that arrives late in a long poll on a queue whose visibility
/// timeout is shorter than the poll is not taken as expired on arrival: its
/// visibility started when the poll handed it over, not when the poll was
/// asked for. On a FIFO queue an "expired" group was dropped unprocessed and
/// hidden for a whole timeout (issue 38, path 5).
#[tokio::test(start_paused = true)]
async fn a_message_arriving_late_in_a_long_poll_is_processed_at_once() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"jobs.fifo": {"visibility_timeout": "5s"}},
        "workers": {"jobs": {"queue": "jobs.fifo", "concurrency": 1, "wait_time": "20s"}}
    }));
    let handled: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = handled.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(move |_: String, _ctx: Context| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(Instant::now());
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .start()
        .await
        .unwrap();
    // The poll is under way; the message comes 15 s into it.
    sleep(secs(15)).await;
    let sent = Instant::now();
    b.send(
        "jobs.fifo",
        SendMessage::new("late").group_id("g").deduplication_id("d"),
    )
    .await
    .unwrap();
    wait_until(secs(4), || async { !handled.lock().unwrap().is_empty() }).await;
    let at = handled.lock().unwrap()[0];
    assert!(
        at - sent < secs(1),
        "handled {:?} after it was sent",
        at - sent
    );
    wait_until(secs(4), || async {
        stats(&b, "jobs.fifo").await.total() == 0
    })
    .await;
    running.shutdown().await;
}

/// A batch's successes are deleted as soon as their attempt ends, not after
/// the retries of the failures beside them (issue 38, path 2): a throttled
/// neighbour waiting out a long `Retry-After` no longer holds them, so a
/// shutdown in between cannot run them again.
#[tokio::test(start_paused = true)]
async fn a_batch_success_is_deleted_while_its_throttled_neighbour_waits() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"rows": {"visibility_timeout": "30s"}},
        "workers": {"rows": {"concurrency": 1, "batch_size": 10, "wait_time": "1s"}},
        "runtime": {"shutdown_grace": "1s"}
    }));
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = calls.clone();
    let running = Runtime::new(cfg, backend)
        .batch_handler(
            "rows",
            ebbflow_runtime::batch_handler_fn(move |batch: Vec<(String, Context)>| {
                let seen = seen.clone();
                async move {
                    batch
                        .iter()
                        .map(|(body, _)| {
                            seen.lock().unwrap().push(body.clone());
                            if body == "slow" {
                                Err(HandlerError::throttled("rate limited")
                                    .with_retry_after(secs(600)))
                            } else {
                                Ok(())
                            }
                        })
                        .collect()
                }
            }),
        )
        .start()
        .await
        .unwrap();
    let batch: Vec<ebbflow_core::SendBatchEntry> = ["ok", "slow"]
        .iter()
        .map(|body| ebbflow_core::SendBatchEntry {
            id: (*body).to_owned(),
            message: SendMessage::new(*body),
        })
        .collect();
    b.send_batch("rows", batch).await.unwrap();
    wait_until(secs(10), || async { stats(&b, "rows").await.total() == 1 }).await;
    // Mid-wait, the neighbour still hidden: the shutdown releases it alone.
    sleep(secs(60)).await;
    running.shutdown().await;
    let left = b
        .receive("rows", ReceiveRequest::new(10))
        .await
        .expect("receive");
    let bodies: Vec<&str> = left.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["slow"], "only the throttled message goes back");
    assert_eq!(
        calls.lock().unwrap().iter().filter(|c| *c == "ok").count(),
        1
    );
}

/// On a FIFO queue, a batch's success behind a message of its group that is
/// being retried waits for that one's fate: when the retry succeeds both are
/// deleted, and the follower is not run a second time (issue 38, paths 2 and 8).
#[tokio::test(start_paused = true)]
async fn a_fifo_batch_follower_that_succeeded_is_not_run_twice() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"rows.fifo": {"visibility_timeout": "30s"}},
        "workers": {"rows": {"queue": "rows.fifo", "concurrency": 1, "batch_size": 10, "wait_time": "1s",
                    "retry": {"attempts": 3, "initial_delay": "1s", "max_delay": "1s"}}}
    }));
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let seen = calls.clone();
    let running = Runtime::new(cfg, backend)
        .batch_handler(
            "rows",
            ebbflow_runtime::batch_handler_fn(move |batch: Vec<(String, Context)>| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push(batch.iter().map(|(body, _)| body.clone()).collect());
                    batch
                        .iter()
                        .map(|(body, ctx)| match body.as_str() {
                            "head" if ctx.attempt() == 1 => Err(HandlerError::retry("busy")),
                            _ => Ok(()),
                        })
                        .collect()
                }
            }),
        )
        .start()
        .await
        .unwrap();
    let batch: Vec<ebbflow_core::SendBatchEntry> = ["head", "follower"]
        .iter()
        .map(|body| ebbflow_core::SendBatchEntry {
            id: (*body).to_owned(),
            message: SendMessage::new(*body)
                .group_id("g")
                .deduplication_id(*body),
        })
        .collect();
    b.send_batch("rows.fifo", batch).await.unwrap();
    wait_until(secs(30), || async {
        stats(&b, "rows.fifo").await.total() == 0
    })
    .await;
    running.shutdown().await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![
            vec!["head".to_owned(), "follower".to_owned()],
            vec!["head".to_owned()]
        ],
        "the follower ran once, and was deleted with its head"
    );
}

/// When a FIFO group's head fails after its visibility ran out, the rest of
/// its group, still hidden by this worker, goes back at once instead of
/// locking the group until its own deadline (issue 38, path 6).
#[tokio::test(start_paused = true)]
async fn the_rest_of_a_fifo_group_goes_back_when_its_head_expired() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {"jobs.fifo": {"visibility_timeout": "60s"}},
        "workers": {"jobs": {"queue": "jobs.fifo", "concurrency": 4, "batch_size": 2, "wait_time": "1s"}}
    }));
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(move |body: String, ctx: Context| async move {
                if body == "head" && ctx.receive_count() == 1 {
                    // Its visibility gone (as an extension the queue refused
                    // would leave it), the head fails.
                    ctx.extend_visibility(Duration::ZERO).await.expect("extend");
                    return Err(HandlerError::permanent("failed after the deadline"));
                }
                Ok::<(), HandlerError>(())
            }),
        )
        .start()
        .await
        .unwrap();
    // An idle queue's watching poll takes one message: the first goes to
    // it, so that the group's two come in one receive after.
    let batch: Vec<ebbflow_core::SendBatchEntry> = [("first", "w"), ("head", "g"), ("next", "g")]
        .iter()
        .map(|(body, group)| ebbflow_core::SendBatchEntry {
            id: (*body).to_owned(),
            message: SendMessage::new(*body)
                .group_id(*group)
                .deduplication_id(*body),
        })
        .collect();
    b.send_batch("jobs.fifo", batch).await.unwrap();
    // Well inside the follower's 60 s: it was given back, not held.
    wait_until(secs(10), || async {
        stats(&b, "jobs.fifo").await.total() == 0
    })
    .await;
    running.shutdown().await;
}

/// The rest of a FIFO group, given back unprocessed each time its head is
/// released for a retry, keeps its receive count: the head's failures do not
/// carry its followers to the dead-letter queue unprocessed (issue 38, path 8).
#[tokio::test(start_paused = true)]
async fn fifo_followers_given_back_behind_a_failing_head_keep_their_receive_count() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "queues": {
            "jobs.fifo": {"visibility_timeout": "60s", "dead_letter_queue": "dlq.fifo", "max_receive_count": 3},
            "dlq.fifo": {},
        },
        "workers": {"jobs": {"queue": "jobs.fifo", "concurrency": 4, "batch_size": 3, "wait_time": "1s",
                             "retry": {"attempts": 1}}}
    }));
    let counts: Arc<std::sync::Mutex<Vec<(String, u32)>>> = Arc::default();
    let seen = counts.clone();
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(move |body: String, ctx: Context| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push((body.clone(), ctx.receive_count()));
                    if body == "head" && ctx.receive_count() < 3 {
                        return Err(HandlerError::retry("not yet"));
                    }
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .start()
        .await
        .unwrap();
    // The watching poll takes the first; the group's three come together after.
    let batch: Vec<ebbflow_core::SendBatchEntry> =
        [("first", "w"), ("head", "g"), ("next", "g"), ("last", "g")]
            .iter()
            .map(|(body, group)| ebbflow_core::SendBatchEntry {
                id: (*body).to_owned(),
                message: SendMessage::new(*body)
                    .group_id(*group)
                    .deduplication_id(*body),
            })
            .collect();
    b.send_batch("jobs.fifo", batch).await.unwrap();
    wait_until(secs(600), || async {
        stats(&b, "jobs.fifo").await.total() == 0
    })
    .await;
    running.shutdown().await;
    assert_eq!(
        stats(&b, "dlq.fifo").await.total(),
        0,
        "nothing dead-lettered"
    );
    let counts = counts.lock().unwrap().clone();
    for follower in ["next", "last"] {
        let runs: Vec<u32> = counts
            .iter()
            .filter(|(body, _)| body == follower)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            runs,
            [1],
            "{follower} ran once, on its first counted receive: {counts:?}"
        );
    }
}

/// The shutdown grace counts from the stop, not from the end of a long poll
/// still out: a job still running when it is over is released then, before a
/// supervisor's own deadline, not some 20 s later (issue 38, path 8).
#[tokio::test(start_paused = true)]
async fn the_shutdown_grace_counts_from_the_stop() {
    let (b, backend) = backend();
    let cfg = config(json!({
        "runtime": {"shutdown_grace": "2s"},
        "queues": {"jobs": {"visibility_timeout": "5m"}},
        "workers": {"jobs": {"concurrency": 2, "wait_time": "20s", "handler_timeout": "5m"}}
    }));
    let running = Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(|_: String, _ctx: Context| async move {
                sleep(secs(100)).await;
                Ok::<_, HandlerError>(())
            }),
        )
        .start()
        .await
        .unwrap();
    b.send("jobs", SendMessage::new("long")).await.unwrap();
    wait_until(secs(5), || async { stats(&b, "jobs").await.in_flight == 1 }).await;
    // The idle worker's long poll is out now.
    sleep(secs(1)).await;
    let stopping = tokio::spawn(running.shutdown());
    sleep(secs(3)).await;
    assert_eq!(
        stats(&b, "jobs").await.visible,
        1,
        "released when the grace ended"
    );
    stopping.await.unwrap();
}
