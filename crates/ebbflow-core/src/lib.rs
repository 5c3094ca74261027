//! # ebbflow-core
//!
//! The pieces every part of ebbflow shares:
//!
//! - the message model ([`SendMessage`], [`ReceivedMessage`], [`MessageAttributeValue`]);
//! - queue configuration and state ([`QueueAttributes`], [`RedrivePolicy`], [`QueueStats`]);
//! - the [`QueueBackend`] trait, the SQS verbs every backend implements;
//! - [`QueueError`], errors named after SQS's codes;
//! - [`Hooked`], a backend wrapped in code that runs around every call (metrics, fault injection);
//! - [`limits`], SQS's limits and the validation every backend runs, written once;
//! - [`config`], the typed schema of `ebbflow.toml`.
//!
//! ## testkit
//!
//! With the feature `testkit`, `testkit` holds the conformance
//! suite: one test per rule of SQS's semantics, generic over a backend. A backend
//! crate runs all of it with one macro call:
//!
//! ```ignore
//! ebbflow_core::conformance_suite!(paused_clock, || async { MyHarness::new() });
//! ```

#![warn(missing_docs)]

pub mod access;
mod backend;
mod browse;
pub mod config;
mod digest;
mod error;
pub mod fleet;
pub mod history;
mod hook;
pub mod limits;
pub mod local;
mod message;
mod pause;
mod queue;
#[cfg(feature = "seal")]
pub mod seal;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use backend::QueueBackend;
pub use browse::{BrowsePage, BrowseRequest, BrowsedMessage, MessageState, MAX_BROWSE_LIMIT};
pub use digest::{content_deduplication_id, md5_hex, push_hex};
pub use error::{QueueError, Result};
pub use fleet::ConsumerReport;
pub use hook::{BackendCall, BackendHook, Hooked, Operation};
pub use message::{
    attributes_to_json, AttributeValue, BatchFailure, BatchResult, BatchSuccess,
    ChangeVisibilityBatchEntry, DeleteBatchEntry, JsonAttribute, MessageAttributeValue,
    MessageAttributes, ReceivedMessage, SendBatchEntry, SendMessage, SendReceipt, SystemAttributes,
};
pub use pause::Pause;
pub use queue::{
    local_queue_arn, queue_name_from_arn, MoveResult, QueueAttributes, QueueAttributesUpdate,
    QueueStats, ReceiveRequest, RedriveAllowPolicy, RedrivePolicy, RekeyPage, ServerSideEncryption,
};
