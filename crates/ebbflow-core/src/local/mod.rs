//! Building blocks shared by ebbflow's own engines: message ids and receipt
//! handles (memory, SQLite, Redis, PostgreSQL), and, with the `engine`
//! feature, the engines' clock, long polling and server-call offloading.

#[cfg(feature = "engine")]
mod attempts;
#[cfg(feature = "engine")]
mod cache;
#[cfg(feature = "engine")]
mod clock;
mod convert;
mod handle;
mod ids;
mod listing;
#[cfg(feature = "engine")]
mod long_poll;
#[cfg(feature = "engine")]
mod offload;

#[cfg(feature = "engine")]
pub use attempts::ReceiveAttempts;
#[cfg(feature = "engine")]
pub use cache::QueueCache;
#[cfg(feature = "engine")]
pub use clock::{millis, Clock};
pub use convert::convert_each;
pub use handle::ReceiptHandle;
pub use ids::{fifo_sequence_string, push_hex_u64, MessageIds};
pub use listing::{dead_letter_sources, names_with_prefix};
#[cfg(feature = "engine")]
pub use long_poll::{LongPolls, Poll};
#[cfg(feature = "engine")]
pub use offload::Offload;
