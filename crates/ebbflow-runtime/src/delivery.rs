//! What flows through the middleware stack: one delivery in, one outcome out.

use crate::Context;
use ebbflow_core::ReceivedMessage;
use std::sync::Arc;
use std::time::Duration;

/// One received message on its way through the middleware stack.
/// Cheap to clone, so that a retry can hand it to the handler again.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message as received.
    pub message: Arc<ReceivedMessage>,
    /// Its context, shared with the handler.
    pub ctx: Context,
}

/// What the runtime does with a message once the stack is done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled: delete it.
    Done,
    /// Sent to the dead-letter queue: delete it from its source.
    DeadLettered {
        /// Why, as in the `ebbflow.reason` attribute.
        reason: &'static str,
    },
    /// Give it back to the queue, to be redelivered after `delay`.
    Release {
        /// How long it stays invisible.
        delay: Duration,
    },
    /// It failed after its visibility had run out (the heartbeat could not
    /// hold it): the queue may have handed it to another consumer already,
    /// so it is left alone — neither released nor dead-lettered here, which
    /// could undo or double that consumer's work.
    Expired,
}
