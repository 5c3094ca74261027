//! A time limit per handler attempt.

use crate::{Delivery, HandlerError};
use futures_util::future::BoxFuture;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};

/// Fails an attempt that runs past `limit` with a retryable
/// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) error.
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// Limits each attempt to `limit`.
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            limit: self.limit,
        }
    }
}

/// The service [`TimeoutLayer`] makes.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Delivery> for Timeout<S>
where
    S: Service<Delivery, Response = (), Error = HandlerError> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = ();
    type Error = HandlerError;
    type Future = BoxFuture<'static, Result<(), HandlerError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), HandlerError>> {
        self.inner.poll_ready(cx)
    }

    // The inner service was made ready by `poll_ready`: it is called here,
    // not cloned into the future (a clone of the whole stack below per message).
    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let (attempt, limit) = (self.inner.call(delivery), self.limit);
        Box::pin(async move {
            match tokio::time::timeout(limit, attempt).await {
                Ok(result) => result,
                Err(_) => Err(HandlerError::timed_out(limit)),
            }
        })
    }
}
