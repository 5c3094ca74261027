//! What happens to a message the handler could not process: dead-letter it, or give it back.

use crate::stats::DEAD_LETTER_REASONS;
use crate::{Delivery, ErrorKind, HandlerError, Outcome, RetryPolicy};
use ebbflow_core::{limits, MessageAttributeValue, MessageAttributes, SendMessage};
use futures_util::future::BoxFuture;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower::{Layer, Service};

/// Where a worker group's failed messages go.
#[derive(Debug, Clone)]
pub struct DeadLetterRoute {
    /// The dead-letter queue, if there is one.
    pub queue: Option<String>,
    /// Whether the dead-letter queue is FIFO (it needs a group and a dedup id then).
    pub fifo: bool,
    /// Receives after which a retryable failure is dead-lettered rather than released.
    pub max_receive_count: Option<u32>,
    /// How long a released message stays invisible, by its receive count.
    pub release: RetryPolicy,
}

/// Turns the stack's result into an [`Outcome`]:
///
/// | result | outcome |
/// |---|---|
/// | `Ok` | [`Outcome::Done`] |
/// | permanent or undecodable | sent to the dead-letter queue with the reason in `ebbflow.*` attributes |
/// | retryable, receive count at `max_receive_count` | the same |
/// | throttled | [`Outcome::Release`], whatever the receive count |
/// | retryable otherwise | [`Outcome::Release`] after a backoff that grows with the receive count |
/// | any failure once the message's visibility has run out | [`Outcome::Expired`]: left to whoever holds it now |
///
/// When there is no dead-letter queue, or sending to it fails, the message is
/// released instead: it is never deleted unless it is safe elsewhere.
#[derive(Debug, Clone)]
pub struct DeadLetterLayer {
    route: Arc<DeadLetterRoute>,
}

impl DeadLetterLayer {
    /// Routes failures per `route`.
    pub fn new(route: DeadLetterRoute) -> Self {
        Self {
            route: Arc::new(route),
        }
    }
}

impl<S> Layer<S> for DeadLetterLayer {
    type Service = DeadLetter<S>;

    fn layer(&self, inner: S) -> DeadLetter<S> {
        DeadLetter {
            inner,
            route: self.route.clone(),
            unready: None,
        }
    }
}

/// The service [`DeadLetterLayer`] makes.
#[derive(Debug, Clone)]
pub struct DeadLetter<S> {
    inner: S,
    route: Arc<DeadLetterRoute>,
    /// The inner service's refusal at `poll_ready`, to be routed like a
    /// failure of the message the next `call` brings.
    unready: Option<HandlerError>,
}

impl<S> Service<Delivery> for DeadLetter<S>
where
    S: Service<Delivery, Response = (), Error = HandlerError> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Outcome;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Outcome, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(ready) => {
                self.unready = ready.err();
                Poll::Ready(Ok(()))
            }
        }
    }

    // The inner service was made ready by `poll_ready`: it is called here,
    // not cloned into the future (a clone of the whole stack below per message).
    fn call(&mut self, delivery: Delivery) -> Self::Future {
        let processing = match self.unready.take() {
            Some(refused) => Err(refused),
            None => Ok(self.inner.call(delivery.clone())),
        };
        let route = self.route.clone();
        Box::pin(async move {
            let outcome = match processing {
                Ok(processing) => processing.await,
                Err(refused) => Err(refused),
            };
            let error = match outcome {
                Ok(()) => return Ok(Outcome::Done),
                Err(e) => e,
            };
            if delivery.ctx.is_expired() {
                return Ok(Outcome::Expired);
            }
            let receives = delivery.ctx.receive_count();
            let [permanent, undecodable, max_receives] = DEAD_LETTER_REASONS;
            let reason = match error.kind() {
                ErrorKind::Permanent => Some(permanent),
                ErrorKind::Undecodable => Some(undecodable),
                // Throttling says nothing about the message: it waits its turn
                // however often it has been received.
                ErrorKind::Throttled => None,
                _ if route.max_receive_count.is_some_and(|max| receives >= max) => {
                    Some(max_receives)
                }
                _ => None,
            };
            if let Some(reason) = reason {
                match send_to_dead_letter_queue(&route, &delivery, &error, reason).await {
                    Ok(()) => return Ok(Outcome::DeadLettered { reason }),
                    Err(why) => {
                        tracing::error!(message_id = delivery.ctx.message_id(), reason, error = %error, "{why}; releasing the message instead");
                    }
                }
            }
            let delay = route
                .release
                .wait_after(receives, &error)
                .min(delivery.ctx.in_flight_room());
            Ok(Outcome::Release { delay })
        })
    }
}

async fn send_to_dead_letter_queue(
    route: &DeadLetterRoute,
    delivery: &Delivery,
    error: &HandlerError,
    reason: &'static str,
) -> Result<(), String> {
    let Some(dlq) = &route.queue else {
        return Err("no dead-letter queue is configured".to_owned());
    };
    let ctx = &delivery.ctx;
    let mut message = SendMessage::new(delivery.message.body.clone());
    message.attributes = dead_letter_attributes(ctx.attributes(), ctx.queue(), error, reason, ctx);
    message
        .trace_header
        .clone_from(&delivery.message.system.aws_trace_header);
    if route.fifo {
        message.group_id = Some(ctx.group_id().unwrap_or("ebbflow-dead-letter").to_owned());
        message.deduplication_id = Some(ctx.message_id().to_owned());
    }
    ctx.backend()
        .send(dlq, message)
        .await
        .map(|_| ())
        .map_err(|e| format!("could not send to dead-letter queue `{dlq}`: {e}"))
}

/// The message's own attributes plus why it was dead-lettered. Six `ebbflow.*`
/// attributes when there is room under SQS's limit of ten, else one
/// `ebbflow.dead_letter` attribute holding the same as JSON.
fn dead_letter_attributes(
    original: &MessageAttributes,
    queue: &str,
    error: &HandlerError,
    reason: &str,
    ctx: &crate::Context,
) -> MessageAttributes {
    let failed_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    // Error text ends up in an attribute: keep it short and within SQS's character set.
    let text: String = error
        .to_string()
        .chars()
        .map(|c| {
            if limits::is_allowed_char(c) {
                c
            } else {
                '\u{FFFD}'
            }
        })
        .take(1024)
        .collect();
    let ours = [
        ("ebbflow.reason", MessageAttributeValue::string(reason)),
        ("ebbflow.error", MessageAttributeValue::string(text.clone())),
        ("ebbflow.source_queue", MessageAttributeValue::string(queue)),
        (
            "ebbflow.attempts",
            MessageAttributeValue::number(ctx.attempt()),
        ),
        (
            "ebbflow.receive_count",
            MessageAttributeValue::number(ctx.receive_count()),
        ),
        (
            "ebbflow.failed_at",
            MessageAttributeValue::number(failed_at),
        ),
    ];
    let mut attrs = original.clone();
    if attrs.len() + ours.len() <= limits::MAX_MESSAGE_ATTRIBUTES {
        attrs.extend(ours.into_iter().map(|(k, v)| (k.to_owned(), v)));
        return attrs;
    }
    while attrs.len() >= limits::MAX_MESSAGE_ATTRIBUTES {
        if let Some((dropped, _)) = attrs.pop_last() {
            tracing::warn!(attribute = %dropped, "dropped a message attribute to make room for the dead-letter reason");
        }
    }
    let summary = serde_json::json!({
        "reason": reason,
        "error": text,
        "source_queue": queue,
        "attempts": ctx.attempt(),
        "receive_count": ctx.receive_count(),
        "failed_at": failed_at as u64,
    });
    attrs.insert(
        "ebbflow.dead_letter".to_owned(),
        MessageAttributeValue::string(summary.to_string()),
    );
    attrs
}
