//! [`RedisBackend`]: connecting, and the async face of the SQS verbs.

use crate::error::{redact, ConnectError};
use crate::options::RedisOptions;
use crate::store::{QueueRow, Store};
use async_trait::async_trait;
use ebbflow_core::local::{
    dead_letter_sources, names_with_prefix, Clock, LongPolls, MessageIds, Offload, Poll,
    ReceiveAttempts,
};
use ebbflow_core::{
    limits, BatchResult, BrowsePage, BrowseRequest, ChangeVisibilityBatchEntry, DeleteBatchEntry,
    MoveResult, QueueAttributes, QueueAttributesUpdate, QueueBackend, QueueError, QueueStats,
    ReceiveRequest, ReceivedMessage, Result, SendBatchEntry, SendMessage, SendReceipt,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const BACKEND: &str = "redis";

/// How often a long poll looks again without a notification: the bound on
/// how late a write is seen while the pub/sub connection is down.
const RECHECK: Duration = Duration::from_secs(1);

/// A queue engine with Amazon SQS's semantics on a Redis server, shared by
/// any number of worker processes. Cheap to clone.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    polls: Arc<LongPolls>,
    clock: Clock,
    ids: MessageIds,
    attempts: ReceiveAttempts,
    offload: Offload,
    url: String,
    listener: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects, and starts listening for other processes' writes.
    pub async fn connect(options: &RedisOptions) -> Result<Self, ConnectError> {
        let url = redact(&options.url);
        // The engine's clock reads the caller's tokio clock (a test's paused
        // one), not that of the runtime the connection is made on.
        let clock = Clock::new();
        let joined = options.offload.spawn(connect(options.clone(), clock)).await;
        joined.map_err(|e| ConnectError::Connect {
            url,
            message: format!("the connecting task failed: {e}"),
        })?
    }

    /// Runs a store call where the options said (see [`Offload`]).
    async fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Store>) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.inner
            .offload
            .run(BACKEND, f(self.inner.store.clone()))
            .await
    }

    async fn queue(&self, name: &str) -> Result<QueueRow> {
        let name = name.to_owned();
        self.call(move |s| async move { s.queue(&name).await })
            .await
    }

    async fn queue_fresh(&self, name: &str) -> Result<QueueRow> {
        let name = name.to_owned();
        self.call(move |s| async move { s.queue_fresh(&name).await })
            .await
    }

    async fn send_entries(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
        whole_batch: bool,
    ) -> Result<BatchResult<SendReceipt>> {
        let q = self.queue(queue).await?;
        if whole_batch {
            limits::validate_send_batch(&entries, &q.attrs)?;
        }
        let ids = entries.iter().map(|_| self.inner.ids.next()).collect();
        let now = self.inner.clock.now_ms();
        let result = self
            .call(move |s| async move { s.send(&q, entries, ids, now).await })
            .await?;
        if !result.successful.is_empty() {
            self.inner.polls.wake(queue);
        }
        Ok(result)
    }

    /// One look at the queue: a replayed FIFO attempt, or a fresh receive.
    async fn receive_once(
        &self,
        queue: &str,
        request: &ReceiveRequest,
    ) -> Result<Poll<ReceivedMessage>> {
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        let attempt = request.receive_request_attempt_id.as_deref();
        let visibility = request.visibility_timeout;
        if let Some(handles) = attempt.and_then(|id| self.inner.attempts.handles(queue, id, now)) {
            let q = q.clone();
            let replayed = self
                .call(move |s| async move { s.replay(&q, &handles, visibility, now).await })
                .await?;
            if !replayed.is_empty() {
                return Ok(Poll {
                    messages: replayed,
                    next_due: None,
                });
            }
        }
        let max = request.max_messages;
        let q_redrive = q
            .attrs
            .redrive_policy
            .as_ref()
            .map(|p| p.dead_letter_queue.clone());
        let taken = self
            .call(move |s| async move { s.receive(&q, max, visibility, now).await })
            .await?;
        if taken.dead_lettered {
            if let Some(p) = &q_redrive {
                self.inner.polls.wake(p);
            }
        }
        if let (Some(id), false) = (attempt, taken.messages.is_empty()) {
            if queue.ends_with(limits::FIFO_SUFFIX) {
                let handles = taken
                    .messages
                    .iter()
                    .filter_map(|m| {
                        ebbflow_core::local::ReceiptHandle::parse(
                            crate::HANDLE_PREFIX,
                            &m.receipt_handle,
                        )
                        .ok()
                    })
                    .collect();
                self.inner.attempts.record(queue, id, now, handles);
            }
        }
        Ok(Poll {
            messages: taken.messages,
            next_due: taken.next_due.map(|at| self.inner.clock.instant(at)),
        })
    }
}

async fn connect(options: RedisOptions, clock: Clock) -> Result<RedisBackend, ConnectError> {
    let url = redact(&options.url);
    let client = redis::Client::open(options.url.as_str()).map_err(|source| ConnectError::Url {
        url: url.clone(),
        source,
    })?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(30)))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(3);
    let conn = client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|e| ConnectError::Connect {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let ring = ebbflow_core::seal::KeyRing::load_optional(options.encryption.as_ref())?;
    let store = Store::new(conn, ring);
    store.check_keys().await?;
    let polls = Arc::new(LongPolls::new(RECHECK));
    let listener =
        tokio::spawn(crate::listen::listen(client, Arc::downgrade(&polls))).abort_handle();
    Ok(RedisBackend {
        inner: Arc::new(Inner {
            store: Arc::new(store),
            polls,
            clock,
            ids: MessageIds::new(),
            attempts: ReceiveAttempts::default(),
            offload: options.offload,
            url,
            listener,
        }),
    })
}

fn url(name: &str) -> String {
    format!("redis://ebbflow/{name}")
}

#[async_trait]
impl QueueBackend for RedisBackend {
    fn encrypts_at_rest(&self) -> bool {
        self.inner.store.seals()
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String> {
        limits::validate_queue_attributes(name, &attributes)?;
        let attributes = attributes.stamped();
        let owned = name.to_owned();
        self.call(move |s| async move { s.create_queue(&owned, &attributes).await })
            .await?;
        Ok(url(name))
    }

    async fn get_queue_url(&self, name: &str) -> Result<String> {
        let q = self.queue_fresh(name).await?;
        Ok(url(&q.name))
    }

    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let all = self.call(|s| async move { s.all_queues().await }).await?;
        Ok(names_with_prefix(all, prefix))
    }

    async fn delete_queue(&self, name: &str) -> Result<()> {
        let owned = name.to_owned();
        self.call(move |s| async move { s.delete_queue(&owned).await })
            .await?;
        // Long polls on the deleted queue return at once rather than wait out their timer.
        self.inner.polls.remove(name);
        Ok(())
    }

    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes> {
        Ok(self.queue_fresh(name).await?.attrs)
    }

    async fn set_queue_attributes(&self, name: &str, update: QueueAttributesUpdate) -> Result<()> {
        let owned = name.to_owned();
        self.call(move |s| async move { s.set_attributes(&owned, &update).await })
            .await?;
        self.inner.polls.wake(name);
        Ok(())
    }

    async fn send(&self, queue: &str, message: SendMessage) -> Result<SendReceipt> {
        let entry = SendBatchEntry {
            id: String::new(),
            message,
        };
        self.send_entries(queue, vec![entry], false)
            .await?
            .into_single()
    }

    async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
    ) -> Result<BatchResult<SendReceipt>> {
        self.send_entries(queue, entries, true).await
    }

    async fn receive(&self, queue: &str, request: ReceiveRequest) -> Result<Vec<ReceivedMessage>> {
        limits::validate_receive(&request)?;
        let wait = match request.wait_time {
            Some(wait) => wait,
            None => self.queue(queue).await?.attrs.receive_wait_time,
        };
        self.inner
            .polls
            .wait(queue, wait, || self.receive_once(queue, &request))
            .await
    }

    async fn delete_browsed(&self, queue: &str, position: &str, message_id: &str) -> Result<bool> {
        let key = ebbflow_core::BrowseRequest::position_key(position)?;
        let q = self.queue(queue).await?;
        let id = message_id.to_owned();
        let deleted = self
            .call(move |s| async move { s.delete_browsed(&q, key, &id).await })
            .await?;
        if deleted && queue.ends_with(limits::FIFO_SUFFIX) {
            self.inner.polls.wake(queue);
        }
        Ok(deleted)
    }

    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let q = self.queue(queue).await?;
        let result = self
            .call(move |s| async move { s.delete(&q, entries).await })
            .await?;
        // A delete may unblock a FIFO group.
        if queue.ends_with(limits::FIFO_SUFFIX) {
            self.inner.polls.wake(queue);
        }
        Ok(result)
    }

    async fn change_visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        self.visibility_batch(queue, entries, false).await
    }

    async fn undo_receive_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        self.visibility_batch(queue, entries, true).await
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        self.call(move |s| async move { s.clear(&q, now, true).await })
            .await
    }

    async fn announce(
        &self,
        queue: &str,
        me: &ebbflow_core::ConsumerReport,
        ttl: Duration,
    ) -> Result<Vec<ebbflow_core::ConsumerReport>> {
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        let expires = ebbflow_core::fleet::expires_at(now, ttl);
        let me = me.clone();
        self.call(move |s| async move { s.announce(&q, &me, expires, now).await })
            .await
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        self.call(move |s| async move { s.stats(&q, now).await })
            .await
    }

    async fn browse(&self, queue: &str, request: BrowseRequest) -> Result<BrowsePage> {
        request.validate()?;
        let first = request.first_key()?;
        let limit = request.limit;
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        self.call(move |s| async move { s.browse(&q, first, limit, now).await })
            .await
    }

    async fn rekey(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ebbflow_core::RekeyPage> {
        let first = match after {
            None => 1,
            Some(text) => text.parse().map_err(|_| {
                QueueError::invalid(
                    "after",
                    format!("`{text}` is not a position of this engine"),
                )
            })?,
        };
        let limit = limit.clamp(1, ebbflow_core::MAX_BROWSE_LIMIT);
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        self.call(move |s| async move { s.rekey(&q, first, limit, now).await })
            .await
    }

    async fn retire_older_keys(&self) -> Result<Vec<String>> {
        self.call(|s| async move { s.retire_older_keys().await })
            .await
    }

    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>> {
        let all = self.call(|s| async move { s.all_queues().await }).await?;
        dead_letter_sources(all, dead_letter_queue)
    }

    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult> {
        let dlq = self.queue_fresh(dead_letter_queue).await?;
        let now = self.inner.clock.now_ms();
        let mut result = MoveResult::default();
        if let Some(d) = destination {
            let to = self.queue_fresh(d).await?;
            if to.attrs.fifo != dlq.attrs.fifo {
                return Err(QueueError::invalid(
                    "DestinationArn",
                    "messages move only between queues of the same type (standard or FIFO)",
                ));
            }
            let name = to.name.clone();
            result.moved = self
                .call(move |s| async move { s.redrive(&dlq, &to, "", now).await })
                .await?;
            self.inner.polls.wake(&name);
            return Ok(result);
        }
        let d = dlq.clone();
        let sources = self
            .call(move |s| async move { s.sources(&d).await })
            .await?;
        for (source, count) in sources {
            let target = match source.as_str() {
                "" => None,
                arn => self.queue_fresh(arn).await.ok(),
            };
            let Some(to) = target else {
                result.failed += count;
                continue;
            };
            let (d, name) = (dlq.clone(), to.name.clone());
            result.moved += self
                .call(move |s| async move { s.redrive(&d, &to, &source, now).await })
                .await?;
            self.inner.polls.wake(&name);
        }
        Ok(result)
    }
}

impl RedisBackend {
    /// Visibility changes of up to ten messages, receives undone with `undo_receive`.
    async fn visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
        undo_receive: bool,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let q = self.queue(queue).await?;
        let now = self.inner.clock.now_ms();
        let result = self
            .call(move |s| async move { s.change_visibility(&q, entries, now, undo_receive).await })
            .await?;
        // Waiting receives recompute when the next message becomes visible.
        self.inner.polls.wake(queue);
        Ok(result)
    }
}
