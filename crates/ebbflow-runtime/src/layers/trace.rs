//! A tracing span per message.

use crate::{Delivery, Outcome};
use futures_util::future::BoxFuture;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument as _;

/// Runs each message inside a `message` span carrying the queue, message id and
/// receive count, and logs its outcome. Bodies are never logged.
///
/// Each outcome is logged at `debug` (a release at `info`). A message that
/// did not succeed — dead-lettered, or failed after its visibility ran out —
/// is also a `warn`, at most one every [`WARN_EVERY`] for the services of
/// one layer (one worker group), saying how many more there were since the
/// last: a burst of bad input is one line, not a line per message. The
/// metrics count every one.
#[derive(Debug, Clone, Default)]
pub struct TraceLayer {
    warnings: Arc<Warnings>,
}

/// The least time between two warnings of one [`TraceLayer`].
pub const WARN_EVERY: Duration = Duration::from_secs(10);

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace {
            inner,
            warnings: self.warnings.clone(),
        }
    }
}

/// The service [`TraceLayer`] makes.
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
    warnings: Arc<Warnings>,
}

/// When the last warning went out, and how many were held back since.
#[derive(Debug, Default)]
struct Warnings {
    state: Mutex<(Option<Instant>, u64)>,
}

impl Warnings {
    /// `Some(held back since the last warning)` when this one should be
    /// logged now; `None` (and counted) when it falls within [`WARN_EVERY`].
    fn take(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held) = &mut *state;
        if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
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
        let warnings = self.warnings.clone();
        Box::pin(
            async move {
                let outcome = processing.await?;
                match &outcome {
                    Outcome::Done => tracing::debug!("processed"),
                    Outcome::Release { delay } => tracing::info!(?delay, "released for redelivery"),
                    Outcome::DeadLettered { reason } => match warnings.take(Instant::now()) {
                        Some(more) => {
                            tracing::warn!(reason, more_since_last_warning = more, "dead-lettered")
                        }
                        None => tracing::debug!(reason, "dead-lettered"),
                    },
                    Outcome::Expired => match warnings.take(Instant::now()) {
                        Some(more) => tracing::warn!(
                            more_since_last_warning = more,
                            "failed after its visibility ran out; left to the queue"
                        ),
                        None => tracing::debug!(
                            "failed after its visibility ran out; left to the queue"
                        ),
                    },
                }
                Ok(outcome)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_failures_is_one_warning_then_one_with_the_count_held_back() {
        let w = Warnings::default();
        assert_eq!(w.take(Instant::now()), Some(0), "the first warns");
        for _ in 0..39 {
            assert_eq!(w.take(Instant::now()), None);
        }
        tokio::time::advance(WARN_EVERY - Duration::from_millis(1)).await;
        assert_eq!(w.take(Instant::now()), None, "still within the interval");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            w.take(Instant::now()),
            Some(40),
            "then one, with the 40 held back"
        );
        assert_eq!(w.take(Instant::now()), None);
    }
}
