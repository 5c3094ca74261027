//! # ebbflow-runtime
//!
//! The worker runtime. You write a handler; the runtime long-polls the queue,
//! runs each message through a `tower` middleware stack, deletes what
//! succeeded, retries or dead-letters what failed, and shuts down without
//! losing anything.
//!
//! The path of one message, top to bottom:
//!
//! 1. **poller** ([`group`](crate::WorkerGroup)): receives only as many messages as there are idle workers;
//! 2. **worker**: a long-lived task runs each message (a FIFO group's in order), holding one worker slot per message;
//! 3. **middleware** ([`layers`]): `Trace → DeadLetter → Retry → Timeout → Heartbeat → your layers`;
//! 4. **handler** ([`Handler`]): the decoded message and its [`Context`];
//! 5. **ack**: deletes batched ten at a time, or releases / dead-letters per [`Outcome`].
//!
//! Around it: one HTTP listener ([`Running::metrics_addr`]) serving `/metrics`
//! (the [`telemetry::catalogue`]), `/healthz` and `/readyz`, and structured
//! logs ([`init_logging`]).

#![warn(missing_docs)]

mod acker;
mod autoscale;
mod batch;
mod context;
mod declare;
mod delivery;
mod error;
mod group;
mod handler;
mod history;
pub mod layers;
mod listener;
mod load;
mod logging;
mod pause;
mod retry;
mod runtime;
pub mod stats;
mod sync;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
mod worker_tasks;

pub use batch::{batch_handler_fn, BatchHandler, FnBatchHandler};
pub use context::Context;
pub use declare::{declare_queues, differences, Difference};
pub use delivery::{Delivery, Outcome};
pub use error::{ErrorKind, HandlerError, RuntimeError, MAX_RETRY_AFTER};
pub use group::{HandlerStack, WorkerGroup};
pub use handler::{handler_fn, Decode, FnHandler, Handler, Json};
pub use load::{load_config, load_config_with_env};
pub use logging::{init_logging, log_subscriber};
pub use retry::RetryPolicy;
pub use runtime::{shutdown_signal, Running, Runtime};
pub use telemetry::Telemetry;
