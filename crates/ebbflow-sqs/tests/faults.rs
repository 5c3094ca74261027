//! A kill run on an SQS-compatible server (moto in CI): worker processes
//! running the runtime against one queue, killed with SIGKILL under load and
//! replaced, decided by the history checker. moto keeps visibility in whole
//! seconds, as SQS does, so the run's timeouts are whole seconds too.

mod common;

use ebbflow_core::QueueBackend;
use ebbflow_runtime::testkit::{kill_child, kill_child_target, kill_run, KillPlan};
use std::sync::Arc;

fn connect(endpoint: &str) -> Arc<dyn QueueBackend> {
    Arc::new(common::connect(endpoint))
}

/// moto applies a visibility change by any handle a message ever had, so a
/// handler that outlived its receive can release the next one's.
const MOTO_STALE_CHANGES: &str =
    "moto applies a change by any handle the message ever had (`had_receipt_handle`)";

/// moto's receive takes no lock (its server is threaded): under load it
/// hands one message to two receives (seen: receive counts 2 and 2, 10 ms
/// apart; or a receive while another hid it), or to a receive asked after
/// its delete was acknowledged (seen 2 s after, in CI).
const MOTO_SHARED_RECEIVES: &str =
    "moto's receive takes no lock: under load it hands a message to two receives, or after its delete";

fn plan() -> KillPlan {
    KillPlan {
        messages: 200,
        stale_changes: Some(MOTO_STALE_CHANGES),
        shared_receives: Some(MOTO_SHARED_RECEIVES),
        ..KillPlan::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_killed_under_load_keep_every_promise() {
    let Some(endpoint) = common::endpoint() else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    let prefix = format!("kills-{}", fastrand::u64(..));
    kill_run(
        connect(&endpoint),
        &endpoint,
        &prefix,
        plan(),
        "kill_worker",
        |_| {},
    )
    .await
    .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_worker_processes_killed_under_load_lose_nothing_and_double_nothing() {
    let Some(endpoint) = common::endpoint() else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    // moto can hand one FIFO message to two receives made at once (seen in 2
    // of 10 runs: receive counts 1 and 2, 50 ms apart): one process at a time.
    let plan = KillPlan {
        messages: 120,
        processes: 1,
        order_waived: Some(
            "moto returns a group's messages out of order once their visibility expires \
             (conformance rule fifo_keeps_order_after_visibility_expires)",
        ),
        stale_changes: Some(MOTO_STALE_CHANGES),
        shared_receives: Some(MOTO_SHARED_RECEIVES),
        ..KillPlan::fifo()
    };
    let prefix = format!("kills-{}", fastrand::u64(..));
    kill_run(
        connect(&endpoint),
        &endpoint,
        &prefix,
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
    let Some(endpoint) = kill_child_target() else {
        return;
    };
    kill_child(connect(&endpoint)).await;
}

/// Issue 38's situations a process run can show, on SQS: pools scaled to
/// zero and woken under long jobs, long polls twice the visibility timeout.
/// Every redelivery must have a cause (a kill, a release, a late answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_to_zero_workers_on_long_polls_killed_under_load_keep_every_promise() {
    let Some(endpoint) = common::endpoint() else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    let prefix = format!("kills-{}", fastrand::u64(..));
    let plan = KillPlan {
        second_pass: true,
        ..plan()
    };
    kill_run(
        connect(&endpoint),
        &endpoint,
        &prefix,
        plan,
        "kill_worker",
        |_| {},
    )
    .await
    .assert_ok();
}
