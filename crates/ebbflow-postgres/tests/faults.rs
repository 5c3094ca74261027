//! Fault runs through the whole runtime on PostgreSQL, under tokio's paused clock
//! (server calls on a runtime of their own): kills, outages and misbehaving
//! handlers, decided by the history checker. Queues are named per run and
//! deleted at the end.

mod common;

use ebbflow_runtime::testkit::{fault_run, quiet_deliberate_panics, FaultPlan};

fn prefix() -> String {
    format!("faults-{}", fastrand::u64(..))
}

#[tokio::test(start_paused = true)]
async fn a_standard_queue_on_postgres_keeps_every_promise_under_faults() {
    let Some(backend) = common::shared().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    quiet_deliberate_panics();
    let plan = FaultPlan {
        messages: 200,
        ..FaultPlan::default()
    };
    fault_run(backend, &prefix(), plan).await.assert_ok();
}

#[tokio::test(start_paused = true)]
async fn a_fifo_queue_on_postgres_keeps_each_group_in_order_under_faults() {
    let Some(backend) = common::shared().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    quiet_deliberate_panics();
    let plan = FaultPlan {
        messages: 120,
        fifo_groups: Some(4),
        workers: 10,
        ..FaultPlan::default()
    };
    fault_run(backend, &prefix(), plan).await.assert_ok();
}

/// Issue 38's situations (scale to zero, long polls past the visibility
/// timeout, slow deletes) on top of kills and outages, on both queue kinds.
#[tokio::test(start_paused = true)]
async fn the_second_pass_situations_on_postgres_leave_no_unexplained_duplicate() {
    let Some(backend) = common::shared().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    quiet_deliberate_panics();
    for fifo_groups in [None, Some(4)] {
        let plan = FaultPlan {
            fifo_groups,
            messages: 120,
            ..FaultPlan::second_pass()
        };
        fault_run(backend.clone(), &prefix(), plan)
            .await
            .assert_ok();
    }
}

/// Three runtimes as one fleet under `fleet_max = 2`, scaled from zero,
/// through kills and outages: the live members' pools never add up to more
/// than the cap (each claims its workers in the registry before it runs
/// them), and no redelivery goes unexplained (issue 38, path 4).
#[tokio::test(start_paused = true)]
async fn a_fleet_on_postgres_with_more_members_than_its_fleet_max_keeps_the_cap() {
    let Some(backend) = common::shared().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    quiet_deliberate_panics();
    let plan = FaultPlan::fleet();
    fault_run(backend, &prefix(), plan).await.assert_ok();
}

/// A batch handler through kills, outages and the final shutdown, with
/// throttled and failing neighbours retrying beside successes, on both queue
/// kinds: no redelivery goes unexplained (issue 38, path 2).
#[tokio::test(start_paused = true)]
async fn batches_on_postgres_with_throttled_retries_leave_no_unexplained_duplicate() {
    let Some(backend) = common::shared().await else {
        println!("skipped: {}", common::NO_SERVER);
        return;
    };
    quiet_deliberate_panics();
    for fifo_groups in [None, Some(4)] {
        let plan = FaultPlan {
            fifo_groups,
            messages: 120,
            ..FaultPlan::batches()
        };
        fault_run(backend.clone(), &prefix(), plan)
            .await
            .assert_ok();
    }
}
