//! Batch handlers: one call for a whole receive, one result per message, and
//! only the messages that failed are retried (as Lambda's partial batch response).

use crate::layers::{keep_hidden, DeadLetterLayer, DeadLetterRoute};
use crate::stats::GroupStats;
use crate::{Context, Decode, Delivery, HandlerError, Outcome, RetryPolicy};
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
            match H::Message::decode(&d.message.body) {
                Ok(m) => {
                    decoded.push((m, d.ctx.clone()));
                    positions.push(i);
                }
                Err(e) => results[i] = Some(Err(HandlerError::undecodable(e))),
            }
        }
        if !decoded.is_empty() {
            let expected = decoded.len();
            let outcome = AssertUnwindSafe(self.0.handle_batch(decoded))
                .catch_unwind()
                .await;
            let returned = match outcome {
                Ok(returned) => returned,
                Err(_) => vec![Err(HandlerError::panicked("the batch handler panicked")); expected],
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
    pub(crate) heartbeat: bool,
    pub(crate) route: DeadLetterRoute,
    pub(crate) stats: Arc<GroupStats>,
}

impl BatchPlan {
    /// Runs a batch: in-process attempts on the messages still failing
    /// retryably, then each message's outcome as the dead-letter layer decides it.
    pub(crate) async fn run(&self, deliveries: Vec<Delivery>) -> Vec<Outcome> {
        let mut last: Vec<Result<(), HandlerError>> = vec![Ok(()); deliveries.len()];
        let mut pending: Vec<usize> = (0..deliveries.len()).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let batch: Vec<Delivery> = pending.iter().map(|&i| deliveries[i].clone()).collect();
            let contexts: Vec<Context> = batch.iter().map(|d| d.ctx.clone()).collect();
            for ctx in &contexts {
                ctx.set_attempt(attempt);
            }
            let started = tokio::time::Instant::now();
            let work = tokio::time::timeout(self.timeout, self.handler.run(&batch));
            let results = if self.heartbeat {
                keep_hidden(contexts.clone(), work).await
            } else {
                work.await
            }
            .unwrap_or_else(|_| vec![Err(HandlerError::timed_out(self.timeout)); batch.len()]);
            let mut retry = Vec::new();
            let mut wait = Duration::ZERO;
            // Each message's share of the batch's time, so that the
            // autoscaler's sums count batch workers, as it sizes them.
            let share = started.elapsed() / batch.len().max(1) as u32;
            for (&i, result) in pending.iter().zip(results) {
                self.stats.count_attempt(&result, share);
                if let Err(e) = &result {
                    if e.is_retryable() {
                        wait = wait.max(
                            e.retry_after_delay()
                                .unwrap_or_else(|| self.policy.backoff(attempt)),
                        );
                        retry.push(i);
                    }
                }
                last[i] = result;
            }
            let visibility = contexts
                .first()
                .map(|c| c.visibility_timeout())
                .unwrap_or_default();
            if retry.is_empty() || attempt >= self.policy.attempts || wait > visibility {
                break;
            }
            for &i in &retry {
                self.stats.retried.inc();
                deliveries[i].ctx.hide_through(wait).await;
            }
            tokio::time::sleep(wait).await;
            pending = retry;
        }
        let route = DeadLetterLayer::new(self.route.clone());
        let mut outcomes = Vec::with_capacity(deliveries.len());
        for (delivery, result) in deliveries.into_iter().zip(last) {
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
}
