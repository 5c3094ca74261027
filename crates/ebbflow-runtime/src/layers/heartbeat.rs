//! Keeps messages invisible while the runtime holds them.

use super::call_inner;
use crate::{Context, Delivery, HandlerError};
use ebbflow_core::{ChangeVisibilityBatchEntry, QueueError};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};
use tower::{Layer, Service};

/// Once a handler has used half of the message's visibility timeout, extends
/// it by a whole timeout, and again each time half is used, until the handler
/// ends or the message reaches 12 hours in flight. Without it a long handler's
/// message would be delivered to a second consumer mid-work.
///
/// The runtime keeps every message it holds hidden this way on its own (see
/// `heartbeat` in the worker config); the layer is for stacks built by hand.
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

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), HandlerError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let ctx = delivery.ctx.clone();
        let mut inner = self.inner.clone();
        Box::pin(async move { keep_hidden(vec![ctx], call_inner(&mut inner, delivery)).await })
    }
}

/// How long after a failed extension the heartbeat tries again (never past
/// the message's deadline).
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs `work` while keeping every unsettled message of `contexts` invisible:
/// each time one has used half of its visibility timeout, extends it by a
/// whole timeout, up to 12 hours in flight. Due messages are extended together,
/// ten per call. A failed extension is tried again every second until the
/// message's deadline; only a handle the queue no longer knows (the message
/// was deleted, or received by someone else) ends its heartbeat early.
pub(crate) async fn keep_hidden<F: Future>(contexts: Vec<Context>, work: F) -> F::Output {
    tokio::pin!(work);
    // Each message's next beat; a failed extension brings it forward.
    let mut beats: Vec<(Context, Instant)> = contexts
        .into_iter()
        .filter(|c| !c.visibility_timeout().is_zero())
        .map(|c| {
            let at = half_used(&c);
            (c, at)
        })
        .collect();
    loop {
        beats.retain(|(c, _)| !c.is_settled() && !c.in_flight_room().is_zero());
        let Some(next) = beats.iter().map(|(_, at)| *at).min() else {
            return work.await;
        };
        tokio::select! {
            biased;
            result = &mut work => return result,
            _ = sleep_until(next) => beat(&mut beats).await,
        }
    }
}

/// When the first of `contexts` still worth extending (unsettled, with a
/// timeout, not yet run out) will have used half of its visibility timeout.
pub(crate) fn next_beat(contexts: &[Context]) -> Option<Instant> {
    let now = Instant::now();
    contexts
        .iter()
        .filter(|c| worth_extending(c, now))
        .map(half_used)
        .min()
}

/// Extends every one of `contexts` that has used half of its visibility
/// timeout, ten per call, for a holder that keeps them in a list of its own
/// (the acker); it calls again after [`RETRY_AFTER`] for those that failed.
pub(crate) async fn extend_due(contexts: &[Context]) {
    let now = Instant::now();
    let mut due: Vec<(Context, Instant)> = contexts
        .iter()
        .filter(|c| worth_extending(c, now) && half_used(c) <= now)
        .map(|c| (c.clone(), now))
        .collect();
    if !due.is_empty() {
        beat(&mut due).await;
    }
}

fn worth_extending(ctx: &Context, now: Instant) -> bool {
    !ctx.is_settled()
        && !ctx.visibility_timeout().is_zero()
        && !ctx.in_flight_room().is_zero()
        && ctx.deadline() > now
}

/// When `ctx` will have used half of its visibility timeout.
fn half_used(ctx: &Context) -> Instant {
    ctx.deadline()
        .checked_sub(ctx.visibility_timeout() / 2)
        .unwrap_or_else(Instant::now)
}

/// Extends every message whose beat is due, ten per call, and schedules each one's next beat.
async fn beat(beats: &mut Vec<(Context, Instant)>) {
    let now = Instant::now();
    // A message settled (or being released) since the loop last looked is
    // never extended: a beat would hide a released message again.
    let due: Vec<usize> = (0..beats.len())
        .filter(|&i| beats[i].1 <= now && !beats[i].0.is_settled())
        .collect();
    let mut gone = Vec::new();
    for chunk in due.chunks(10) {
        let asked = Instant::now();
        let entries: Vec<ChangeVisibilityBatchEntry> = chunk
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                let ctx = &beats[i].0;
                ChangeVisibilityBatchEntry {
                    id: n.to_string(),
                    receipt_handle: ctx.message().receipt_handle.clone(),
                    visibility_timeout: ctx.visibility_timeout().min(ctx.in_flight_room()),
                }
            })
            .collect();
        let timeouts: Vec<Duration> = entries.iter().map(|e| e.visibility_timeout).collect();
        let (queue, backend) = {
            let ctx = &beats[chunk[0]].0;
            (ctx.queue().to_owned(), ctx.backend().clone())
        };
        let failures: HashMap<usize, QueueError> =
            match backend.change_visibility_batch(&queue, entries).await {
                Ok(result) => result
                    .failed
                    .into_iter()
                    .filter_map(|f| f.id.parse::<usize>().ok().map(|n| (n, f.error)))
                    .collect(),
                Err(e) => (0..chunk.len()).map(|n| (n, e.clone())).collect(),
            };
        for (n, &i) in chunk.iter().enumerate() {
            let (ctx, at) = &mut beats[i];
            match failures.get(&n) {
                None => {
                    ctx.extended(asked, timeouts[n]);
                    *at = half_used(ctx);
                }
                Some(
                    e @ (QueueError::ReceiptHandleIsInvalid(_) | QueueError::MessageNotInflight),
                ) => {
                    tracing::warn!(message_id = ctx.message_id(), error = %e, "heartbeat stopped: the queue no longer holds this receive; the message may be redelivered");
                    gone.push(i);
                }
                Some(e) => {
                    let retry = Instant::now() + RETRY_AFTER;
                    if ctx.deadline() <= Instant::now() {
                        tracing::warn!(message_id = ctx.message_id(), error = %e, "heartbeat could not extend visibility before the deadline; the message may be redelivered");
                        gone.push(i);
                    } else {
                        tracing::warn!(message_id = ctx.message_id(), error = %e, "heartbeat could not extend visibility; trying again");
                        *at = retry.min(ctx.deadline());
                    }
                }
            }
        }
    }
    for i in gone.into_iter().rev() {
        beats.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow_core::{
        BackendCall, BackendHook, Hooked, Operation, QueueAttributes, QueueBackend, ReceiveRequest,
        SendMessage,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct CountExtensions(Arc<AtomicUsize>);

    impl BackendHook for CountExtensions {
        fn around<'a, T: Send + 'a>(
            &'a self,
            op: Operation,
            call: BackendCall<'a, T>,
        ) -> BackendCall<'a, T> {
            if matches!(
                op,
                Operation::ChangeVisibility | Operation::ChangeVisibilityBatch
            ) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
            call
        }
    }

    /// A message settled while its job goes on is not extended by the next
    /// beat (issue 38, path 3): a released message stays released.
    #[tokio::test(start_paused = true)]
    async fn a_message_settled_mid_job_is_not_hidden_again() {
        let memory = ebbflow_memory::MemoryBackend::new();
        memory
            .create_queue("q", QueueAttributes::standard())
            .await
            .expect("queue");
        memory.send("q", SendMessage::new("m")).await.expect("send");
        let extensions = Arc::new(AtomicUsize::new(0));
        let backend: Arc<dyn QueueBackend> = Arc::new(Hooked::new(
            Arc::new(memory.clone()),
            CountExtensions(extensions.clone()),
        ));
        let asked = Instant::now();
        let visibility = Duration::from_secs(10);
        let got = backend
            .receive("q", ReceiveRequest::new(1).visibility_timeout(visibility))
            .await
            .expect("receive");
        let message = Arc::new(got.into_iter().next().expect("a message"));
        let ctx = Context::new("q".into(), backend.clone(), message, visibility, asked);
        let settled = ctx.clone();
        keep_hidden(vec![ctx], async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Released (or deleted) here; the job itself goes on past the half-way beat.
            settled.settle();
            tokio::time::sleep(Duration::from_secs(20)).await;
        })
        .await;
        assert_eq!(
            extensions.load(Ordering::SeqCst),
            0,
            "a settled message was extended"
        );
    }
}
