//! A group keeps several receives and delete batches under way while there
//! is a backlog, and watches an idle queue with one receive; under tokio's
//! paused clock, against the memory backend behind a slow network.

use ebbflow_core::config::Config;
use ebbflow_core::{
    BackendCall, BackendHook, Hooked, Operation, QueueBackend, SendBatchEntry, SendMessage,
};
use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::{handler_fn, Context, HandlerError, Runtime};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::wait_until;
use tokio::time::sleep;

mod support;

/// Counts how many calls of each kind are under way at once, each taking 20 ms.
#[derive(Default)]
struct Concurrency {
    receives: Gauge,
    deletes: Gauge,
}

#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// The hook: shares its counts with the test.
struct Counting(Arc<Concurrency>);

impl BackendHook for Counting {
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T> {
        let gauge = match op {
            Operation::Receive => &self.0.receives,
            Operation::DeleteBatch => &self.0.deletes,
            _ => return call,
        };
        Box::pin(async move {
            gauge.enter();
            sleep(Duration::from_millis(20)).await;
            let answer = call.await;
            gauge.leave();
            answer
        })
    }
}

fn config(workers: usize) -> Config {
    let cfg: Config = serde_json::from_value(json!({
        "metrics": {"enabled": false},
        "queues": {"jobs": {}},
        "workers": {"jobs": {"concurrency": workers, "wait_time": "1s"}}
    }))
    .expect("config");
    cfg.validate().expect("valid config");
    cfg
}

async fn start(cfg: Config, backend: Arc<dyn QueueBackend>) -> ebbflow_runtime::Running {
    Runtime::new(cfg, backend)
        .handler(
            "jobs",
            handler_fn(|_: String, _ctx: Context| async {
                sleep(Duration::from_millis(5)).await;
                Ok::<_, HandlerError>(())
            }),
        )
        .start()
        .await
        .expect("start")
}

#[tokio::test(start_paused = true)]
async fn a_backlog_gets_several_receives_and_delete_batches_at_once() {
    let b = MemoryBackend::new();
    let seen = Arc::new(Concurrency::default());
    let backend: Arc<dyn QueueBackend> =
        Arc::new(Hooked::new(Arc::new(b.clone()), Counting(seen.clone())));
    b.create_queue("jobs", Default::default()).await.unwrap();
    for start in (0..1000).step_by(10) {
        let entries = (start..start + 10)
            .map(|i| SendBatchEntry {
                id: (i - start).to_string(),
                message: SendMessage::new(format!("j{i}")),
            })
            .collect();
        b.send_batch("jobs", entries).await.unwrap();
    }
    let running = start(config(40), backend).await;
    wait_until(Duration::from_secs(60), || async {
        b.stats("jobs").await.unwrap().total() == 0
    })
    .await;
    running.shutdown().await;
    let (receives, deletes) = (seen.receives.most(), seen.deletes.most());
    assert!(
        (2..=4).contains(&receives),
        "receives at once with 40 idle workers and a backlog: {receives}"
    );
    assert!(
        (2..=4).contains(&deletes),
        "delete batches at once: {deletes}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_queue_is_watched_by_one_receive() {
    let b = MemoryBackend::new();
    let seen = Arc::new(Concurrency::default());
    let backend: Arc<dyn QueueBackend> =
        Arc::new(Hooked::new(Arc::new(b.clone()), Counting(seen.clone())));
    b.create_queue("jobs", Default::default()).await.unwrap();
    let running = start(config(40), backend).await;
    // A trickle: every receive comes back with less than it asked for.
    for i in 0..20 {
        b.send("jobs", SendMessage::new(format!("t{i}")))
            .await
            .unwrap();
        sleep(Duration::from_millis(700)).await;
    }
    wait_until(Duration::from_secs(60), || async {
        b.stats("jobs").await.unwrap().total() == 0
    })
    .await;
    running.shutdown().await;
    assert_eq!(
        seen.receives.most(),
        1,
        "one receive at a time without a backlog"
    );
}
