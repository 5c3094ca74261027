//! What a handler knows about the message it is handling.

use ebbflow_core::{limits, MessageAttributes, QueueBackend, QueueError, ReceivedMessage};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The message's metadata and a way to keep it invisible for longer.
///
/// Cheap to clone; every clone speaks of the same delivery.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<str>,
    backend: Arc<dyn QueueBackend>,
    message: Arc<ReceivedMessage>,
    visibility_timeout: Duration,
    received_at: Instant,
    deadline: Mutex<Instant>,
    attempt: AtomicU32,
    /// [`HELD`], [`DELETING`], [`QUEUED`] or [`SETTLED`].
    state: AtomicU8,
}

/// Held by a worker: kept hidden until it is settled.
const HELD: u8 = 0;
/// Processed, its delete not landed yet: still kept hidden (by the worker
/// while it waits to queue the delete, then by the acker), so that a slow
/// engine cannot let it run out and go to someone else (issue 38, path 7).
const DELETING: u8 = 1;
/// Its delete is in the acker's hands, which keeps it hidden until it lands.
const QUEUED: u8 = 2;
/// Deleted, released or left to the queue: nothing keeps it hidden.
const SETTLED: u8 = 3;

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("queue", &self.inner.queue)
            .field("message_id", &self.message_id())
            .field("receive_count", &self.receive_count())
            .field("attempt", &self.attempt())
            .finish()
    }
}

impl Context {
    pub(crate) fn new(
        queue: Arc<str>,
        backend: Arc<dyn QueueBackend>,
        message: Arc<ReceivedMessage>,
        visibility_timeout: Duration,
        asked: Instant,
    ) -> Self {
        // Timed from when the receive was asked for: the queue started the
        // timeout somewhere in between, so this deadline is never late.
        let now = asked;
        Self {
            inner: Arc::new(Inner {
                queue,
                backend,
                message,
                visibility_timeout,
                received_at: now,
                deadline: Mutex::new(now + visibility_timeout),
                attempt: AtomicU32::new(1),
                state: AtomicU8::new(HELD),
            }),
        }
    }

    /// The queue the message came from.
    pub fn queue(&self) -> &str {
        &self.inner.queue
    }

    /// The message id, stable across redeliveries.
    pub fn message_id(&self) -> &str {
        &self.inner.message.message_id
    }

    /// How many times the queue has delivered this message, this time included.
    pub fn receive_count(&self) -> u32 {
        self.inner.message.system.approximate_receive_count
    }

    /// The in-process attempt, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt.load(Ordering::Relaxed)
    }

    pub(crate) fn set_attempt(&self, attempt: u32) {
        self.inner.attempt.store(attempt, Ordering::Relaxed);
    }

    /// The producer's message attributes.
    pub fn attributes(&self) -> &MessageAttributes {
        &self.inner.message.attributes
    }

    /// The FIFO message group, if any.
    pub fn group_id(&self) -> Option<&str> {
        self.inner.message.system.message_group_id.as_deref()
    }

    /// The message as received, body and all.
    pub fn message(&self) -> &ReceivedMessage {
        &self.inner.message
    }

    /// The visibility timeout this message was received with.
    pub fn visibility_timeout(&self) -> Duration {
        self.inner.visibility_timeout
    }

    /// When the message becomes visible to other consumers unless its visibility is extended.
    pub fn deadline(&self) -> Instant {
        *crate::sync::lock(&self.inner.deadline)
    }

    /// Keeps the message invisible for `timeout` from now (capped at 12 hours
    /// after it was received). The heartbeat does this on its own; call it
    /// for work whose length you know in advance.
    pub async fn extend_visibility(&self, timeout: Duration) -> Result<(), QueueError> {
        let timeout = timeout.min(self.in_flight_room());
        let asked = Instant::now();
        self.inner
            .backend
            .change_visibility(
                &self.inner.queue,
                &self.inner.message.receipt_handle,
                timeout,
            )
            .await?;
        self.extended(asked, timeout);
        Ok(())
    }

    /// Records that the queue accepted a visibility of `timeout` asked for at
    /// `asked`; the deadline counts from the request, the earliest it can be.
    pub(crate) fn extended(&self, asked: Instant, timeout: Duration) {
        let deadline = asked + timeout;
        *crate::sync::lock(&self.inner.deadline) = deadline;
    }

    /// Whether the message's visibility has run out: the queue may have given
    /// it to another consumer, so nothing more may be started on it here.
    pub(crate) fn is_expired(&self) -> bool {
        self.deadline() <= Instant::now()
    }

    /// Marks the message as settled (deleted, released or left to the
    /// queue): nothing keeps it hidden any more.
    pub(crate) fn settle(&self) {
        self.inner.state.store(SETTLED, Ordering::Release);
    }

    /// Marks the message as processed, its delete on its way: it stays
    /// hidden until [`settle`](Self::settle) says the delete landed.
    pub(crate) fn deleting(&self) {
        self.inner.state.store(DELETING, Ordering::Release);
    }

    /// Whether the message has been settled.
    pub(crate) fn is_settled(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == SETTLED
    }

    /// Marks the message's delete as handed to the acker.
    pub(crate) fn queued(&self) {
        self.inner.state.store(QUEUED, Ordering::Release);
    }

    /// Whether the message is still held by its worker: neither settled nor
    /// processed.
    pub(crate) fn is_held(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == HELD
    }

    /// Whether the message was processed but its delete not yet handed to
    /// the acker (a worker stopped now must delete it, not release it).
    pub(crate) fn is_deleting(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == DELETING
    }

    /// Makes sure the message stays hidden through a wait of `wait` plus half
    /// a visibility timeout for the attempt after it; logs when it cannot.
    pub(crate) async fn hide_through(&self, wait: Duration) {
        let timeout = self.visibility_timeout();
        if self.deadline() < Instant::now() + wait + timeout / 2 {
            if let Err(e) = self.extend_visibility(wait + timeout).await {
                tracing::warn!(message_id = self.message_id(), error = %e, "could not keep the message hidden for its retry");
            }
        }
    }

    /// How much longer the message may stay in flight at most (the 12-hour cap).
    pub(crate) fn in_flight_room(&self) -> Duration {
        limits::MAX_VISIBILITY_TIMEOUT.saturating_sub(self.inner.received_at.elapsed())
    }

    pub(crate) fn backend(&self) -> &Arc<dyn QueueBackend> {
        &self.inner.backend
    }
}
