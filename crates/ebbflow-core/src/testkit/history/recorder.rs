//! A backend that writes what it is asked, and what it answers, into a [`History`].

use super::{EventKind, History};
use crate::{
    BatchResult, BrowsePage, BrowseRequest, ChangeVisibilityBatchEntry, DeleteBatchEntry,
    MoveResult, QueueAttributes, QueueAttributesUpdate, QueueBackend, QueueStats, ReceiveRequest,
    ReceivedMessage, Result, SendBatchEntry, SendMessage, SendReceipt,
};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Wraps a backend and records the sends, receives, visibility changes and
/// deletes of one queue (calls on other queues, such as the runtime's sends
/// to a dead-letter queue, pass through unrecorded).
pub struct Recorded {
    inner: Arc<dyn QueueBackend>,
    history: History,
    queue: String,
}

impl Recorded {
    /// `inner`, recording the calls on `queue` into `history`.
    pub fn wrap(
        inner: Arc<dyn QueueBackend>,
        history: History,
        queue: &str,
    ) -> Arc<dyn QueueBackend> {
        Arc::new(Self {
            inner,
            history,
            queue: queue.to_owned(),
        })
    }

    /// A batch of visibility changes (or undone receives), recorded entry by entry.
    async fn visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
        undo_receive: bool,
    ) -> Result<BatchResult<()>> {
        let asked: Vec<(String, String, Duration)> = entries
            .iter()
            .map(|e| (e.id.clone(), e.receipt_handle.clone(), e.visibility_timeout))
            .collect();
        let asked_at = self.history.now();
        let result = if undo_receive {
            self.inner.undo_receive_batch(queue, entries).await
        } else {
            self.inner.change_visibility_batch(queue, entries).await
        };
        if queue != self.queue {
            return result;
        }
        let failed = failed_ids(&result);
        for (id, handle, timeout) in asked {
            let ok = failed.as_ref().is_some_and(|f| !f.contains(&id));
            self.visibility(&handle, asked_at, timeout, ok);
        }
        result
    }

    fn visibility(&self, handle: &str, asked_at: u64, timeout: Duration, ok: bool) {
        self.history.record(EventKind::VisibilityChanged {
            handle: handle.to_owned(),
            asked_at,
            timeout_ms: timeout.as_millis() as u64,
            ok,
        });
    }
}

/// The ids of a batch's failed entries, or all of them when the call failed.
fn failed_ids<T>(result: &Result<BatchResult<T>>) -> Option<HashSet<String>> {
    match result {
        Ok(r) => Some(r.failed.iter().map(|f| f.id.clone()).collect()),
        Err(_) => None,
    }
}

#[async_trait]
impl QueueBackend for Recorded {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn redrives_natively(&self) -> bool {
        self.inner.redrives_natively()
    }

    fn encrypts_at_rest(&self) -> bool {
        self.inner.encrypts_at_rest()
    }

    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String> {
        self.inner.create_queue(name, attributes).await
    }

    async fn get_queue_url(&self, name: &str) -> Result<String> {
        self.inner.get_queue_url(name).await
    }

    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        self.inner.list_queues(prefix).await
    }

    async fn delete_queue(&self, name: &str) -> Result<()> {
        self.inner.delete_queue(name).await
    }

    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes> {
        self.inner.get_queue_attributes(name).await
    }

    async fn set_queue_attributes(&self, name: &str, update: QueueAttributesUpdate) -> Result<()> {
        self.inner.set_queue_attributes(name, update).await
    }

    async fn send(&self, queue: &str, message: SendMessage) -> Result<SendReceipt> {
        if queue != self.queue {
            return self.inner.send(queue, message).await;
        }
        let (key, group) = (message.body.clone(), message.group_id.clone());
        let receipt = self.inner.send(queue, message).await?;
        self.history.record(EventKind::Sent { key, group });
        Ok(receipt)
    }

    async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
    ) -> Result<BatchResult<SendReceipt>> {
        if queue != self.queue {
            return self.inner.send_batch(queue, entries).await;
        }
        let sent: Vec<(String, String, Option<String>)> = entries
            .iter()
            .map(|e| {
                (
                    e.id.clone(),
                    e.message.body.clone(),
                    e.message.group_id.clone(),
                )
            })
            .collect();
        let result = self.inner.send_batch(queue, entries).await?;
        let ok: HashSet<&str> = result.successful.iter().map(|s| s.id.as_str()).collect();
        for (id, key, group) in sent {
            if ok.contains(id.as_str()) {
                self.history.record(EventKind::Sent { key, group });
            }
        }
        Ok(result)
    }

    async fn receive(&self, queue: &str, request: ReceiveRequest) -> Result<Vec<ReceivedMessage>> {
        if queue != self.queue {
            return self.inner.receive(queue, request).await;
        }
        let visibility = match request.visibility_timeout {
            Some(v) => v,
            None => {
                self.inner
                    .get_queue_attributes(queue)
                    .await?
                    .visibility_timeout
            }
        };
        let asked_at = self.history.now();
        let messages = self.inner.receive(queue, request).await?;
        for m in &messages {
            self.history.record(EventKind::Received {
                key: m.body.clone(),
                handle: m.receipt_handle.clone(),
                receive_count: m.system.approximate_receive_count,
                asked_at,
                visibility_ms: visibility.as_millis() as u64,
            });
        }
        Ok(messages)
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<()> {
        let result = self.inner.delete(queue, receipt_handle).await;
        if queue != self.queue {
            return result;
        }
        self.history.record(EventKind::Deleted {
            handle: receipt_handle.to_owned(),
            ok: result.is_ok(),
        });
        result
    }

    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        let handles: Vec<(String, String)> = entries
            .iter()
            .map(|e| (e.id.clone(), e.receipt_handle.clone()))
            .collect();
        let result = self.inner.delete_batch(queue, entries).await;
        if queue != self.queue {
            return result;
        }
        let failed = failed_ids(&result);
        for (id, handle) in handles {
            let ok = failed.as_ref().is_some_and(|f| !f.contains(&id));
            self.history.record(EventKind::Deleted { handle, ok });
        }
        result
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<()> {
        let asked_at = self.history.now();
        let result = self
            .inner
            .change_visibility(queue, receipt_handle, timeout)
            .await;
        if queue != self.queue {
            return result;
        }
        self.visibility(receipt_handle, asked_at, timeout, result.is_ok());
        result
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
        self.inner.purge(queue).await
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        self.inner.stats(queue).await
    }

    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>> {
        self.inner
            .list_dead_letter_source_queues(dead_letter_queue)
            .await
    }

    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult> {
        self.inner
            .move_messages(dead_letter_queue, destination)
            .await
    }

    async fn announce(
        &self,
        queue: &str,
        me: &crate::ConsumerReport,
        ttl: Duration,
    ) -> Result<Vec<crate::ConsumerReport>> {
        self.inner.announce(queue, me, ttl).await
    }

    async fn rekey(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<crate::RekeyPage> {
        self.inner.rekey(queue, after, limit).await
    }

    async fn retire_older_keys(&self) -> Result<Vec<String>> {
        self.inner.retire_older_keys().await
    }

    async fn browse(&self, queue: &str, request: BrowseRequest) -> Result<BrowsePage> {
        self.inner.browse(queue, request).await
    }

    async fn delete_browsed(&self, queue: &str, position: &str, message_id: &str) -> Result<bool> {
        self.inner.delete_browsed(queue, position, message_id).await
    }
}
