//! ebbflow's durable embedded backend: every queue in one SQLite file, with
//! Amazon SQS's semantics and nothing to install.
//!
//! - **Durable by default.** WAL with `synchronous = FULL`: a send that
//!   returned success survives a crash or a power cut, a delete that returned
//!   success never comes back, and messages in flight at a crash become
//!   visible again when their visibility timeout ends.
//! - **Group commit.** One writer connection runs the writes of concurrent
//!   callers in one transaction and one fsync; reads (stats, attributes) use
//!   their own connections and never wait for more than a commit.
//! - **By index, not by scan.** Delays, visibility timeouts and retention are
//!   applied through indexes on `(queue, state, visible_at)` and `(queue,
//!   sent_ms)`; the queue row keeps exact counters, so `stats` costs a few
//!   index probes on a queue of any size.
//! - **Encryption at rest** (optional): bodies and attributes sealed with
//!   AES-256-GCM, the key read from a file or an environment variable
//!   ([`KeySource`]); a wrong or missing key is refused when the file is opened.
//!
//! Why `rusqlite` (with SQLite bundled) rather than `sqlx`: the group commit
//! needs one connection that it drives synchronously, statement by statement,
//! with savepoints per caller; rusqlite gives exactly that with a statement
//! cache and no async pool in between, and bundling SQLite means no system
//! library to install and the same SQLite everywhere.
//!
//! One process owns a database file at a time for long polling to wake at
//! once; writes from another process are seen within a second.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ebbflow_core::{QueueAttributes, QueueBackend, SendMessage};
//! use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("data/queues.db");
//! let backend = SqliteBackend::open(&SqliteOptions::new(&path))?;
//! backend.create_queue("orders", QueueAttributes::standard()).await?;
//! backend.send("orders", SendMessage::new("kept")).await?;
//! drop(backend);
//!
//! let reopened = SqliteBackend::open(&SqliteOptions::new(&path))?;
//! assert_eq!(reopened.stats("orders").await?.visible, 1);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod backend;
mod commit;
mod crypto;
mod error;
mod options;
mod schema;
mod store;
mod tx;

pub use backend::SqliteBackend;
pub use error::OpenError;
pub use options::{KeySource, SqliteOptions, Synchronous};

/// The prefix of this engine's receipt handles.
pub(crate) const HANDLE_PREFIX: &str = "ebs1-";
