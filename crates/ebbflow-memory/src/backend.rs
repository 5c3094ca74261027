//! [`MemoryBackend`]: the registry of queues and the async face of the SQS verbs.
//!
//! Locking rule: the registry lock is never held while a queue's lock is taken.
//! A queue's lock may take the registry's read lock (to find its dead-letter
//! queue), and one queue's lock is never held while another's is taken.

use crate::clock::Clock;
use crate::state::{QueueState, StoredMessage};
use async_trait::async_trait;
use ebbflow_core::fleet::{announce_in, Registrations};
use ebbflow_core::local::{MessageIds, ReceiptHandle};
use ebbflow_core::{
    limits, local_queue_arn, md5_hex, queue_name_from_arn, BatchResult, BrowsePage, BrowseRequest,
    ChangeVisibilityBatchEntry, ConsumerReport, DeleteBatchEntry, MoveResult, QueueAttributes,
    QueueAttributesUpdate, QueueBackend, QueueError, QueueStats, ReceiveRequest, ReceivedMessage,
    Result, SendBatchEntry, SendMessage, SendReceipt,
};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The prefix of this engine's receipt handles.
pub(crate) const HANDLE_PREFIX: &str = "ebm1-";

/// An in-process queue engine with Amazon SQS's semantics.
///
/// Cheap to clone: clones share the same queues. Nothing survives the process;
/// for that use the SQLite backend.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ebbflow_core::Result<()> {
/// use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
/// use ebbflow_memory::MemoryBackend;
///
/// let backend = MemoryBackend::new();
/// backend.create_queue("orders", QueueAttributes::standard()).await?;
/// backend.send("orders", SendMessage::new("hello")).await?;
/// let got = backend.receive("orders", ReceiveRequest::new(10)).await?;
/// assert_eq!(got[0].body, "hello");
/// backend.delete("orders", &got[0].receipt_handle).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    inner: Arc<Registry>,
}

#[derive(Debug)]
struct Registry {
    queues: RwLock<HashMap<String, Arc<Queue>>>,
    next_uid: AtomicU64,
    ids: MessageIds,
    clock: Clock,
    /// Each queue's consumers ([`QueueBackend::announce`]).
    consumers: Mutex<HashMap<String, Registrations>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            queues: RwLock::new(HashMap::new()),
            next_uid: AtomicU64::new(1),
            ids: MessageIds::new(),
            clock: Clock::new(),
            consumers: Mutex::new(HashMap::new()),
        }
    }
}

#[derive(Debug)]
struct Queue {
    arn: String,
    state: Mutex<QueueState>,
    /// Wakes long polls when a message may have become receivable.
    arrivals: Notify,
    /// Receives now waiting on `arrivals`; senders skip the wake-up when there are none.
    waiters: AtomicUsize,
}

impl Queue {
    /// Wakes every waiting receive, if any.
    fn wake(&self) {
        // SeqCst pairs with the waiter's increment, made before it checks the queue under the lock.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.arrivals.notify_waiters();
        }
    }
}

/// Counts one waiting receive for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MemoryBackend {
    /// A backend with no queues.
    pub fn new() -> Self {
        Self::default()
    }

    fn lookup(&self, name: &str) -> Option<Arc<Queue>> {
        self.inner
            .queues
            .read()
            .get(queue_name_from_arn(name))
            .cloned()
    }

    fn queue(&self, name: &str) -> Result<Arc<Queue>> {
        self.lookup(name)
            .ok_or_else(|| QueueError::QueueDoesNotExist(name.to_owned()))
    }

    fn url(name: &str) -> String {
        format!("memory://ebbflow/{name}")
    }

    /// Checks a redrive policy's target: it exists, has the source's type and admits the source.
    fn check_dead_letter_target(&self, source: &str, attrs: &QueueAttributes) -> Result<()> {
        limits::validate_redrive_policy(source, attrs, |dlq| {
            Ok(self.lookup(dlq).map(|q| q.state.lock().attrs.clone()))
        })
    }

    /// Stores messages taken out of `source` in its dead-letter queue.
    fn dead_letter(&self, source: &Queue, dlq: &Queue, messages: Vec<StoredMessage>) {
        let (now, _) = self.inner.clock.now();
        let mut state = dlq.state.lock();
        state.tick(now);
        for mut m in messages {
            m.dlq_source_arn = Some(source.arn.clone());
            state.insert(m, Some(Duration::ZERO), now, false);
        }
        drop(state);
        dlq.wake();
    }

    /// Sends `entries`; with `whole_batch`, first checks them as one batch
    /// (ids, total size) under the same lock that stores them.
    fn send_to(
        &self,
        q: &Queue,
        entries: Vec<SendBatchEntry>,
        whole_batch: bool,
    ) -> Result<BatchResult<SendReceipt>> {
        // Ids and digests before the lock: they are the costly part of a send.
        let prepared: Vec<(String, String)> = entries
            .iter()
            .map(|e| (self.inner.ids.next(), md5_hex(&e.message.body)))
            .collect();
        let (now, now_ms) = self.inner.clock.now();
        let mut result = BatchResult::default();
        let mut state = q.state.lock();
        if whole_batch {
            limits::validate_send_batch(&entries, &state.attrs)?;
        }
        state.tick(now);
        for (entry, (mid, md5)) in entries.into_iter().zip(prepared) {
            let msg = entry.message;
            let outcome = limits::validate_message(&msg, &state.attrs).map(|_| {
                let delay = msg.delay;
                let stored = StoredMessage::new(msg, mid, md5, now, now_ms);
                state.insert(stored, delay, now, true)
            });
            result.push(entry.id, outcome);
        }
        drop(state);
        q.wake();
        Ok(result)
    }
}

#[async_trait]
impl QueueBackend for MemoryBackend {
    /// True: it keeps nothing at rest (messages live in this process's memory).
    fn encrypts_at_rest(&self) -> bool {
        true
    }

    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String> {
        limits::validate_queue_attributes(name, &attributes)?;
        let attributes = attributes.stamped();
        self.check_dead_letter_target(name, &attributes)?;
        let existing = {
            let mut queues = self.inner.queues.write();
            match queues.get(name) {
                Some(q) => Some(q.clone()),
                None => {
                    let uid = self.inner.next_uid.fetch_add(1, Ordering::Relaxed);
                    queues.insert(
                        name.to_owned(),
                        Arc::new(Queue {
                            arn: local_queue_arn(name),
                            state: Mutex::new(QueueState::new(attributes.clone(), uid)),
                            arrivals: Notify::new(),
                            waiters: AtomicUsize::new(0),
                        }),
                    );
                    None
                }
            }
        };
        if let Some(q) = existing {
            if q.state.lock().attrs.conflicts_with(&attributes) {
                return Err(QueueError::QueueAlreadyExists(name.to_owned()));
            }
        }
        Ok(Self::url(name))
    }

    async fn get_queue_url(&self, name: &str) -> Result<String> {
        self.queue(name).map(|_| Self::url(name))
    }

    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .inner
            .queues
            .read()
            .keys()
            .filter(|n| prefix.is_none_or(|p| n.starts_with(p)))
            .cloned()
            .collect();
        names.sort();
        Ok(names)
    }

    async fn delete_queue(&self, name: &str) -> Result<()> {
        let removed = self.inner.queues.write().remove(queue_name_from_arn(name));
        let q = removed.ok_or_else(|| QueueError::QueueDoesNotExist(name.to_owned()))?;
        // Long polls on the deleted queue return at once rather than wait out their timer.
        q.arrivals.notify_waiters();
        Ok(())
    }

    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes> {
        Ok(self.queue(name)?.state.lock().attrs.clone())
    }

    async fn set_queue_attributes(&self, name: &str, update: QueueAttributesUpdate) -> Result<()> {
        let q = self.queue(name)?;
        let next = update.apply(&q.state.lock().attrs);
        limits::validate_queue_attributes(queue_name_from_arn(name), &next)?;
        self.check_dead_letter_target(queue_name_from_arn(name), &next)?;
        q.state.lock().attrs = next;
        q.wake();
        Ok(())
    }

    async fn send(&self, queue: &str, message: SendMessage) -> Result<SendReceipt> {
        let q = self.queue(queue)?;
        let entry = SendBatchEntry {
            id: String::new(),
            message,
        };
        self.send_to(&q, vec![entry], false)?.into_single()
    }

    async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
    ) -> Result<BatchResult<SendReceipt>> {
        let q = self.queue(queue)?;
        self.send_to(&q, entries, true)
    }

    async fn receive(&self, queue: &str, request: ReceiveRequest) -> Result<Vec<ReceivedMessage>> {
        limits::validate_receive(&request)?;
        let q = self.queue(queue)?;
        let (start, _) = self.inner.clock.now();
        // The wait decides whether to count this receive as a waiter, which must
        // happen before its first look at the queue, or a send in between would
        // skip the wake-up: hence this short lock before the loop's.
        let (wait, visibility) = {
            let state = q.state.lock();
            (
                request.wait_time.unwrap_or(state.attrs.receive_wait_time),
                request
                    .visibility_timeout
                    .unwrap_or(state.attrs.visibility_timeout),
            )
        };
        let deadline = start + wait;
        let attempt = request.receive_request_attempt_id.as_deref();
        let _waiting = (!wait.is_zero()).then(|| Waiting::new(&q.waiters));
        loop {
            let notified = q.arrivals.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (now, now_ms) = self.inner.clock.now();
            let (taken, dlq, next_due) = {
                let mut state = q.state.lock();
                state.tick(now);
                let fifo_attempt = attempt.filter(|_| state.attrs.fifo);
                if let Some(replayed) =
                    fifo_attempt.and_then(|id| state.replay_attempt(id, visibility, now))
                {
                    return Ok(replayed);
                }
                let dlq = state
                    .attrs
                    .redrive_policy
                    .as_ref()
                    .and_then(|p| self.lookup(&p.dead_letter_queue));
                let taken =
                    state.receive(request.max_messages, visibility, now, now_ms, dlq.is_some())?;
                if let Some(id) = fifo_attempt.filter(|_| !taken.messages.is_empty()) {
                    state.record_attempt(id, &taken.messages, now);
                }
                (taken, dlq, state.next_due())
            };
            if let (Some(dlq), false) = (&dlq, taken.dead_letters.is_empty()) {
                self.dead_letter(&q, dlq, taken.dead_letters);
            }
            if !taken.messages.is_empty() || now >= deadline {
                return Ok(taken.messages);
            }
            if self
                .lookup(queue)
                .is_none_or(|current| !Arc::ptr_eq(&current, &q))
            {
                return Err(QueueError::QueueDoesNotExist(queue.to_owned()));
            }
            let wake = next_due.map_or(deadline, |due| due.min(deadline));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let q = self.queue(queue)?;
        let mut result = BatchResult::default();
        let fifo = {
            let mut state = q.state.lock();
            for entry in entries {
                let outcome = ReceiptHandle::parse(HANDLE_PREFIX, &entry.receipt_handle)
                    .and_then(|h| state.delete(&h));
                result.push(entry.id, outcome);
            }
            state.attrs.fifo
        };
        if fifo {
            // A delete may unblock a FIFO group.
            q.wake();
        }
        Ok(result)
    }

    async fn change_visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        self.visibility_batch(queue, entries, false)
    }

    async fn undo_receive_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        self.visibility_batch(queue, entries, true)
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        let q = self.queue(queue)?;
        let (now, _) = self.inner.clock.now();
        let mut state = q.state.lock();
        state.tick(now);
        state.purge(queue, now)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        let q = self.queue(queue)?;
        let (now, _) = self.inner.clock.now();
        let mut state = q.state.lock();
        state.tick(now);
        Ok(state.stats(now))
    }

    async fn announce(
        &self,
        queue: &str,
        me: &ConsumerReport,
        ttl: Duration,
    ) -> Result<Vec<ConsumerReport>> {
        let name = queue_name_from_arn(queue);
        self.queue(name)?;
        let (_, now_ms) = self.inner.clock.now();
        let expires = now_ms + ttl.as_millis() as u64;
        let mut consumers = self.inner.consumers.lock();
        let members = consumers.entry(name.to_owned()).or_default();
        Ok(announce_in(members, me, expires, now_ms))
    }

    async fn delete_browsed(&self, queue: &str, position: &str, message_id: &str) -> Result<bool> {
        let key = ebbflow_core::BrowseRequest::position_key(position)?;
        let q = self.queue(queue)?;
        let (deleted, fifo) = {
            let mut state = q.state.lock();
            (state.delete_at(key, message_id), state.attrs.fifo)
        };
        if deleted && fifo {
            // It may have held its group back.
            q.wake();
        }
        Ok(deleted)
    }

    async fn browse(&self, queue: &str, request: BrowseRequest) -> Result<BrowsePage> {
        request.validate()?;
        let first = request.first_key()?;
        let q = self.queue(queue)?;
        let (now, _) = self.inner.clock.now();
        let mut state = q.state.lock();
        state.tick(now);
        Ok(BrowsePage::from_keyed(
            state.browse(first, request.limit),
            request.limit,
        ))
    }

    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>> {
        let dlq = queue_name_from_arn(dead_letter_queue);
        self.queue(dlq)?;
        let queues: Vec<(String, Arc<Queue>)> = self
            .inner
            .queues
            .read()
            .iter()
            .map(|(n, q)| (n.clone(), q.clone()))
            .collect();
        let mut sources: Vec<String> = queues
            .into_iter()
            .filter(|(_, q)| {
                q.state
                    .lock()
                    .attrs
                    .redrive_policy
                    .as_ref()
                    .is_some_and(|p| p.dead_letter_queue == dlq)
            })
            .map(|(n, _)| n)
            .collect();
        sources.sort();
        Ok(sources)
    }

    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult> {
        let dlq = self.queue(dead_letter_queue)?;
        let fixed = destination.map(|d| self.queue(d)).transpose()?;
        if let Some(dest) = &fixed {
            // One lock at a time: the destination may be the dead-letter queue itself.
            let from = dlq.state.lock().attrs.fifo;
            let to = dest.state.lock().attrs.fifo;
            if from != to {
                return Err(QueueError::invalid(
                    "DestinationArn",
                    "messages move only between queues of the same type (standard or FIFO)",
                ));
            }
        }
        let (now, now_ms) = self.inner.clock.now();
        let drained = {
            let mut state = dlq.state.lock();
            state.tick(now);
            state.drain_available()
        };
        let mut result = MoveResult::default();
        let mut left = Vec::new();
        for mut m in drained {
            let target = fixed.clone().or_else(|| {
                m.dlq_source_arn
                    .as_deref()
                    .and_then(|arn| self.lookup(queue_name_from_arn(arn)))
            });
            let Some(target) = target else {
                left.push(m);
                continue;
            };
            // A redriven message starts afresh in its destination.
            m.receive_count = 0;
            m.first_receive_ms = 0;
            m.dlq_source_arn = None;
            m.sent_at = now;
            m.sent_ms = now_ms;
            let mut state = target.state.lock();
            state.tick(now);
            state.insert(m, Some(Duration::ZERO), now, false);
            drop(state);
            target.wake();
            result.moved += 1;
        }
        if !left.is_empty() {
            result.failed = left.len() as u64;
            let mut state = dlq.state.lock();
            for m in left {
                state.insert(m, Some(Duration::ZERO), now, false);
            }
        }
        Ok(result)
    }
}

impl MemoryBackend {
    /// Visibility changes of up to ten messages, receives undone with `undo_receive`.
    fn visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
        undo_receive: bool,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let q = self.queue(queue)?;
        let (now, _) = self.inner.clock.now();
        let mut result = BatchResult::default();
        {
            let mut state = q.state.lock();
            state.tick(now);
            for entry in entries {
                let outcome =
                    ReceiptHandle::parse(HANDLE_PREFIX, &entry.receipt_handle).and_then(|h| {
                        state.change_visibility(&h, entry.visibility_timeout, now, undo_receive)
                    });
                result.push(entry.id, outcome);
            }
        }
        // Waiting receives recompute when the next message becomes visible.
        q.wake();
        Ok(result)
    }
}
