//! Fault runs through the whole runtime on the memory engine, under tokio's
//! paused clock: kills, outages and misbehaving handlers, each run decided
//! by the history checker.

use ebbflow_memory::MemoryBackend;
use ebbflow_runtime::testkit::{fault_run, quiet_deliberate_panics, FaultPlan};
use std::sync::Arc;

#[tokio::test(start_paused = true)]
async fn a_standard_queue_loses_nothing_and_duplicates_only_what_expired_under_faults() {
    quiet_deliberate_panics();
    for seed in 1..=3 {
        let plan = FaultPlan {
            seed,
            ..FaultPlan::default()
        };
        fault_run(Arc::new(MemoryBackend::new()), "faults", plan)
            .await
            .assert_ok();
    }
}

#[tokio::test(start_paused = true)]
async fn a_fifo_queue_keeps_each_group_in_order_one_at_a_time_under_faults() {
    quiet_deliberate_panics();
    for seed in 1..=3 {
        // A pool larger than the number of groups: order must come from the runtime.
        let plan = FaultPlan {
            seed,
            messages: 200,
            fifo_groups: Some(4),
            workers: 10,
            ..FaultPlan::default()
        };
        fault_run(Arc::new(MemoryBackend::new()), "faults", plan)
            .await
            .assert_ok();
    }
}

/// Issue 38's situations on top of the kills and outages: a pool scaled to
/// zero and woken under long jobs, long polls longer than the visibility
/// timeout, deletes slower than it; every redelivery must have a cause.
#[tokio::test(start_paused = true)]
async fn the_second_pass_situations_leave_no_unexplained_duplicate() {
    quiet_deliberate_panics();
    for fifo_groups in [None, Some(4)] {
        let plan = FaultPlan {
            fifo_groups,
            ..FaultPlan::second_pass()
        };
        let verdict = fault_run(Arc::new(MemoryBackend::new()), "faults", plan).await;
        verdict.assert_ok();
        assert_eq!(verdict.unexplained, 0);
    }
}

/// A batch handler through kills, outages and the final shutdown: its
/// successes settle while the throttled and failing messages beside them
/// retry, and no redelivery goes unexplained (issue 38, path 2).
#[tokio::test(start_paused = true)]
async fn batches_with_throttled_retries_leave_no_unexplained_duplicate() {
    quiet_deliberate_panics();
    for fifo_groups in [None, Some(4)] {
        let plan = FaultPlan {
            fifo_groups,
            ..FaultPlan::batches()
        };
        let verdict = fault_run(Arc::new(MemoryBackend::new()), "faults", plan).await;
        verdict.assert_ok();
        assert_eq!(verdict.unexplained, 0);
    }
}

/// Three runtimes at a time as one fleet under `fleet_max = 2`, scaled from
/// zero, through kills and outages: the live members' pools never add up to
/// more than the cap, wake-ups included, and no redelivery goes unexplained
/// (issue 38, path 4).
#[tokio::test(start_paused = true)]
async fn a_fleet_with_more_members_than_its_fleet_max_keeps_the_cap() {
    quiet_deliberate_panics();
    for seed in 1..=30 {
        let plan = FaultPlan {
            seed,
            ..FaultPlan::fleet()
        };
        let verdict = fault_run(Arc::new(MemoryBackend::new()), "faults", plan).await;
        verdict.assert_ok();
        assert_eq!(verdict.unexplained, 0);
    }
}
