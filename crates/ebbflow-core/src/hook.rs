//! Wrapping a backend: one hook runs around every call, whatever the verb.
//!
//! The runtime times every backend call for its metrics this way, and tests
//! inject outages the same way, so the delegation to the inner backend is
//! written once, here.

use crate::{
    BatchResult, BrowsePage, BrowseRequest, ChangeVisibilityBatchEntry, DeleteBatchEntry,
    MoveResult, QueueAttributes, QueueAttributesUpdate, QueueBackend, QueueStats, ReceiveRequest,
    ReceivedMessage, Result, SendBatchEntry, SendMessage, SendReceipt,
};
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed call to the inner backend, as a hook receives it.
pub type BackendCall<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The verbs of [`QueueBackend`], named as metrics label them.
///
/// ```
/// use ebbflow_core::Operation;
/// assert_eq!(Operation::DeleteBatch.as_str(), "delete_batch");
/// assert_eq!(Operation::ALL.len(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Operation {
    CreateQueue,
    GetQueueUrl,
    ListQueues,
    DeleteQueue,
    GetQueueAttributes,
    SetQueueAttributes,
    Send,
    SendBatch,
    Receive,
    Delete,
    DeleteBatch,
    ChangeVisibility,
    ChangeVisibilityBatch,
    Purge,
    Stats,
    ListDeadLetterSourceQueues,
    MoveMessages,
    Browse,
    Announce,
    DeleteBrowsed,
}

impl Operation {
    /// How many operations there are.
    pub const COUNT: usize = 20;

    /// Every operation, in declaration order (`ALL[op.index()] == op`).
    pub const ALL: [Operation; Operation::COUNT] = [
        Operation::CreateQueue,
        Operation::GetQueueUrl,
        Operation::ListQueues,
        Operation::DeleteQueue,
        Operation::GetQueueAttributes,
        Operation::SetQueueAttributes,
        Operation::Send,
        Operation::SendBatch,
        Operation::Receive,
        Operation::Delete,
        Operation::DeleteBatch,
        Operation::ChangeVisibility,
        Operation::ChangeVisibilityBatch,
        Operation::Purge,
        Operation::Stats,
        Operation::ListDeadLetterSourceQueues,
        Operation::MoveMessages,
        Operation::Browse,
        Operation::Announce,
        Operation::DeleteBrowsed,
    ];

    /// The operation's position in [`Operation::ALL`], for per-operation tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake-case name used in metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreateQueue => "create_queue",
            Operation::GetQueueUrl => "get_queue_url",
            Operation::ListQueues => "list_queues",
            Operation::DeleteQueue => "delete_queue",
            Operation::GetQueueAttributes => "get_queue_attributes",
            Operation::SetQueueAttributes => "set_queue_attributes",
            Operation::Send => "send",
            Operation::SendBatch => "send_batch",
            Operation::Receive => "receive",
            Operation::Delete => "delete",
            Operation::DeleteBatch => "delete_batch",
            Operation::ChangeVisibility => "change_visibility",
            Operation::ChangeVisibilityBatch => "change_visibility_batch",
            Operation::Purge => "purge",
            Operation::Stats => "stats",
            Operation::ListDeadLetterSourceQueues => "list_dead_letter_source_queues",
            Operation::MoveMessages => "move_messages",
            Operation::Browse => "browse",
            Operation::Announce => "announce",
            Operation::DeleteBrowsed => "delete_browsed",
        }
    }
}

/// Code that runs around every call to a backend.
///
/// ```
/// use ebbflow_core::{BackendCall, BackendHook, Hooked, Operation};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts calls.
/// #[derive(Default)]
/// struct Calls(AtomicU64);
///
/// impl BackendHook for Calls {
///     fn around<'a, T: Send + 'a>(&'a self, _op: Operation, call: BackendCall<'a, T>) -> BackendCall<'a, T> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         call
///     }
/// }
/// # fn wrap(inner: std::sync::Arc<dyn ebbflow_core::QueueBackend>) {
/// let counted = Hooked::new(inner, Calls::default());
/// # }
/// ```
pub trait BackendHook: Send + Sync + 'static {
    /// Runs `call` (the inner backend's answer to `op`), or answers in its place.
    fn around<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        call: BackendCall<'a, T>,
    ) -> BackendCall<'a, T>;

    /// What the wrapped backend reports for [`QueueBackend::redrives_natively`];
    /// `inner` is the inner backend's answer.
    fn redrives_natively(&self, inner: bool) -> bool {
        inner
    }
}

/// A backend whose every call goes through a [`BackendHook`].
pub struct Hooked<H> {
    inner: Arc<dyn QueueBackend>,
    hook: H,
}

impl<H: BackendHook> Hooked<H> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn QueueBackend>, hook: H) -> Self {
        Self { inner, hook }
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &Arc<dyn QueueBackend> {
        &self.inner
    }
}

#[async_trait]
impl<H: BackendHook> QueueBackend for Hooked<H> {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn redrives_natively(&self) -> bool {
        self.hook.redrives_natively(self.inner.redrives_natively())
    }

    fn encrypts_at_rest(&self) -> bool {
        self.inner.encrypts_at_rest()
    }

    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String> {
        let call = self.inner.create_queue(name, attributes);
        self.hook.around(Operation::CreateQueue, call).await
    }

    async fn get_queue_url(&self, name: &str) -> Result<String> {
        let call = self.inner.get_queue_url(name);
        self.hook.around(Operation::GetQueueUrl, call).await
    }

    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let call = self.inner.list_queues(prefix);
        self.hook.around(Operation::ListQueues, call).await
    }

    async fn delete_queue(&self, name: &str) -> Result<()> {
        let call = self.inner.delete_queue(name);
        self.hook.around(Operation::DeleteQueue, call).await
    }

    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes> {
        let call = self.inner.get_queue_attributes(name);
        self.hook.around(Operation::GetQueueAttributes, call).await
    }

    async fn set_queue_attributes(&self, name: &str, update: QueueAttributesUpdate) -> Result<()> {
        let call = self.inner.set_queue_attributes(name, update);
        self.hook.around(Operation::SetQueueAttributes, call).await
    }

    async fn send(&self, queue: &str, message: SendMessage) -> Result<SendReceipt> {
        let call = self.inner.send(queue, message);
        self.hook.around(Operation::Send, call).await
    }

    async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
    ) -> Result<BatchResult<SendReceipt>> {
        let call = self.inner.send_batch(queue, entries);
        self.hook.around(Operation::SendBatch, call).await
    }

    async fn receive(&self, queue: &str, request: ReceiveRequest) -> Result<Vec<ReceivedMessage>> {
        let call = self.inner.receive(queue, request);
        self.hook.around(Operation::Receive, call).await
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<()> {
        let call = self.inner.delete(queue, receipt_handle);
        self.hook.around(Operation::Delete, call).await
    }

    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        let call = self.inner.delete_batch(queue, entries);
        self.hook.around(Operation::DeleteBatch, call).await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<()> {
        let call = self.inner.change_visibility(queue, receipt_handle, timeout);
        self.hook.around(Operation::ChangeVisibility, call).await
    }

    async fn change_visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        let call = self.inner.change_visibility_batch(queue, entries);
        self.hook
            .around(Operation::ChangeVisibilityBatch, call)
            .await
    }

    async fn undo_receive_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        let call = self.inner.undo_receive_batch(queue, entries);
        self.hook
            .around(Operation::ChangeVisibilityBatch, call)
            .await
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        let call = self.inner.purge(queue);
        self.hook.around(Operation::Purge, call).await
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        let call = self.inner.stats(queue);
        self.hook.around(Operation::Stats, call).await
    }

    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>> {
        let call = self.inner.list_dead_letter_source_queues(dead_letter_queue);
        self.hook
            .around(Operation::ListDeadLetterSourceQueues, call)
            .await
    }

    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult> {
        let call = self.inner.move_messages(dead_letter_queue, destination);
        self.hook.around(Operation::MoveMessages, call).await
    }

    async fn announce(
        &self,
        queue: &str,
        me: &crate::ConsumerReport,
        ttl: Duration,
    ) -> Result<Vec<crate::ConsumerReport>> {
        let call = self.inner.announce(queue, me, ttl);
        self.hook.around(Operation::Announce, call).await
    }

    /// Not hooked: an operator's maintenance, not a call the metrics or the
    /// fault injection follow.
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
        let call = self.inner.browse(queue, request);
        self.hook.around(Operation::Browse, call).await
    }

    async fn delete_browsed(&self, queue: &str, position: &str, message_id: &str) -> Result<bool> {
        let call = self.inner.delete_browsed(queue, position, message_id);
        self.hook.around(Operation::DeleteBrowsed, call).await
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;

    #[test]
    fn all_is_in_index_order() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{op:?}");
        }
    }
}
