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

/// Where one message of a batch run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stand {
    /// Attempted (again) at the next round.
    Pending,
    /// Succeeded on a FIFO queue behind a message of its group that is being
    /// retried: it shares that message's fate (deleted if it is settled,
    /// released if it goes back), so that it neither overtakes it nor runs twice.
    Behind(usize),
    /// Handed to the caller to settle.
    Decided,
}

/// One batch under way: each [`round`](BatchRun::round) is one attempt at the
/// messages still pending, and hands back what that attempt decided, to be
/// settled before the next one starts. A success is deleted while the failures
/// beside it wait out their retries, not after: a shutdown or crash in between
/// would otherwise run it again (issue 38, path 2).
pub(crate) struct BatchRun<'a> {
    plan: &'a BatchPlan,
    deliveries: Vec<Delivery>,
    last: Vec<Result<(), HandlerError>>,
    stand: Vec<Stand>,
    failures: u32,
    throttles: u32,
    /// The wait before the next attempt, once a round has decided to retry.
    wait: Option<Duration>,
}

impl BatchPlan {
    /// Starts a run over `deliveries`; the caller keeps every message hidden
    /// until it is settled.
    pub(crate) fn start(&self, deliveries: Vec<Delivery>) -> BatchRun<'_> {
        let n = deliveries.len();
        BatchRun {
            plan: self,
            deliveries,
            last: vec![Ok(()); n],
            stand: vec![Stand::Pending; n],
            failures: 0,
            throttles: 0,
            wait: None,
        }
    }
}

impl BatchRun<'_> {
    /// The next attempt at the messages still pending (after the wait the last
    /// round chose), and the outcome of each message it decided, by index.
    /// `None` once every message has been decided.
    pub(crate) async fn round(&mut self) -> Option<Vec<(usize, Outcome)>> {
        if !self.stand.contains(&Stand::Pending) {
            return None;
        }
        let mut decided = Vec::new();
        if let Some(wait) = self.wait.take() {
            for (d, stand) in self.deliveries.iter().zip(&self.stand) {
                if *stand != Stand::Decided {
                    d.ctx.hide_through(wait).await;
                }
            }
            tokio::time::sleep(wait).await;
            // A message whose visibility ran out meanwhile is no longer ours to retry.
            for i in self.pending() {
                if self.deliveries[i].ctx.is_expired() {
                    self.decide(i, &mut decided).await;
                }
            }
            if !self.stand.contains(&Stand::Pending) {
                return Some(decided);
            }
        }
        let pending = self.pending();
        let plan = self.plan;
        let attempt = self.failures + self.throttles + 1;
        let batch: Vec<Delivery> = pending
            .iter()
            .map(|&i| self.deliveries[i].clone())
            .collect();
        for d in &batch {
            d.ctx.set_attempt(attempt);
        }
        let started = tokio::time::Instant::now();
        let results = tokio::time::timeout(plan.timeout, plan.handler.run(&batch))
            .await
            .unwrap_or_else(|_| vec![Err(HandlerError::timed_out(plan.timeout)); batch.len()]);
        // Each message's share of the batch's time, so that the autoscaler's
        // sums count batch workers, as it sizes them.
        let share = started.elapsed() / batch.len().max(1) as u32;
        for (&i, result) in pending.iter().zip(results) {
            plan.stats.count_attempt(&result, share);
            self.last[i] = result;
        }
        if plan.fifo {
            self.stand_behind(&mut decided);
        }
        let retry: Vec<usize> = self
            .pending()
            .into_iter()
            .filter(|&i| self.last[i].as_ref().is_err_and(HandlerError::is_retryable))
            .collect();
        self.wait = self.next_wait(&retry);
        if self.wait.is_some() {
            plan.stats.retried.add(retry.len() as u64);
        }
        for i in self.pending() {
            if self.wait.is_none() || !retry.contains(&i) {
                self.decide(i, &mut decided).await;
            }
        }
        Some(decided)
    }

    fn pending(&self) -> Vec<usize> {
        (0..self.stand.len())
            .filter(|&i| self.stand[i] == Stand::Pending)
            .collect()
    }

    /// Decides message `i` from its last result, as the dead-letter layer
    /// routes single messages, and with it the successes waiting behind it.
    async fn decide(&mut self, i: usize, decided: &mut Vec<(usize, Outcome)>) {
        let result = self.last[i].clone();
        // The same routing as single-message groups: replay the final result through the layer.
        let replay = DeadLetterLayer::new(self.plan.route.clone()).layer(tower::service_fn(
            move |_: Delivery| {
                let result = result.clone();
                async move { result }
            },
        ));
        let outcome = match replay.oneshot(self.deliveries[i].clone()).await {
            Ok(outcome) => outcome,
            Err(never) => match never {},
        };
        self.stand[i] = Stand::Decided;
        let settled = matches!(outcome, Outcome::Done | Outcome::DeadLettered { .. });
        decided.push((i, outcome));
        for j in 0..self.stand.len() {
            if self.stand[j] == Stand::Behind(i) {
                self.stand[j] = Stand::Decided;
                let follows = if settled {
                    Outcome::Done
                } else if self.deliveries[j].ctx.is_expired() {
                    Outcome::Expired
                } else {
                    Outcome::Release {
                        delay: Duration::ZERO,
                    }
                };
                decided.push((j, follows));
            }
        }
    }

    /// On a FIFO queue, a message behind one of its group that failed
    /// retryably must not be settled before it: a success waits for that
    /// one's fate, anything else goes back at once, unprocessed as far as the
    /// queue is concerned.
    fn stand_behind(&mut self, decided: &mut Vec<(usize, Outcome)>) {
        let mut blocked: Vec<(&str, usize)> = Vec::new();
        for (i, d) in self.deliveries.iter().enumerate() {
            if self.stand[i] != Stand::Pending {
                continue;
            }
            let group = d.ctx.group_id().unwrap_or_default();
            if let Some(&(_, head)) = blocked.iter().find(|(g, _)| *g == group) {
                if self.last[i].is_ok() {
                    self.stand[i] = Stand::Behind(head);
                } else {
                    self.stand[i] = Stand::Decided;
                    decided.push((
                        i,
                        Outcome::Release {
                            delay: Duration::ZERO,
                        },
                    ));
                }
            } else if self.last[i].as_ref().is_err_and(HandlerError::is_retryable) {
                blocked.push((group, i));
            }
        }
    }

    /// The wait before the next attempt at `retry`, or `None` to stop: as the
    /// retry layer, throttling waits without a limit on attempts (up to the
    /// 12 hours in flight), other failures until the attempts are used up or
    /// the wait outgrows the visibility timeout.
    fn next_wait(&mut self, retry: &[usize]) -> Option<Duration> {
        let first = self.deliveries.get(*retry.first()?)?;
        let errors = retry.iter().filter_map(|&i| self.last[i].as_ref().err());
        let throttled_only = errors.clone().all(|e| e.kind() == ErrorKind::Throttled);
        let asked = errors.filter_map(HandlerError::retry_after_delay).max();
        let visibility = first.ctx.visibility_timeout();
        let policy = &self.plan.policy;
        if throttled_only {
            self.throttles += 1;
            let wait = asked.unwrap_or_else(|| policy.backoff(self.throttles));
            let room = retry
                .iter()
                .map(|&i| self.deliveries[i].ctx.in_flight_room())
                .min()?;
            (wait + visibility < room).then_some(wait)
        } else {
            self.failures += 1;
            let wait = asked.unwrap_or_else(|| policy.backoff(self.failures));
            (self.failures < policy.attempts && wait <= visibility).then_some(wait)
        }
    }
}
