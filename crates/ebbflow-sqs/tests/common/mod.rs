//! The SQS-compatible server the tests use: `EBBFLOW_TEST_SQS_ENDPOINT`
//! (`.ci/run` starts `moto_server`); see `ebbflow_core::testkit::services`.

#![allow(dead_code)]

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use ebbflow_sqs::SqsBackend;

pub const NO_SERVER: &str = "EBBFLOW_TEST_SQS_ENDPOINT is not set (see .ci/run)";

/// The server's endpoint, or `None` when the tests should skip.
pub fn endpoint() -> Option<String> {
    ebbflow_core::testkit::services::service_url("EBBFLOW_TEST_SQS_ENDPOINT")
}

/// A backend on the server at `endpoint`, with test credentials.
pub fn connect(endpoint: &str) -> SqsBackend {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "ebbflow-tests",
        ))
        .build();
    SqsBackend::from_client(aws_sdk_sqs::Client::from_conf(config))
}
