//! A tracing span per message.

use crate::{Delivery, Outcome};
use futures_util::future::BoxFuture;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{Layer, Service};
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

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let span = tracing::info_span!(
            "message",
            queue = delivery.ctx.queue(),
            message_id = delivery.ctx.message_id(),
            receive_count = delivery.ctx.receive_count(),
        );
        // Ready since `poll_ready`: called now rather than cloned into the future.
        let processing = self.inner.call(delivery);
        Box::pin(
            async move {
                let outcome = processing.await?;
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
