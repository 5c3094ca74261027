//! Batch handlers: one call for a whole receive, one result per message, and
//! only the messages that failed are retried (as Lambda's partial batch response).

use crate::layers::{DeadLetterLayer, DeadLetterRoute};
use crate::stats::GroupStats;
use crate::{Context, Decode, Delivery, ErrorKind, HandlerError, Outcome, RetryPolicy};
use async_trait::async_trait;
use futures_util::FutureExt as _;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tower::{Layer as _, ServiceExt as _};

/// Handles a batch of messages at once and says, per message, how it went.
///
/// ```
/// use ebbflow_runtime::{BatchHandler, Context, HandlerError, Json};
///
/// #[derive(serde::Deserialize)]
/// struct Row { id: u64 }
///
/// struct BulkInsert;
///
/// #[async_trait::async_trait]
/// impl BatchHandler for BulkInsert {
///     type Message = Json<Row>;
///     async fn handle_batch(&self, batch: Vec<(Json<Row>, Context)>) -> Vec<Result<(), HandlerError>> {
///         // One round trip for the whole batch; a row the database refused fails alone.
///         batch.iter().map(|(Json(row), _)| {
///             if row.id == 0 { Err(HandlerError::permanent("id 0 is reserved")) } else { Ok(()) }
///         }).collect()
///     }
/// }
/// ```
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// The decoded message type.
    type Message: Decode;

    /// Handles `batch`; returns one result per message, in the same order.
    /// A missing result counts as a retryable failure.
    async fn handle_batch(
        &self,
        batch: Vec<(Self::Message, Context)>,
    ) -> Vec<Result<(), HandlerError>>;
}

/// A batch handler made from an async function.
pub struct FnBatchHandler<F, M> {
    f: F,
    _message: PhantomData<fn() -> M>,
}

/// Makes a [`BatchHandler`] from an async function of the batch.
pub fn batch_handler_fn<F, M, Fut>(f: F) -> FnBatchHandler<F, M>
where
    F: Fn(Vec<(M, Context)>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<(), HandlerError>>> + Send + 'static,
    M: Decode,
{
    FnBatchHandler {
        f,
        _message: PhantomData,
    }
}

#[async_trait]
impl<F, M, Fut> BatchHandler for FnBatchHandler<F, M>
where
    F: Fn(Vec<(M, Context)>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<(), HandlerError>>> + Send + 'static,
    M: Decode,
{
    type Message = M;

    async fn handle_batch(&self, batch: Vec<(M, Context)>) -> Vec<Result<(), HandlerError>> {
        (self.f)(batch).await
    }
}

/// A batch handler with its message type erased, so a group can hold any.
#[async_trait]
pub(crate) trait RunBatch: Send + Sync + 'static {
    /// Decodes and handles `deliveries`, returning exactly one result each.
    async fn run(&self, deliveries: &[Delivery]) -> Vec<Result<(), HandlerError>>;
}

pub(crate) struct Erased<H>(pub(crate) H);

#[async_trait]
impl<H: BatchHandler> RunBatch for Erased<H> {
    async fn run(&self, deliveries: &[Delivery]) -> Vec<Result<(), HandlerError>> {
        let mut results: Vec<Option<Result<(), HandlerError>>> = vec![None; deliveries.len()];
        let mut decoded = Vec::new();
        let mut positions = Vec::new();
        for (i, d) in deliveries.iter().enumerate() {
            // A panicking `Decode` fails its own message only.
            let body = &d.message.body;
            match std::panic::catch_unwind(AssertUnwindSafe(|| H::Message::decode(body))) {
                Ok(Ok(m)) => {
                    decoded.push((m, d.ctx.clone()));
                    positions.push(i);
                }
                Ok(Err(e)) => results[i] = Some(Err(HandlerError::undecodable(e))),
                Err(panic) => {
                    results[i] = Some(Err(HandlerError::panicked(crate::handler::panic_text(
                        panic.as_ref(),
                    ))))
                }
            }
        }
        if !decoded.is_empty() {
            let expected = decoded.len();
            let outcome = AssertUnwindSafe(self.0.handle_batch(decoded))
                .catch_unwind()
                .await;
            let returned = match outcome {
                Ok(returned) => returned,
                Err(panic) => {
                    let text = crate::handler::panic_text(panic.as_ref());
                    vec![
                        Err(HandlerError::panicked(format!(
                            "the batch handler panicked: {text}"
                        )));
                        expected
                    ]
                }
            };
            let got = returned.len();
            let mut returned = returned.into_iter();
            for i in positions {
                results[i] = Some(returned.next().unwrap_or_else(|| {
                    Err(HandlerError::retry(format!(
                        "the batch handler returned {got} results for {expected} messages"
                    )))
                }));
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(HandlerError::retry("no result"))))
            .collect()
    }
}

/// How one batch worker treats its messages.
pub(crate) struct BatchPlan {
    pub(crate) handler: Arc<dyn RunBatch>,
    pub(crate) policy: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) route: DeadLetterRoute,
    pub(crate) stats: Arc<GroupStats>,
    /// A FIFO queue: a group's messages after its first retryable failure are
    /// released unprocessed, so that none overtakes the one that failed.
    pub(crate) fifo: bool,
}

impl BatchPlan {
    /// Runs a batch: in-process attempts on the messages still failing
    /// retryably, then each message's outcome as the dead-letter layer decides
    /// it. The caller keeps every message hidden until it is settled.
    pub(crate) async fn run(&self, deliveries: Vec<Delivery>) -> Vec<Outcome> {
        let mut last: Vec<Result<(), HandlerError>> = vec![Ok(()); deliveries.len()];
        // Messages given back without a result of their own (FIFO followers).
        let mut released: Vec<bool> = vec![false; deliveries.len()];
        let mut pending: Vec<usize> = (0..deliveries.len()).collect();
        let (mut failures, mut throttles) = (0, 0);
        loop {
            let attempt = failures + throttles + 1;
            let batch: Vec<Delivery> = pending.iter().map(|&i| deliveries[i].clone()).collect();
            for d in &batch {
                d.ctx.set_attempt(attempt);
            }
            let started = tokio::time::Instant::now();
            let results = tokio::time::timeout(self.timeout, self.handler.run(&batch))
                .await
                .unwrap_or_else(|_| vec![Err(HandlerError::timed_out(self.timeout)); batch.len()]);
            // Each message's share of the batch's time, so that the
            // autoscaler's sums count batch workers, as it sizes them.
            let share = started.elapsed() / batch.len().max(1) as u32;
            for (&i, result) in pending.iter().zip(results) {
                self.stats.count_attempt(&result, share);
                last[i] = result;
            }
            if self.fifo {
                release_followers(&deliveries, &last, &mut released);
            }
            let retry: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&i| {
                    !released[i] && last[i].as_ref().is_err_and(HandlerError::is_retryable)
                })
                .collect();
            let Some(wait) =
                self.next_wait(&deliveries, &last, &retry, &mut failures, &mut throttles)
            else {
                break;
            };
            self.stats.retried.add(retry.len() as u64);
            for (i, d) in deliveries.iter().enumerate() {
                if !released[i] {
                    d.ctx.hide_through(wait).await;
                }
            }
            tokio::time::sleep(wait).await;
            // A message whose visibility ran out meanwhile is no longer ours to retry.
            pending = retry
                .into_iter()
                .filter(|&i| !deliveries[i].ctx.is_expired())
                .collect();
            if pending.is_empty() {
                break;
            }
        }
        let route = DeadLetterLayer::new(self.route.clone());
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for ((delivery, result), released) in deliveries.into_iter().zip(last).zip(released) {
            if released {
                outcomes.push(Outcome::Release {
                    delay: Duration::ZERO,
                });
                continue;
            }
            // The same routing as single-message groups: replay the final result through the layer.
            let replay = route.layer(tower::service_fn(move |_: Delivery| {
                let result = result.clone();
                async move { result }
            }));
            let outcome = match replay.oneshot(delivery).await {
                Ok(outcome) => outcome,
                Err(never) => match never {},
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// The wait before the next attempt at `retry`, or `None` to stop: as the
    /// retry layer, throttling waits without a limit on attempts (up to the
    /// 12 hours in flight), other failures until the attempts are used up or
    /// the wait outgrows the visibility timeout.
    fn next_wait(
        &self,
        deliveries: &[Delivery],
        last: &[Result<(), HandlerError>],
        retry: &[usize],
        failures: &mut u32,
        throttles: &mut u32,
    ) -> Option<Duration> {
        let first = deliveries.get(*retry.first()?)?;
        let errors = retry.iter().filter_map(|&i| last[i].as_ref().err());
        let throttled_only = errors.clone().all(|e| e.kind() == ErrorKind::Throttled);
        let asked = errors.filter_map(HandlerError::retry_after_delay).max();
        let visibility = first.ctx.visibility_timeout();
        if throttled_only {
            *throttles += 1;
            let wait = asked.unwrap_or_else(|| self.policy.backoff(*throttles));
            let room = retry
                .iter()
                .map(|&i| deliveries[i].ctx.in_flight_room())
                .min()?;
            (wait + visibility < room).then_some(wait)
        } else {
            *failures += 1;
            let wait = asked.unwrap_or_else(|| self.policy.backoff(*failures));
            (*failures < self.policy.attempts && wait <= visibility).then_some(wait)
        }
    }
}

/// On a FIFO queue, marks as released every message that follows, in its
/// group, a message whose last result is a retryable failure: it must not be
/// processed (or deleted) before the one ahead of it.
fn release_followers(
    deliveries: &[Delivery],
    last: &[Result<(), HandlerError>],
    released: &mut [bool],
) {
    let mut blocked: Vec<&str> = Vec::new();
    for (i, d) in deliveries.iter().enumerate() {
        let group = d.ctx.group_id().unwrap_or_default();
        if blocked.contains(&group) {
            released[i] = true;
        } else if !released[i] && last[i].as_ref().is_err_and(HandlerError::is_retryable) {
            blocked.push(group);
        }
    }
}
