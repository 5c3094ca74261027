//! ebbflow's queue engine on Redis: Amazon SQS's semantics for many worker
//! processes sharing one server.
//!
//! - **Atomic verbs**: each send, receive, delete, visibility change, purge
//!   and move is one Lua script (`src/lua/`), so no two workers ever see a
//!   half-done change. Messages waiting sit in a sorted set by the time they
//!   become visible, messages in flight in another by when their visibility
//!   timeout ends; a receive first returns expired ones, then takes the
//!   oldest visible.
//! - **One hash tag per queue**: every key of queue `q` is `ebbflow:{q}:…`, so on
//!   Redis Cluster a queue's keys share a slot. A dead-letter move touches the
//!   source and the dead-letter queue in one script, which Cluster allows only
//!   when both names hash to the same slot.
//! - **FIFO**: each group is a list in send order; a group with a message in
//!   flight leaves the set of groups a receive may take from until it is
//!   deleted or its timeout ends.
//! - **Dead letters** move inside the receive's script.
//! - **Long polling**: scripts `PUBLISH` the queue's name on `ebbflow:wake`;
//!   every process subscribes and wakes its waiting receives.
//! - **Durability** is the server's: with `appendonly yes` and
//!   `appendfsync always` an acknowledged send survives a crash of Redis;
//!   with Redis's defaults, up to a second of writes may not.
//! - **Time** is the workers' clock (keep them in sync, e.g. with NTP).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
//! use ebbflow_redis::{RedisBackend, RedisOptions};
//!
//! let backend = RedisBackend::connect(&RedisOptions::new("redis://127.0.0.1:6379")).await?;
//! backend.create_queue("orders", QueueAttributes::standard()).await?;
//! backend.send("orders", SendMessage::new("hello")).await?;
//! let got = backend.receive("orders", ReceiveRequest::new(10)).await?;
//! backend.delete("orders", &got[0].receipt_handle).await?;
//! # Ok(()) }
//! ```

mod backend;
mod error;
mod keys;
mod listen;
mod options;
mod scripts;
mod store;

pub use backend::RedisBackend;
pub use error::ConnectError;
pub use options::{KeySource, RedisOptions};

/// Receipt handles this engine issues start with this.
const HANDLE_PREFIX: &str = "ebr1-";
