//! Keeps a message invisible while its handler runs.

use super::call_inner;
use crate::{Delivery, HandlerError};
use futures_util::future::BoxFuture;
use std::task::{Context, Poll};
use tokio::time::{sleep_until, Instant};
use tower::{Layer, Service};

/// Once a handler has used half of the message's visibility timeout, extends
/// it by a whole timeout, and again each time half is used, until the handler
/// ends or the message reaches 12 hours in flight. Without it a long handler's
/// message would be delivered to a second consumer mid-work.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatLayer;

impl<S> Layer<S> for HeartbeatLayer {
    type Service = Heartbeat<S>;

    fn layer(&self, inner: S) -> Heartbeat<S> {
        Heartbeat { inner }
    }
}

/// The service [`HeartbeatLayer`] makes.
#[derive(Debug, Clone)]
pub struct Heartbeat<S> {
    inner: S,
}

impl<S> Service<Delivery> for Heartbeat<S>
where
    S: Service<Delivery, Response = (), Error = HandlerError> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = ();
    type Error = HandlerError;
    type Future = BoxFuture<'static, Result<(), HandlerError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), HandlerError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let ctx = delivery.ctx.clone();
        let work = call_inner(self.inner.clone(), delivery);
        Box::pin(keep_hidden(vec![ctx], work))
    }
}

/// Runs `work` while keeping every message of `contexts` invisible: each time
/// one has used half of its visibility timeout, extends it by a whole timeout,
/// up to 12 hours in flight. A message whose extension fails is left to its
/// timeout (and logged); the work goes on.
pub(crate) async fn keep_hidden<F: std::future::Future>(
    mut contexts: Vec<crate::Context>,
    work: F,
) -> F::Output {
    tokio::pin!(work);
    contexts.retain(|c| !c.visibility_timeout().is_zero());
    loop {
        let beat_at = |c: &crate::Context| {
            c.deadline()
                .checked_sub(c.visibility_timeout() / 2)
                .unwrap_or_else(Instant::now)
        };
        let Some(next) = contexts.iter().map(beat_at).min() else {
            return work.await;
        };
        tokio::select! {
            result = &mut work => return result,
            _ = sleep_until(next) => {
                let now = Instant::now();
                let mut keep = Vec::with_capacity(contexts.len());
                for ctx in contexts.drain(..) {
                    if beat_at(&ctx) > now {
                        keep.push(ctx);
                    } else if ctx.in_flight_room().is_zero() {
                        // 12 hours in flight: SQS allows no more.
                    } else if let Err(e) = ctx.extend_visibility(ctx.visibility_timeout()).await {
                        tracing::warn!(message_id = ctx.message_id(), error = %e, "heartbeat could not extend visibility; the message may be redelivered");
                    } else {
                        keep.push(ctx);
                    }
                }
                contexts = keep;
            }
        }
    }
}
