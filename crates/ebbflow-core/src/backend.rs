//! The contract every queue backend fulfils.

use crate::{
    BatchResult, BrowsePage, BrowseRequest, ChangeVisibilityBatchEntry, DeleteBatchEntry,
    MoveResult, QueueAttributes, QueueAttributesUpdate, QueueStats, ReceiveRequest,
    ReceivedMessage, Result, SendBatchEntry, SendMessage, SendReceipt,
};
use async_trait::async_trait;
use std::time::Duration;

/// A queue engine with Amazon SQS's semantics.
///
/// Queues are addressed by name; [`QueueBackend::get_queue_url`] gives the
/// engine's own address for a queue where it has one. Every implementation
/// passes the conformance suite in [`testkit`](crate#testkit) (feature
/// `testkit`), which checks each rule of the semantics table in DESIGN.md.
///
/// The trait is object-safe: the runtime holds an `Arc<dyn QueueBackend>`.
///
/// ```no_run
/// # async fn demo(backend: &dyn ebbflow_core::QueueBackend) -> ebbflow_core::Result<()> {
/// use ebbflow_core::{QueueAttributes, ReceiveRequest, SendMessage};
/// use std::time::Duration;
///
/// backend.create_queue("orders", QueueAttributes::standard()).await?;
/// backend.send("orders", SendMessage::new(r#"{"id":1}"#)).await?;
/// for msg in backend.receive("orders", ReceiveRequest::new(10).wait(Duration::from_secs(20))).await? {
///     // … handle msg.body …
///     backend.delete("orders", &msg.receipt_handle).await?;
/// }
/// # Ok(()) }
/// ```
#[async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// A short name for logs and metrics: `memory`, `sqlite`, `sqs`, …
    fn backend_name(&self) -> &'static str;

    /// Whether the engine keeps nothing in the clear at rest: it seals the
    /// bodies and attributes it stores (SQLite, Redis and PostgreSQL given
    /// keys), stores nothing (memory), or is a service that encrypts as its
    /// queues say (Amazon SQS). What `ebbflow serve` describes as
    /// `SqsManagedSseEnabled`. False by default.
    fn encrypts_at_rest(&self) -> bool {
        false
    }

    /// Whether the engine moves a message past its queue's `max_receive_count`
    /// to the dead-letter queue by itself, as SQS does with a `RedrivePolicy`.
    /// The runtime then leaves that move to the engine and only stops
    /// deleting such messages; it still dead-letters permanent failures at once.
    fn redrives_natively(&self) -> bool {
        false
    }

    /// Creates a queue, or returns the existing one's URL when its attributes are the same.
    /// Fails with `QueueAlreadyExists` when they differ.
    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String>;

    /// The queue's URL.
    async fn get_queue_url(&self, name: &str) -> Result<String>;

    /// Names of the queues whose name starts with `prefix` (all when `None`), sorted.
    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>>;

    /// Deletes a queue and every message in it.
    async fn delete_queue(&self, name: &str) -> Result<()>;

    /// The queue's attributes.
    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes>;

    /// Changes some of the queue's attributes.
    async fn set_queue_attributes(&self, name: &str, update: QueueAttributesUpdate) -> Result<()>;

    /// Sends one message.
    async fn send(&self, queue: &str, message: SendMessage) -> Result<SendReceipt>;

    /// Sends up to ten messages; each entry succeeds or fails on its own.
    /// A malformed batch as a whole (empty, too many, duplicate ids, too large) is an `Err`.
    async fn send_batch(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
    ) -> Result<BatchResult<SendReceipt>>;

    /// Receives up to `max_messages`, waiting up to the wait time for the first to arrive.
    async fn receive(&self, queue: &str, request: ReceiveRequest) -> Result<Vec<ReceivedMessage>>;

    /// Deletes a message by the receipt handle of its latest receive. By
    /// default, a one-entry [`QueueBackend::delete_batch`].
    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<()> {
        let entry = DeleteBatchEntry {
            id: "0".to_owned(),
            receipt_handle: receipt_handle.to_owned(),
        };
        self.delete_batch(queue, vec![entry]).await?.into_single()
    }

    /// Deletes up to ten messages.
    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>>;

    /// Makes an in-flight message visible again after `timeout`, counted from
    /// now. By default, a one-entry [`QueueBackend::change_visibility_batch`].
    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<()> {
        let entry = ChangeVisibilityBatchEntry {
            id: "0".to_owned(),
            receipt_handle: receipt_handle.to_owned(),
            visibility_timeout: timeout,
        };
        self.change_visibility_batch(queue, vec![entry])
            .await?
            .into_single()
    }

    /// Changes the visibility of up to ten messages.
    async fn change_visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>>;

    /// Undoes the receive of up to ten messages that no handler saw (the rest
    /// of a FIFO group behind a message given back, a receive that came back
    /// after shutdown): each is visible again after its entry's
    /// `visibility_timeout` (zero: at once), and its receive is not counted,
    /// so that messages given back unprocessed do not run towards a
    /// dead-letter queue's `maxReceiveCount`. A stale receipt is refused as
    /// [`QueueBackend::change_visibility_batch`] refuses it.
    ///
    /// Engines that cannot uncount a receive (Amazon SQS) change the
    /// visibility only: the default.
    async fn undo_receive_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
    ) -> Result<BatchResult<()>> {
        self.change_visibility_batch(queue, entries).await
    }

    /// Removes every message. At most once per 60 s per queue.
    async fn purge(&self, queue: &str) -> Result<()>;

    /// Visible, in-flight and delayed counts and the oldest message's age.
    async fn stats(&self, queue: &str) -> Result<QueueStats>;

    /// Pages through the queue's messages without receiving them: nothing is
    /// hidden, no receipt handle is made, no receive count changes. Messages
    /// come in queue order, in flight and delayed ones included, with their
    /// [`MessageState`](crate::MessageState); pass each page's
    /// [`BrowsePage::next`] to get the next.
    ///
    /// Engines that own their storage implement it; by default (and on Amazon
    /// SQS, which has no such verb) it is `UnsupportedOperation`.
    ///
    /// ```no_run
    /// # async fn demo(backend: &dyn ebbflow_core::QueueBackend) -> ebbflow_core::Result<()> {
    /// use ebbflow_core::BrowseRequest;
    /// let mut request = BrowseRequest::new(100);
    /// loop {
    ///     let page = backend.browse("orders", request.clone()).await?;
    ///     for m in &page.messages {
    ///         println!("{} {:?} {}", m.message_id, m.state, m.body);
    ///     }
    ///     match page.next {
    ///         Some(cursor) => request = request.after(cursor),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    async fn browse(&self, queue: &str, request: BrowseRequest) -> Result<BrowsePage> {
        let _ = (queue, request);
        Err(crate::QueueError::UnsupportedOperation {
            backend: self.backend_name(),
            operation: "browse",
        })
    }

    /// Deletes the message a browse showed at `position`
    /// ([`BrowsedMessage::position`](crate::BrowsedMessage::position)), if
    /// it is still the message `message_id`, whatever its state: an
    /// operator removing one message (the dashboard's delete). `Ok(false)`
    /// when it is gone already. A consumer holding it in flight finds its
    /// receipt handle stale, as after any delete.
    ///
    /// Engines that own their storage implement it; by default (and on
    /// Amazon SQS, which deletes only by receipt handle) it is
    /// `UnsupportedOperation`.
    async fn delete_browsed(&self, queue: &str, position: &str, message_id: &str) -> Result<bool> {
        let _ = (queue, position, message_id);
        Err(crate::QueueError::UnsupportedOperation {
            backend: self.backend_name(),
            operation: "delete_browsed",
        })
    }

    /// Registers (or refreshes) `me` as a consumer of `queue` until `ttl`
    /// from now, and returns every consumer whose registration has not run
    /// out, `me` included, ordered by id: the worker fleet of the queue, for
    /// the autoscaler. A consumer that stops announcing (it crashed, or was
    /// stopped) drops out after `ttl`.
    ///
    /// Engines that own their storage keep this small registry beside the
    /// queue. The default, and Amazon SQS, has none: `UnsupportedOperation`,
    /// and each process then sizes its pool alone.
    async fn announce(
        &self,
        queue: &str,
        me: &crate::ConsumerReport,
        ttl: Duration,
    ) -> Result<Vec<crate::ConsumerReport>> {
        let _ = (queue, me, ttl);
        Err(crate::QueueError::UnsupportedOperation {
            backend: self.backend_name(),
            operation: "announce",
        })
    }

    /// Seals again, with the newest key of the engine's ring, what an older
    /// key sealed (or what was stored before encryption was on): up to
    /// `limit` messages from `after` (`None`: the start), one step of
    /// `ebbflow rekey`. A message received or deleted meanwhile is left for
    /// the next run; running again is always safe. Engines that encrypt with
    /// a ring of keys (Redis, PostgreSQL) implement it; the default, and an
    /// engine given no keys, is `UnsupportedOperation`.
    async fn rekey(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<crate::RekeyPage> {
        let _ = (queue, after, limit);
        Err(crate::QueueError::UnsupportedOperation {
            backend: self.backend_name(),
            operation: "rekey",
        })
    }

    /// Forgets the record that keys other than the ring's newest sealed
    /// messages here, once `ebbflow rekey` has sealed every queue again
    /// with the newest: processes may then start without the older keys.
    /// Returns the ids forgotten. Default: `UnsupportedOperation`.
    async fn retire_older_keys(&self) -> Result<Vec<String>> {
        Err(crate::QueueError::UnsupportedOperation {
            backend: self.backend_name(),
            operation: "retire_older_keys",
        })
    }

    /// Names of the queues whose redrive policy targets `dead_letter_queue`, sorted.
    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>>;

    /// Moves the messages now in `dead_letter_queue` to `destination`, or, when
    /// `None`, each back to the queue it was dead-lettered from.
    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult>;
}
