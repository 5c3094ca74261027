//! The tower middleware every message passes through, outermost first:
//!
//! `Trace → DeadLetter → Retry → Timeout → Heartbeat → (your layers) → Decode + Handler`
//!
//! Each layer is a plain [`tower::Layer`]; [`WorkerGroup`](crate::WorkerGroup)
//! assembles them from the group's configuration.

mod dead_letter;
mod heartbeat;
mod retry;
mod timeout;
mod trace;

pub use dead_letter::{DeadLetter, DeadLetterLayer, DeadLetterRoute};
pub(crate) use heartbeat::{extend_due, keep_hidden, next_beat, RETRY_AFTER};
pub use heartbeat::{Heartbeat, HeartbeatLayer};
pub use retry::{Retry, RetryLayer};
pub use timeout::{Timeout, TimeoutLayer};
pub use trace::{Trace, TraceLayer, WARN_EVERY};

use crate::{Delivery, HandlerError};
use tower::{Service, ServiceExt as _};

/// Waits for `service` to be ready, then hands it the delivery. It borrows
/// the service, so that a retry calls the same clone again rather than make
/// another for each attempt.
async fn call_inner<S>(service: &mut S, delivery: Delivery) -> Result<S::Response, HandlerError>
where
    S: Service<Delivery, Error = HandlerError>,
{
    service.ready().await?;
    service.call(delivery).await
}
