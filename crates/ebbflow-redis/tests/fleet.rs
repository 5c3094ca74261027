//! Three worker processes with the autoscaler on one Redis queue take a burst
//! of 10,000 messages of 50 ms as one fleet: their summed pools peak within
//! 1.3x of what one process runs for the same burst (three processes each
//! sizing for the whole backlog would run 3x).
//! And one pause, set in the engine, stops all three from receiving within a
//! tick, holding their pools at the minimum; one resume starts them again.

mod common;

use ebbflow_core::QueueBackend;
use ebbflow_runtime::testkit::{
    assert_fleet_pauses, assert_one_fleet, fleet_child, fleet_child_queue,
};
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
    assert_one_fleet("redis", || connect(&url), "fleet_worker").await;
}

/// One pause stops three processes within a tick and one resume starts
/// them again (issue 35).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_stops_three_processes_and_a_resume_starts_them() {
    let Some(url) = common::url() else { return };
    assert_fleet_pauses("redis", || connect(&url), "fleet_worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the fleet runs"]
async fn fleet_worker() {
    let (Some(queue), Some(url)) = (fleet_child_queue(), common::url()) else {
        return;
    };
    fleet_child(connect(&url).await, &queue).await;
}
