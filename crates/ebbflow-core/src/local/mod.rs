//! Building blocks shared by ebbflow's own engines (memory, SQLite): message
//! ids and receipt handles. Engines that wrap a server use the server's.

mod handle;
mod ids;

pub use handle::ReceiptHandle;
pub use ids::{push_hex_u64, MessageIds};
