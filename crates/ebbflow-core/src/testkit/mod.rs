//! The backend conformance suite: one test per rule of SQS's semantics.
//!
//! A backend crate implements [`Harness`] (how to get a backend, how to let
//! time pass) and calls [`conformance_suite!`](crate::conformance_suite) once in
//! a test file; that expands to one `#[tokio::test]` per rule, named after the
//! rule, so a failure says which rule broke.
//!
//! ```ignore
//! struct Memory;
//!
//! #[async_trait::async_trait]
//! impl ebbflow_core::testkit::Harness for Memory {
//!     async fn backend(&self) -> std::sync::Arc<dyn ebbflow_core::QueueBackend> {
//!         std::sync::Arc::new(ebbflow_memory::MemoryBackend::new())
//!     }
//!     async fn advance(&self, by: std::time::Duration) {
//!         tokio::time::advance(by).await
//!     }
//! }
//!
//! ebbflow_core::conformance_suite!(paused_clock, async { Memory });
//! ```
//!
//! A backend that cannot honour a rule says so by name in
//! [`Harness::unsupported`]; that test then prints one line saying why and
//! passes, and the README lists the difference. Queue names are unique per
//! test, so a suite can run in parallel against one shared server.

mod calls;
pub mod history;
pub mod load;
mod outage;
pub mod restart;
pub mod rules;
pub mod services;
pub mod workers;

pub use calls::CallLog;
pub use outage::Outage;

use crate::QueueBackend;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// What the conformance suite needs from a backend under test.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// The backend to test. It may be shared between tests: every queue the
    /// suite creates has a unique name.
    async fn backend(&self) -> Arc<dyn QueueBackend>;

    /// Lets `by` pass for the backend: `tokio::time::advance` for a backend on
    /// tokio's paused clock, a real sleep for a server.
    async fn advance(&self, by: Duration);

    /// Why this backend cannot honour `rule` (a test's name), if it cannot.
    /// Prefer [`Harness::waived`]: it skips one clause and keeps the rest.
    fn unsupported(&self, rule: &str) -> Option<&'static str> {
        let _ = rule;
        None
    }

    /// Why this backend cannot honour one clause of a rule (named
    /// `rule/clause`, as the rule asks), if it cannot. The rule skips that
    /// check alone, says so in one line, and checks everything else.
    fn waived(&self, clause: &str) -> Option<&'static str> {
        let _ = clause;
        None
    }
}

/// Whether a rule should check `clause`: false, with one line saying why,
/// when the harness waives it.
pub(crate) fn checks(h: &dyn Harness, clause: &str) -> bool {
    match h.waived(clause) {
        Some(why) => {
            println!("waived {clause}: {why}");
            false
        }
        None => true,
    }
}

/// Expands to one `#[tokio::test]` per conformance rule.
///
/// The first argument picks the clock: `paused_clock` runs each test on a
/// current-thread runtime with tokio's clock paused (for in-process backends
/// whose time comes from tokio), `real_clock` on a multi-thread runtime (for
/// servers). The second is an `async` expression that yields the [`Harness`].
/// The calling crate needs `tokio` with the `macros`, `rt` and (for
/// `paused_clock`) `test-util` features.
#[macro_export]
macro_rules! conformance_suite {
    (paused_clock, $harness:expr) => {
        $crate::__conformance_tests!((start_paused = true) $harness);
    };
    (real_clock, $harness:expr) => {
        $crate::__conformance_tests!((flavor = "multi_thread", worker_threads = 2) $harness);
    };
}

/// The list of rules, written once.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($args:tt $harness:expr) => {
        $crate::__conformance_test!($args $harness;
            queue_names_are_validated,
            queue_lifecycle_and_attributes,
            body_size_is_limited,
            body_characters_are_validated,
            message_attributes_round_trip_and_are_limited,
            batches_are_validated,
            batches_report_each_entry,
            retention_expires_messages,
            queue_delay_hides_new_messages,
            message_delay_overrides_queue_delay,
            visibility_timeout_hides_received_messages,
            change_visibility_counts_from_now,
            long_poll_wakes_on_arrival,
            long_poll_returns_empty_after_wait,
            receive_makes_new_handles_and_counts,
            undone_receives_are_not_counted,
            receive_returns_up_to_max_messages,
            delete_is_idempotent_for_current_handle,
            standard_queue_delivers_every_message,
            fifo_requires_group_and_dedup_ids,
            fifo_keeps_order_within_group,
            fifo_receives_the_oldest_group_first_and_fills_from_it,
            fifo_blocks_group_while_in_flight,
            fifo_keeps_order_after_visibility_expires,
            fifo_deduplicates_within_window,
            fifo_content_based_deduplication,
            fifo_sequence_numbers_increase,
            fifo_receive_attempt_id_replays_batch,
            dead_letter_after_max_receive_count,
            dead_letter_policy_is_validated,
            dead_letter_sources_are_listed,
            dead_letter_queue_deleted_leaves_its_source_working,
            dead_letter_messages_move_back_to_source,
            stats_count_each_state,
            queue_tags_are_kept,
            queue_pauses_are_kept,
            consumers_announce_and_expire,
            system_attributes_are_set,
            trace_headers_are_kept,
            purge_removes_everything_once_per_minute,
            in_flight_is_limited,
            browse_leaves_messages_untouched,
            browse_shows_fifo_groups_in_order,
            browsed_messages_are_deleted_one_by_one,
        );
    };
}

/// One test per rule.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ($args:tt $harness:expr; $($rule:ident),* $(,)?) => {
        $(
            #[::tokio::test $args]
            async fn $rule() {
                let harness = $harness.await;
                if let Some(why) = $crate::testkit::Harness::unsupported(&harness, stringify!($rule)) {
                    println!("skipped {}: {}", stringify!($rule), why);
                    return;
                }
                $crate::testkit::rules::clean_after(&harness, $crate::testkit::rules::$rule(&harness)).await;
            }
        )*
    };
}
