//! Three worker processes with the autoscaler on one Redis queue take a burst
//! of 10,000 messages of 50 ms as one fleet: their summed pools peak within
//! 1.3x of what one process runs for the same burst (three processes each
//! sizing for the whole backlog would run 3x).

mod common;

use ebbflow_core::QueueBackend;
use ebbflow_runtime::testkit::{fleet_child, fleet_child_queue, fleet_run, FleetPlan};
use std::sync::Arc;

async fn connect(url: &str) -> Arc<dyn QueueBackend> {
    match ebbflow_redis::RedisBackend::connect(&ebbflow_redis::RedisOptions::new(url)).await {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_size_one_fleet_for_a_burst() {
    let Some(url) = common::url() else { return };
    let run = std::process::id();
    let one = FleetPlan {
        processes: 1,
        ..FleetPlan::default()
    };
    let single = fleet_run(
        connect(&url).await,
        &format!("fleet-one-{run}"),
        one,
        "fleet_worker",
    )
    .await;
    let three = FleetPlan::default();
    let fleet = fleet_run(
        connect(&url).await,
        &format!("fleet-three-{run}"),
        three,
        "fleet_worker",
    )
    .await;
    println!(
        "redis: one process peaked at {} workers (drained in {:.1} s); three at {} summed {:?} (drained in {:.1} s)",
        single.peak_workers,
        single.drained_in.as_secs_f64(),
        fleet.peak_workers,
        fleet.process_peaks,
        fleet.drained_in.as_secs_f64()
    );
    assert!(
        fleet.peak_workers as f64 <= 1.3 * single.peak_workers as f64,
        "the fleet ran {} workers at its peak, one process {}",
        fleet.peak_workers,
        single.peak_workers
    );
    assert!(
        fleet.process_peaks.iter().all(|&p| p > 1),
        "every process took a share: {:?}",
        fleet.process_peaks
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of three_processes_size_one_fleet_for_a_burst"]
async fn fleet_worker() {
    let (Some(queue), Some(url)) = (fleet_child_queue(), common::url()) else {
        return;
    };
    fleet_child(connect(&url).await, &queue).await;
}
