//! # ebbflow-memory
//!
//! An in-process queue backend with Amazon SQS's semantics: standard and FIFO
//! queues, visibility timeouts, delays, retention, long polling, batches and
//! dead-letter queues. It passes ebbflow's whole conformance suite.
//!
//! Time comes from tokio's clock, so code and tests running under
//! `tokio::time::pause()` drive delays, visibility timeouts and retention
//! without waiting for real time.
//!
//! Each queue is one mutex-guarded state machine. Time-driven transitions are
//! applied lazily, from ordered indexes, at the start of each operation; the
//! counters behind [`stats`](ebbflow_core::QueueBackend::stats) are kept exact,
//! so reading them is O(1) whatever the queue's size. Long polls sleep on a
//! [`tokio::sync::Notify`] that sends and visibility changes wake, or until the
//! next message is due, and never poll in a loop.

#![warn(missing_docs)]

mod backend;
mod clock;
mod slots;
mod state;

pub use backend::MemoryBackend;
