//! The SQS conformance suite against a real Redis server, under tokio's
//! paused clock: the backend passes its time to the server, and runs its
//! server calls on a runtime of their own (see `common`).

mod common;

use ebbflow_core::testkit::services::PausedServer;

ebbflow_core::conformance_suite!(paused_clock, async {
    PausedServer::new(common::shared().await, common::NO_SERVER)
});
