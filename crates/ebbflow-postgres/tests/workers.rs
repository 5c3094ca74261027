//! Three worker processes consume one queue of 10,000 messages on a shared
//! Redis: every message is processed, none twice unless its visibility expired.

mod common;

use ebbflow_core::testkit::workers;
use ebbflow_core::QueueBackend;
use ebbflow_postgres::{PostgresBackend, PostgresOptions};
use std::sync::Arc;

async fn connect(url: &str) -> Arc<dyn QueueBackend> {
    match PostgresBackend::connect(&PostgresOptions::new(url)).await {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_a_queue() {
    let Some(url) = common::url() else { return };
    let queue = format!("workers-{}", std::process::id());
    let report = workers::run(connect(&url).await, &queue, 10_000, 3, "worker_child", &[]).await;
    println!("{report:?}");
    assert_eq!(report.missing, 0, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(
        report.per_worker.iter().all(|&n| n > 0),
        "every worker took a share: {report:?}"
    );
    assert_eq!(report.left, 0, "the queue is empty at the end: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of three_workers_share_a_queue"]
async fn worker_child() {
    let (Some(queue), Some(url)) = (workers::child_queue(), common::url()) else {
        return;
    };
    workers::consume(connect(&url).await, &queue, 4).await;
}
