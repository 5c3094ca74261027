//! The conformance suite against an SQS-compatible server:
//! `EBBFLOW_TEST_SQS_ENDPOINT=http://127.0.0.1:PORT` (`.ci/run` starts
//! `moto_server`). Without it every test says it was skipped, unless
//! `EBBFLOW_REQUIRE_SERVICES=1`, which makes a missing server a failure.

mod common;

use async_trait::async_trait;
use common::NO_SERVER;
use ebbflow_core::testkit::Harness;
use ebbflow_core::QueueBackend;
use std::sync::Arc;
use std::time::Duration;

/// Where `moto_server` differs from SQS, by conformance rule (the README lists them).
const MOTO_DIFFERENCES: &[(&str, &str)] = &[
    ("retention_expires_messages", "moto drops expired messages only when a receive meets them; its counts still include them"),
    ("change_visibility_counts_from_now", "moto counts the 12 h visibility cap from a message's first receive, SQS from the receive that issued the handle"),
    ("fifo_deduplicates_within_window", "moto gives a deduplicated send a new message id; SQS returns the original's"),
    ("fifo_content_based_deduplication", "moto gives a deduplicated send a new message id; SQS returns the original's"),
    ("fifo_sequence_numbers_increase", "moto's FIFO sequence numbers are random, not increasing"),
    ("fifo_receive_attempt_id_replays_batch", "moto ignores ReceiveRequestAttemptId"),
    ("fifo_keeps_order_after_visibility_expires", "moto returns a FIFO group's messages out of order once their visibility expires (a3 before a2)"),
    ("dead_letter_policy_is_validated", "moto does not keep a queue's RedriveAllowPolicy"),
    ("dead_letter_messages_move_back_to_source", "moto has no message move tasks"),
    ("purge_removes_everything_once_per_minute", "moto has no 60-second limit between purges"),
    ("in_flight_is_limited", "moto does not limit messages in flight (SQS: 120,000)"),
];

/// Single clauses moto cannot honour; the rest of each rule still runs.
const MOTO_WAIVED_CLAUSES: &[(&str, &str)] = &[
    ("dead_letter_after_max_receive_count/source_arn", "moto sets no DeadLetterQueueSourceArn on dead-lettered messages"),
    ("dead_letter_queue_deleted_leaves_its_source_working/past_the_limit", "moto no longer delivers a message past its redrive limit once the dead-letter queue is gone"),
    ("fifo_receives_the_oldest_group_first_and_fills_from_it/fill", "moto hands out interleaved groups' messages in send order instead of filling from one group first"),
    ("trace_headers_are_kept/batch", "moto's SendMessageBatch drops the entries' MessageSystemAttributes (its SendMessage keeps them)"),
];

struct Moto {
    backend: Option<Arc<dyn QueueBackend>>,
}

fn moto() -> Moto {
    Moto {
        backend: common::endpoint().map(|e| Arc::new(common::connect(&e)) as Arc<dyn QueueBackend>),
    }
}

#[async_trait]
impl Harness for Moto {
    async fn backend(&self) -> Arc<dyn QueueBackend> {
        match &self.backend {
            Some(b) => b.clone(),
            None => unreachable!("{NO_SERVER}"),
        }
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }

    fn unsupported(&self, rule: &str) -> Option<&'static str> {
        if self.backend.is_none() {
            return Some(NO_SERVER);
        }
        ebbflow_sqs::UNSUPPORTED_BY_SQS
            .iter()
            .chain(MOTO_DIFFERENCES)
            .find(|(name, _)| *name == rule)
            .map(|(_, why)| *why)
    }

    fn waived(&self, clause: &str) -> Option<&'static str> {
        ebbflow_sqs::WAIVED_BY_SQS
            .iter()
            .chain(MOTO_WAIVED_CLAUSES)
            .find(|(name, _)| *name == clause)
            .map(|(_, why)| *why)
    }
}

ebbflow_core::conformance_suite!(real_clock, async { moto() });
