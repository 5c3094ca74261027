//! Fault runs through the whole runtime on a SQLite file, under tokio's paused
//! clock: kills, outages and misbehaving handlers, decided by the history checker.

use ebbflow_runtime::testkit::{fault_run, quiet_deliberate_panics, FaultPlan};
use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
use std::sync::Arc;

fn open(dir: &tempfile::TempDir) -> Arc<SqliteBackend> {
    let options = SqliteOptions::new(dir.path().join("queues.db")).paused_clock(true);
    Arc::new(SqliteBackend::open(&options).expect("open database"))
}

#[tokio::test(start_paused = true)]
async fn a_standard_queue_on_sqlite_keeps_every_promise_under_faults() {
    quiet_deliberate_panics();
    let dir = tempfile::tempdir().expect("temp dir");
    fault_run(open(&dir), "faults", FaultPlan::default())
        .await
        .assert_ok();
}

#[tokio::test(start_paused = true)]
async fn a_fifo_queue_on_sqlite_keeps_each_group_in_order_under_faults() {
    quiet_deliberate_panics();
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = FaultPlan {
        messages: 200,
        fifo_groups: Some(4),
        workers: 10,
        ..FaultPlan::default()
    };
    fault_run(open(&dir), "faults", plan).await.assert_ok();
}
