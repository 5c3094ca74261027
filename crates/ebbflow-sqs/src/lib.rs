//! # ebbflow-sqs
//!
//! Amazon SQS as an ebbflow backend: the same handlers and config,
//! `[backend] kind = "sqs"`. Every `QueueBackend` verb maps onto its SQS call
//! (batches with per-entry results, long polling, FIFO group and dedup ids,
//! receive attempt ids, system and message attributes, redrive policies,
//! message move tasks); SQS's error codes become ebbflow's typed errors.
//!
//! Region and credentials come from the default AWS chain (environment,
//! profile, instance role); `endpoint_url` (or `AWS_ENDPOINT_URL`) points at
//! an SQS-compatible server such as `moto_server`. Throttling and transient
//! errors are retried by the SDK's standard retry strategy (5 attempts,
//! exponential backoff with jitter); what still fails reaches the runtime as a
//! retryable backend error and is counted in `ebbflow_backend_errors_total`.
//!
//! This crate is the only one that depends on the AWS SDK, so that nobody who
//! does not use SQS compiles it; the facade enables it with its feature `sqs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ebbflow_core::QueueError> {
//! use ebbflow_core::{QueueBackend, SendMessage};
//! let sqs = ebbflow_sqs::SqsBackend::connect(&ebbflow_sqs::SqsOptions {
//!     endpoint_url: Some("http://127.0.0.1:5000".into()),
//!     region: Some("us-east-1".into()),
//! })
//! .await?;
//! sqs.send("orders", SendMessage::new(r#"{"id":1}"#)).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod backend;
mod convert;
mod error;

pub use backend::SqsBackend;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use ebbflow_core::QueueError;

/// Where and how to reach SQS; unset fields come from the AWS default chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqsOptions {
    /// An SQS-compatible endpoint (else `AWS_ENDPOINT_URL`, else AWS's own).
    pub endpoint_url: Option<String>,
    /// The region (else `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's).
    pub region: Option<String>,
}

impl SqsOptions {
    /// The options `[backend]` gives.
    pub fn from_config(config: &ebbflow_core::config::BackendConfig) -> Self {
        Self {
            endpoint_url: config.endpoint_url.clone(),
            region: config.region.clone(),
        }
    }
}

/// Conformance rules Amazon SQS itself cannot honour through its API, with
/// the reason (a harness returns these from `Harness::unsupported`).
pub const UNSUPPORTED_BY_SQS: &[(&str, &str)] = &[
    (
        "undone_receives_are_not_counted",
        "SQS counts every receive: a message given back is only made visible again",
    ),
    (
        "consumers_announce_and_expire",
        "SQS has no place for a registry of consumers (each process sizes its pool alone)",
    ),
    (
        "browse_leaves_messages_untouched",
        "SQS has no verb that reads a message without receiving it",
    ),
    (
        "browse_shows_fifo_groups_in_order",
        "SQS has no verb that reads a message without receiving it",
    ),
    (
        "browsed_messages_are_deleted_one_by_one",
        "SQS deletes a message only by the receipt handle of a receive",
    ),
];

/// Clauses of conformance rules Amazon SQS cannot honour through its API,
/// with the reason (a harness returns these from `Harness::waived`); the rest
/// of each rule is checked.
pub const WAIVED_BY_SQS: &[(&str, &str)] = &[(
    "stats_count_each_state/oldest_age",
    "SQS's API gives no age of the oldest message (only CloudWatch's ApproximateAgeOfOldestMessage)",
)];

/// Attempts per call, the first included, before an error reaches the caller.
const MAX_ATTEMPTS: u32 = 5;

impl SqsBackend {
    /// Loads the AWS configuration (credentials, region) from the default
    /// chain, with `options` taking precedence, and builds a client.
    pub async fn connect(options: &SqsOptions) -> Result<Self, QueueError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(QueueError::invalid(
                "backend.region",
                "no AWS region: set [backend] region, or AWS_REGION",
            ));
        }
        Ok(Self::from_client(aws_sdk_sqs::Client::new(&sdk)))
    }
}

#[cfg(test)]
mod reference {
    use super::{UNSUPPORTED_BY_SQS, WAIVED_BY_SQS};

    #[test]
    fn the_reference_names_every_rule_sqs_cannot_keep() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/book/src/reference/sqs.md");
        let page = std::fs::read_to_string(&path).unwrap();
        let section = page
            .split("## Where an engine cannot keep a rule")
            .nth(1)
            .unwrap_or_default();
        // Each rule in the first cell of a row, with its reason beside it.
        for (rule, why) in UNSUPPORTED_BY_SQS.iter().chain(WAIVED_BY_SQS) {
            let row = section.lines().find(|l| {
                l.split('|')
                    .nth(1)
                    .is_some_and(|c| c.contains(&format!("`{rule}`")))
            });
            let row = row.unwrap_or_else(|| panic!("{} does not name `{rule}`", path.display()));
            let reason = why.split(" (").next().unwrap_or(why);
            assert!(
                row.contains(reason),
                "`{rule}`'s row does not give its reason: {why}"
            );
        }
        // And it names no rule that SQS keeps (a waiver that went stale).
        let known: Vec<String> = UNSUPPORTED_BY_SQS
            .iter()
            .chain(WAIVED_BY_SQS)
            .map(|(rule, _)| format!("`{rule}`"))
            .collect();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or_default();
            for name in first.split(',').map(str::trim) {
                assert!(
                    known.iter().any(|k| k == name),
                    "{} names {name}, which SQS keeps",
                    path.display()
                );
            }
        }
    }
}
