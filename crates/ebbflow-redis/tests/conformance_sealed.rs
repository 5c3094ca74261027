//! The SQS conformance suite again, with encryption at rest on: every rule
//! holds while bodies and attributes are sealed (issue 35).

mod common;

use ebbflow_core::testkit::services::PausedServer;

ebbflow_core::conformance_suite!(paused_clock, async {
    PausedServer::new(common::shared_sealed().await, common::NO_SERVER)
});
