//! A tracing span per message.

use crate::{Delivery, Outcome};
use futures_util::future::BoxFuture;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt as _};
use tracing::Instrument as _;

/// Runs each message inside a `message` span carrying the queue, message id and
/// receive count, and logs its outcome. Bodies are never logged.
#[derive(Debug, Clone, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

/// The service [`TraceLayer`] makes.
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

impl<S> Service<Delivery> for Trace<S>
where
    S: Service<Delivery, Response = Outcome, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Outcome;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Outcome, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let span = tracing::info_span!(
            "message",
            queue = delivery.ctx.queue(),
            message_id = delivery.ctx.message_id(),
            receive_count = delivery.ctx.receive_count(),
        );
        let inner = self.inner.clone();
        Box::pin(
            async move {
                let outcome = inner.oneshot(delivery).await?;
                match &outcome {
                    Outcome::Done => tracing::debug!("processed"),
                    Outcome::Release { delay } => tracing::info!(?delay, "released for redelivery"),
                    Outcome::DeadLettered { reason } => tracing::warn!(reason, "dead-lettered"),
                    Outcome::Expired => {
                        tracing::warn!("failed after its visibility ran out; left to the queue")
                    }
                }
                Ok(outcome)
            }
            .instrument(span),
        )
    }
}
