//! The autoscaler's rules, end to end: the real runtime and pool against the
//! memory backend, under tokio's paused clock.

use ebbflow_core::testkit::CallLog;
use ebbflow_core::{Operation, QueueBackend, SendMessage};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::stats::GroupStats;
use ebbflow_runtime::{handler_fn, Context, HandlerError, Running, Runtime};
use serde_json::json;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, Instant};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A group `jobs` autoscaling per `scaling`, metrics off.
fn config(scaling: serde_json::Value, visibility: &str) -> ebbflow_core::config::Config {
    serde_json::from_value(json!({
        "queues": {"jobs": {"visibility_timeout": visibility}},
        "workers": {"jobs": {"scaling": scaling, "handler_timeout": "1h"}},
        "metrics": {"enabled": false},
    }))
    .expect("config")
}

async fn send(backend: &MemoryBackend, n: usize, body: &str) {
    for _ in 0..n {
        backend
            .send("jobs", SendMessage::new(body))
            .await
            .expect("send");
    }
}

fn one_second(_: &str) -> Duration {
    secs(1)
}

fn tenth_of_a_second(_: &str) -> Duration {
    Duration::from_millis(100)
}

/// "long" messages take five minutes, others one second.
fn long_or_short(body: &str) -> Duration {
    if body == "long" {
        secs(300)
    } else {
        secs(1)
    }
}

/// What the synthetic handler saw.
#[derive(Default)]
struct Seen {
    started: AtomicU64,
    finished: AtomicU64,
    redelivered: AtomicU64,
    running: AtomicU32,
}

/// Starts `jobs` with a handler that sleeps `took(body)` per message,
/// throttling when more than `throttle_above` run at once.
async fn start(
    backend: Arc<dyn QueueBackend>,
    config: ebbflow_core::config::Config,
    took: fn(&str) -> Duration,
    throttle_above: Option<u32>,
) -> (Running, Arc<GroupStats>, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let handler = handler_fn(move |body: String, ctx: Context| {
        let seen = s.clone();
        async move {
            let running = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
            if throttle_above.is_some_and(|limit| running > limit) {
                seen.running.fetch_sub(1, Ordering::SeqCst);
                return Err(HandlerError::throttled("downstream busy"));
            }
            seen.started.fetch_add(1, Ordering::SeqCst);
            if ctx.receive_count() > 1 {
                seen.redelivered.fetch_add(1, Ordering::SeqCst);
            }
            sleep(took(&body)).await;
            seen.running.fetch_sub(1, Ordering::SeqCst);
            seen.finished.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(())
        }
    });
    let running = Runtime::new(config, backend)
        .handler("jobs", handler)
        .start()
        .await
        .expect("start");
    let stats = running.stats("jobs").expect("stats");
    // Let the group task set its pool up.
    sleep(Duration::from_millis(1)).await;
    (running, stats, seen)
}

/// Samples the pool every 100 ms for `span`, returning (workers, busy) pairs.
async fn watch(stats: &GroupStats, span: Duration) -> Vec<(u64, u64)> {
    let end = Instant::now() + span;
    let mut seen = Vec::new();
    while Instant::now() < end {
        seen.push((stats.workers.get(), stats.busy.get()));
        sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn the_pool_follows_a_burst_within_min_and_max_and_shrinks_after_the_window() {
    let memory = MemoryBackend::new();
    let cfg = config(json!({"min": 2, "max": 8}), "30s");
    let (running, stats, seen) = start(Arc::new(memory.clone()), cfg, one_second, None).await;
    assert_eq!(stats.workers.get(), 2, "starts at min");
    send(&memory, 200, "job").await;
    let during = watch(&stats, secs(40)).await;
    assert_eq!(
        during.iter().map(|w| w.0).max(),
        Some(8),
        "grows to max, not past it"
    );
    assert!(during[..15].iter().any(|w| w.0 == 8), "within a tick or so");
    assert_eq!(seen.finished.load(Ordering::SeqCst), 200);
    // The down window (90 s) keeps the pool through a short lull…
    sleep(secs(40)).await;
    assert_eq!(stats.workers.get(), 8);
    // …and gives it back after a real one, never below min.
    sleep(secs(60)).await;
    assert_eq!((stats.workers.get(), stats.desired.get()), (2, 2));
    assert!(stats.scaled_up.get() >= 1 && stats.scaled_down.get() >= 1);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shrinking_retires_idle_workers_only_and_never_interrupts_a_message() {
    let memory = MemoryBackend::new();
    // Short visibility: only the heartbeat keeps the long messages hidden.
    let cfg = config(json!({"min": 1, "max": 20}), "20s");
    let (running, stats, seen) = start(Arc::new(memory.clone()), cfg, long_or_short, None).await;
    // Short messages first, so the handler time is known; then ten long ones.
    send(&memory, 30, "short").await;
    sleep(secs(20)).await;
    send(&memory, 10, "long").await;
    sleep(secs(5)).await;
    assert_eq!(seen.started.load(Ordering::SeqCst), 40);
    // Once the window has passed the aim is min, but the ten busy workers
    // stay until their messages are done, and no idle worker stays.
    let samples = watch(&stats, secs(200)).await;
    assert_eq!(stats.desired.get(), 1);
    let late = &samples[1_000..];
    assert!(
        late.iter().all(|&(w, busy)| w == 10 && busy == 10),
        "{:?}",
        &late[..5]
    );
    sleep(secs(120)).await;
    assert_eq!(seen.finished.load(Ordering::SeqCst), 40);
    assert_eq!(seen.redelivered.load(Ordering::SeqCst), 0);
    assert_eq!(stats.workers.get(), 1);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_empty_pool_keeps_one_long_poll_wakes_on_a_message_and_returns_to_zero() {
    let memory = MemoryBackend::new();
    let (backend, calls) = CallLog::wrap(Arc::new(memory.clone()));
    let cfg = config(json!({"min": 0, "max": 4}), "30s");
    let (running, stats, seen) = start(backend, cfg, tenth_of_a_second, None).await;
    sleep(secs(200)).await;
    assert_eq!(stats.workers.get(), 0);
    // One 20 s long poll at a time: 10 in 200 s (11 counting the one under way).
    let receives = calls.count(Operation::Receive);
    assert!((10..=11).contains(&receives), "{receives} receives");
    send(&memory, 1, "job").await;
    sleep(Duration::from_millis(1)).await;
    assert_eq!(seen.started.load(Ordering::SeqCst), 1, "woken at once");
    assert_eq!(stats.workers.get(), 1);
    sleep(secs(100)).await;
    assert_eq!(seen.finished.load(Ordering::SeqCst), 1);
    assert_eq!(stats.workers.get(), 0, "back to zero after the window");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn throttling_errors_stop_the_growth_near_the_limit_and_dead_letter_nothing() {
    let memory = MemoryBackend::new();
    memory
        .create_queue("jobs-dlq", Default::default())
        .await
        .expect("dlq");
    let mut cfg = config(json!({"min": 1, "max": 50}), "30s");
    if let Some(q) = cfg.queues.get_mut("jobs") {
        q.dead_letter_queue = Some("jobs-dlq".into());
        q.max_receive_count = 2;
    }
    let (running, stats, _) =
        start(Arc::new(memory.clone()), cfg, tenth_of_a_second, Some(5)).await;
    send(&memory, 3_000, "job").await;
    sleep(secs(10)).await;
    let settled = watch(&stats, secs(30)).await;
    let mean = settled.iter().map(|w| w.0).sum::<u64>() as f64 / settled.len() as f64;
    assert!((4.0..=7.0).contains(&mean), "mean pool {mean}");
    assert!(stats.throttled.get() > 0);
    assert_eq!(
        stats.dead_lettered.get(),
        0,
        "throttling never dead-letters"
    );
    running.shutdown().await;
}

/// Under `fleet_max`, a member whose share is zero does not wake itself on
/// a message its watching poll happens to receive, and two sleeping members
/// do not both wake on a burst: the fleet stays at its cap (issue 38, path 4).
#[tokio::test(start_paused = true)]
async fn a_fleet_never_wakes_above_its_fleet_max() {
    let memory = MemoryBackend::new();
    let backend: Arc<dyn QueueBackend> = Arc::new(memory.clone());
    let rules = json!({"min": 0, "max": 4, "fleet_max": 1, "tick": "1s"});
    let (first, first_stats, first_seen) = start(
        backend.clone(),
        config(rules.clone(), "30s"),
        one_second,
        None,
    )
    .await;
    let (second, second_stats, second_seen) =
        start(backend, config(rules, "30s"), one_second, None).await;
    sleep(secs(5)).await;
    // Bursts of two after idle spells, and a steady pair every three
    // seconds: each member's watching poll could see one of each pair.
    let mut peak = 0;
    for n in 0..120 {
        if n % 3 == 0 && !(30..60).contains(&n) {
            send(&memory, 2, "job").await;
        }
        sleep(Duration::from_millis(250)).await;
        let workers = first_stats.workers.get() + second_stats.workers.get();
        let running =
            first_seen.running.load(Ordering::SeqCst) + second_seen.running.load(Ordering::SeqCst);
        peak = peak.max(workers.max(u64::from(running)));
        sleep(Duration::from_millis(750)).await;
    }
    assert_eq!(peak, 1, "the fleet ran above fleet_max");
    sleep(secs(120)).await;
    let done =
        first_seen.finished.load(Ordering::SeqCst) + second_seen.finished.load(Ordering::SeqCst);
    assert_eq!(done, 60, "every message processed");
    // None ran twice. (A watching poll that was out when its member lost
    // the right to wake gives its message back unprocessed: a receive
    // spent, not a run.)
    let started =
        first_seen.started.load(Ordering::SeqCst) + second_seen.started.load(Ordering::SeqCst);
    assert_eq!(started, 60, "messages processed twice");
    first.shutdown().await;
    second.shutdown().await;
}

fn ten_seconds(_: &str) -> Duration {
    secs(10)
}

async fn set_pause(backend: &MemoryBackend, paused: bool) {
    let pause = paused.then(|| {
        ebbflow_core::Pause::new(Some("downstream down".into()), Some("test".into()))
            .expect("pause")
    });
    let update = ebbflow_core::QueueAttributesUpdate {
        pause: Some(pause),
        ..Default::default()
    };
    backend
        .set_queue_attributes("jobs", update)
        .await
        .expect("pause");
}

/// An operator's pause (issue 35): within a tick no new receive starts, the
/// messages already running finish and are deleted (none is released
/// early), the pool falls to its minimum; a resume starts receiving within
/// a tick and the pool grows again for the backlog.
#[tokio::test(start_paused = true)]
async fn a_paused_queue_gets_no_new_receives_and_resumes_within_a_tick() {
    let memory = MemoryBackend::new();
    let (backend, calls) = CallLog::wrap(Arc::new(memory.clone()));
    let cfg = config(json!({"min": 1, "max": 8}), "60s");
    let (running, stats, seen) = start(backend, cfg, ten_seconds, None).await;
    send(&memory, 100, "job").await;
    sleep(secs(4)).await;
    assert!(stats.workers.get() > 1, "grew for the backlog first");
    set_pause(&memory, true).await;
    // The flag is read each tick (1 s).
    sleep(Duration::from_millis(1100)).await;
    assert_eq!(stats.paused.get(), 1);
    let received = stats.received.get();
    let receives = calls.count(Operation::Receive);
    let during = watch(&stats, secs(30)).await;
    assert_eq!(
        stats.received.get(),
        received,
        "no message taken after the tick"
    );
    assert_eq!(
        calls.count(Operation::Receive),
        receives,
        "no receive started after the tick"
    );
    assert_eq!(
        seen.finished.load(Ordering::SeqCst),
        received,
        "what was in hand finished"
    );
    assert_eq!(stats.released.get(), 0, "nothing was released early");
    assert_eq!(
        during.last().map(|w| w.0),
        Some(1),
        "the pool at its minimum"
    );
    let queue = memory.stats("jobs").await.expect("stats");
    assert_eq!((queue.in_flight, queue.visible), (0, 100 - received));

    set_pause(&memory, false).await;
    sleep(Duration::from_millis(1100)).await;
    assert_eq!(stats.paused.get(), 0);
    assert!(stats.received.get() > received, "receiving again");
    let after = watch(&stats, secs(200)).await;
    assert!(
        after.iter().any(|w| w.0 > 1),
        "the pool grew again for the backlog"
    );
    assert_eq!(seen.finished.load(Ordering::SeqCst), 100);
    assert_eq!(seen.redelivered.load(Ordering::SeqCst), 0);
    running.shutdown().await;
}

/// A long poll under way when the pause comes, holding a worker of a fixed
/// pool, brings a message: it goes back unrun, its receive not counted, and
/// runs once after the resume.
#[tokio::test(start_paused = true)]
async fn a_message_a_poll_brings_after_the_pause_goes_back_uncounted() {
    let memory = MemoryBackend::new();
    let cfg: ebbflow_core::config::Config = serde_json::from_value(json!({
        "queues": {"jobs": {}},
        "workers": {"jobs": {"concurrency": 1, "wait_time": "20s"}},
        "metrics": {"enabled": false},
    }))
    .expect("config");
    let (running, stats, seen) = start(Arc::new(memory.clone()), cfg, one_second, None).await;
    // After a message, the next poll holds the worker for the next one.
    send(&memory, 1, "job").await;
    sleep(secs(2)).await;
    assert_eq!(seen.finished.load(Ordering::SeqCst), 1);
    assert_eq!(stats.receives_in_flight.get(), 1, "a long poll is out");
    set_pause(&memory, true).await;
    sleep(Duration::from_millis(1100)).await;
    send(&memory, 1, "job").await;
    sleep(secs(10)).await;
    assert_eq!(
        seen.started.load(Ordering::SeqCst),
        1,
        "not run while paused"
    );
    assert_eq!(memory.stats("jobs").await.expect("stats").visible, 1);
    set_pause(&memory, false).await;
    sleep(secs(5)).await;
    assert_eq!(seen.finished.load(Ordering::SeqCst), 2);
    assert_eq!(
        seen.redelivered.load(Ordering::SeqCst),
        0,
        "the give-back was not counted as a receive"
    );
    running.shutdown().await;
}

/// A pause is the paused queue's alone (issue 35): another queue of the same
/// process goes on receiving, and producers still send to both.
#[tokio::test(start_paused = true)]
async fn a_pause_leaves_the_other_queues_of_the_process_alone() {
    let memory = MemoryBackend::new();
    let cfg: ebbflow_core::config::Config = serde_json::from_value(json!({
        "queues": {"jobs": {}, "other": {}},
        "workers": {
            "jobs": {"scaling": {"min": 1, "max": 4}},
            "other": {"scaling": {"min": 1, "max": 4}},
        },
        "metrics": {"enabled": false},
    }))
    .expect("config");
    let done = Arc::new(AtomicU64::new(0));
    let counter = |done: Arc<AtomicU64>| {
        handler_fn(move |_body: String, _ctx: Context| {
            let done = done.clone();
            async move {
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(())
            }
        })
    };
    let other_done = Arc::new(AtomicU64::new(0));
    let running = Runtime::new(cfg, Arc::new(memory.clone()))
        .handler("jobs", counter(done.clone()))
        .handler("other", counter(other_done.clone()))
        .start()
        .await
        .expect("start");
    set_pause(&memory, true).await;
    sleep(Duration::from_millis(1100)).await;
    for queue in ["jobs", "other"] {
        for _ in 0..5 {
            memory
                .send(queue, SendMessage::new("x"))
                .await
                .expect("producers still send");
        }
    }
    sleep(secs(5)).await;
    assert_eq!(done.load(Ordering::SeqCst), 0, "the paused queue waits");
    assert_eq!(other_done.load(Ordering::SeqCst), 5, "the other goes on");
    assert_eq!(memory.stats("jobs").await.expect("stats").visible, 5);
    set_pause(&memory, false).await;
    sleep(secs(3)).await;
    assert_eq!(done.load(Ordering::SeqCst), 5);
    running.shutdown().await;
}
