//! ebbflow's queue engine on PostgreSQL: Amazon SQS's semantics for many
//! worker processes sharing one database.
//!
//! - **Schema**: created and upgraded by the migrations this crate ships
//!   (`migrations/`), applied at connect under an advisory lock; tables are
//!   prefixed `ebbflow_`.
//! - **Receive**: one statement picks visible messages with
//!   `FOR UPDATE SKIP LOCKED` (so concurrent receivers never wait on each
//!   other nor take the same message), moves those past the redrive limit to
//!   the dead-letter queue and puts the rest in flight; FIFO receives of one
//!   queue take turns under an advisory lock so that a group is never split.
//! - **Visibility**: a message is visible once its `visible_at` has passed,
//!   so timeouts and delays end without a write.
//! - **Long polling**: writes `NOTIFY ebbflow, '<queue>'`; every process
//!   `LISTEN`s and wakes its waiting receives. A lost connection reconnects.
//! - **Vacuum**: each process vacuums the messages table after every
//!   [`PostgresOptions::vacuum_after`] dead row versions it made (two a
//!   message), and analyzes it as its sends grow it (after 1,000, then
//!   after twice as many as the time before, up to half of
//!   `vacuum_after`), so that a long
//!   drain neither slows under its own dead rows nor runs on plans made for
//!   an empty table, where autovacuum is off or slow.
//! - **Time** is the workers' clock (keep them in sync, e.g. with NTP): a skew
//!   of *s* seconds between two workers lengthens or shortens the visibility
//!   timeouts one sees of the other's receives by *s*.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
//! use ebbflow_postgres::{PostgresBackend, PostgresOptions};
//!
//! let backend = PostgresBackend::connect(&PostgresOptions::new("postgres://postgres@127.0.0.1/test")).await?;
//! backend.create_queue("orders", QueueAttributes::standard()).await?;
//! backend.send("orders", SendMessage::new("hello")).await?;
//! let got = backend.receive("orders", ReceiveRequest::new(10)).await?;
//! backend.delete("orders", &got[0].receipt_handle).await?;
//! # Ok(()) }
//! ```

mod backend;
mod catalog;
mod error;
mod listen;
mod options;
mod schema;
mod store;
mod vacuum;

pub use backend::PostgresBackend;
pub use error::ConnectError;
pub use options::{KeySource, PostgresOptions};
pub use schema::VERSION as SCHEMA_VERSION;

/// Receipt handles this engine issues start with this.
const HANDLE_PREFIX: &str = "ebp1-";
