//! Fault runs through the whole runtime on a SQLite file, decided by the
//! history checker: under tokio's paused clock (simulated kills, outages and
//! misbehaving handlers), and in real time with worker processes sharing
//! the file, killed with SIGKILL under load.

use ebbflow_runtime::testkit::{
    fault_run, kill_child, kill_child_target, kill_run, quiet_deliberate_panics, FaultPlan,
    KillPlan,
};
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

fn open_file(path: &str) -> Arc<SqliteBackend> {
    match SqliteBackend::open(&SqliteOptions::new(path)) {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("opening {path}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_killed_under_load_keep_every_promise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queues.db").display().to_string();
    kill_run(
        open_file(&path),
        &path,
        "kills",
        KillPlan::default(),
        "kill_worker",
        |_| {},
    )
    .await
    .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_worker_processes_killed_under_load_keep_each_group_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queues.db").display().to_string();
    let plan = KillPlan::fifo();
    kill_run(
        open_file(&path),
        &path,
        "kills",
        plan,
        "kill_worker",
        |_| {},
    )
    .await
    .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the kill runs"]
async fn kill_worker() {
    let Some(path) = kill_child_target() else {
        return;
    };
    kill_child(open_file(&path)).await;
}

/// Issue 38's situations (scale to zero, long polls past the visibility
/// timeout, slow deletes) on top of kills and outages, on both queue kinds.
#[tokio::test(start_paused = true)]
async fn the_second_pass_situations_on_sqlite_leave_no_unexplained_duplicate() {
    quiet_deliberate_panics();
    for fifo_groups in [None, Some(4)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = FaultPlan {
            fifo_groups,
            messages: 200,
            ..FaultPlan::second_pass()
        };
        fault_run(open(&dir), "faults", plan).await.assert_ok();
    }
}

/// Three runtimes as one fleet under `fleet_max = 2`, scaled from zero,
/// through kills and outages: the live members' pools never add up to more
/// than the cap (each claims its workers in the registry before it runs
/// them), and no redelivery goes unexplained (issue 38, path 4).
#[tokio::test(start_paused = true)]
async fn a_fleet_on_sqlite_with_more_members_than_its_fleet_max_keeps_the_cap() {
    quiet_deliberate_panics();
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = FaultPlan::fleet();
    fault_run(open(&dir), "faults", plan).await.assert_ok();
}

/// A batch handler through kills, outages and the final shutdown, with
/// throttled and failing neighbours retrying beside successes, on both queue
/// kinds: no redelivery goes unexplained (issue 38, path 2).
#[tokio::test(start_paused = true)]
async fn batches_on_sqlite_with_throttled_retries_leave_no_unexplained_duplicate() {
    quiet_deliberate_panics();
    for fifo_groups in [None, Some(4)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = FaultPlan {
            fifo_groups,
            messages: 200,
            ..FaultPlan::batches()
        };
        fault_run(open(&dir), "faults", plan).await.assert_ok();
    }
}
