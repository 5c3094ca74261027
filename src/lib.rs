//! # ebbflow
//!
//! Serverless-style queue workers for Rust, with the semantics of Amazon SQS.
//!
//! This crate is the facade: it re-exports the message model, the
//! [`QueueBackend`] contract and the backends enabled by features
//! (`memory`, on by default). Most programs need only the [`prelude`].
//!
//! ```
//! use ebbflow::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> ebbflow::Result<()> {
//! let queues = MemoryBackend::new();
//! queues.create_queue("orders", QueueAttributes::standard()).await?;
//! queues.send("orders", SendMessage::new(r#"{"id":1}"#)).await?;
//! for msg in queues.receive("orders", ReceiveRequest::new(10)).await? {
//!     println!("{}", msg.body);
//!     queues.delete("orders", &msg.receipt_handle).await?;
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub use ebbflow_core::*;

/// The in-process backend (feature `memory`).
#[cfg(feature = "memory")]
pub use ebbflow_memory::MemoryBackend;

/// What most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "memory")]
    pub use ebbflow_memory::MemoryBackend;

    pub use ebbflow_core::{
        MessageAttributeValue, QueueAttributes, QueueBackend, QueueError, QueueStats,
        ReceiveRequest, ReceivedMessage, RedrivePolicy, SendMessage,
    };
}
