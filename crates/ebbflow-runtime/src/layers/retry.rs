//! In-process retries of retryable failures.

use super::call_inner;
use crate::stats::GroupStats;
use crate::{Delivery, ErrorKind, HandlerError, RetryPolicy};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Retries retryable failures in process, per the [`RetryPolicy`], keeping the
/// message invisible through each wait. Gives up — returning the last error
/// for the dead-letter layer to release or dead-letter — when the attempts are
/// used up, or when the wait asked for is longer than the visibility timeout
/// (holding a worker that long would be waste: the queue can wait instead).
/// Throttling errors are retried here without a limit on attempts (up to
/// SQS's 12 hours in flight): a throttled message never spends a receive, so
/// it never reaches the dead-letter queue for the downstream's sake.
#[derive(Debug, Clone)]
pub struct RetryLayer {
    policy: RetryPolicy,
    stats: Arc<GroupStats>,
}

impl RetryLayer {
    /// Retries per `policy`, counting each retry in `stats`.
    pub fn new(policy: RetryPolicy, stats: Arc<GroupStats>) -> Self {
        Self { policy, stats }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            policy: Arc::new(self.policy.clone()),
            stats: self.stats.clone(),
        }
    }
}

/// The service [`RetryLayer`] makes.
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    policy: Arc<RetryPolicy>,
    stats: Arc<GroupStats>,
}

impl<S> Service<Delivery> for Retry<S>
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
        let (mut inner, policy, stats) =
            (self.inner.clone(), self.policy.clone(), self.stats.clone());
        Box::pin(async move {
            let ctx = delivery.ctx.clone();
            let (mut failures, mut throttles) = (0, 0);
            loop {
                ctx.set_attempt(failures + throttles + 1);
                let started = tokio::time::Instant::now();
                let result = call_inner(&mut inner, delivery.clone()).await;
                stats.count_attempt(&result, started.elapsed());
                let error = match result {
                    Ok(()) => return Ok(()),
                    Err(e) if !e.is_retryable() => return Err(e),
                    Err(e) => e,
                };
                let wait = if error.kind() == ErrorKind::Throttled {
                    // Throttling says nothing about the message: it waits here,
                    // hidden, rather than spend receives (and reach the
                    // dead-letter queue) on the downstream's behalf. Only the
                    // 12-hour cap on time in flight gives it back.
                    throttles += 1;
                    let wait = policy.wait_after(throttles, &error);
                    if wait + ctx.visibility_timeout() >= ctx.in_flight_room() {
                        return Err(error);
                    }
                    wait
                } else {
                    failures += 1;
                    let wait = policy.wait_after(failures, &error);
                    if failures >= policy.attempts || wait > ctx.visibility_timeout() {
                        return Err(error);
                    }
                    wait
                };
                tracing::debug!(message_id = ctx.message_id(), attempt = failures + throttles, ?wait, error = %error, "retrying");
                stats.retried.inc();
                ctx.hide_through(wait).await;
                tokio::time::sleep(wait).await;
                if ctx.is_expired() {
                    // Not ours any more (the heartbeat was cut off): another
                    // consumer may be on it already.
                    return Err(error);
                }
            }
        })
    }
}
