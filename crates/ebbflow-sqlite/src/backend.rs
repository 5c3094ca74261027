//! [`SqliteBackend`]: opening the database, and the async face of the SQS verbs.
//!
//! Writes go through the group commit (`commit.rs`) on tokio's blocking pool;
//! reads use their own connections, which WAL lets run beside the writer.
//! Long polls sleep on an in-process notification that every commit which
//! may make a message receivable fires, and otherwise wake only when the
//! next delayed or in-flight message is due.

use crate::commit::Writer;
use crate::crypto::Sealer;
use crate::error::{backend_error, sql, OpenError};
use crate::options::SqliteOptions;
use crate::store::{self, Delivered, Prepared};
use crate::tx::Tx;
use crate::HANDLE_PREFIX;
use async_trait::async_trait;
use ebbflow_core::local::{
    dead_letter_sources, names_with_prefix, Clock, LongPolls, MessageIds, Poll, ReceiveAttempts,
};
use ebbflow_core::{
    limits, md5_hex, queue_name_from_arn, BatchResult, BrowsePage, BrowseRequest, BrowsedMessage,
    ChangeVisibilityBatchEntry, DeleteBatchEntry, MessageAttributes, MoveResult, QueueAttributes,
    QueueAttributesUpdate, QueueBackend, QueueStats, ReceiveRequest, ReceivedMessage, Result,
    SendBatchEntry, SendMessage, SendReceipt, SystemAttributes,
};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often a long poll looks at the file even without a wake-up, for
/// messages another process wrote (in-process writes wake it at once).
const FOREIGN_WRITE_RECHECK: Duration = Duration::from_secs(1);

/// A durable queue engine with Amazon SQS's semantics in one SQLite file.
///
/// Cheap to clone: clones share the database. Every send, delete or
/// visibility change has been committed (and with [`Synchronous::Full`],
/// fsynced) when its call returns.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ebbflow_core::{QueueAttributes, QueueBackend, ReceiveRequest, SendMessage};
/// use ebbflow_sqlite::{SqliteBackend, SqliteOptions};
///
/// let dir = tempfile::tempdir()?;
/// let backend = SqliteBackend::open(&SqliteOptions::new(dir.path().join("queues.db")))?;
/// backend.create_queue("orders", QueueAttributes::standard()).await?;
/// backend.send("orders", SendMessage::new("hello")).await?;
/// let got = backend.receive("orders", ReceiveRequest::new(10)).await?;
/// assert_eq!(got[0].body, "hello");
/// backend.delete("orders", &got[0].receipt_handle).await?;
/// # Ok(()) }
/// ```
///
/// [`Synchronous::Full`]: crate::Synchronous::Full
#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    sealer: Option<Sealer>,
    ids: MessageIds,
    clock: Clock,
    /// Long polls waiting, by queue name.
    polls: LongPolls,
    /// FIFO receive attempts of the last five minutes.
    attempts: ReceiveAttempts,
    /// FIFO: the group each queue served last, so that groups take turns.
    fifo_cursors: Mutex<HashMap<String, String>>,
}

fn open_connection(
    path: &Path,
    options: &SqliteOptions,
    flags: OpenFlags,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", options.synchronous.pragma())?;
    // Hot index pages stay in memory on big queues; checkpoints come less
    // often, so a page rewritten by many commits is copied back once.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteBackend {
    /// Opens (creating when missing) the database at `options.path`, applying
    /// the migrations it lacks, and checks the encryption key against it.
    ///
    /// Blocking: call it before the runtime's work starts, or in `spawn_blocking`.
    pub fn open(options: &SqliteOptions) -> Result<Self, OpenError> {
        let path = options.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let at = |source| OpenError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = open_connection(&path, options, OpenFlags::default()).map_err(at)?;
        let found = crate::schema::migrate(&mut conn).map_err(at)?;
        if found > crate::schema::VERSION {
            return Err(OpenError::NewerSchema {
                path,
                found,
                known: crate::schema::VERSION,
            });
        }
        let sealer = options.encryption.as_ref().map(Sealer::load).transpose()?;
        check_key(&conn, &path, sealer.as_ref())?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.clone(),
                writer: Writer::start(conn, options.paused_clock).map_err(|source| {
                    OpenError::Writer {
                        path: path.clone(),
                        source,
                    }
                })?,
                readers: Mutex::new(Vec::new()),
                sealer,
                ids: MessageIds::new(),
                clock: Clock::new(),
                polls: LongPolls::new(FOREIGN_WRITE_RECHECK),
                attempts: ReceiveAttempts::default(),
                fifo_cursors: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `job` in the group commit, on the blocking pool.
    async fn write<R, F>(&self, job: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'static,
    {
        self.inner.writer.execute(job).await
    }

    /// Runs `job` on a reader connection in one read transaction, on the blocking pool.
    async fn read<R, F>(&self, job: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match inner.readers.lock().pop() {
                Some(conn) => conn,
                None => {
                    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    let conn = Connection::open_with_flags(&inner.path, flags).map_err(sql)?;
                    conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
                    conn.set_prepared_statement_cache_capacity(32);
                    conn
                }
            };
            conn.execute_batch("BEGIN").map_err(sql)?;
            let result = job(&conn);
            let ended = conn.execute_batch("COMMIT");
            if ended.is_ok() {
                inner.readers.lock().push(conn);
            }
            result
        })
        .await
        .map_err(backend_error)?
    }

    /// Wakes the long polls of `queue`, if any wait.
    fn wake(&self, queue: &str) {
        self.inner.polls.wake(queue);
    }

    /// Ids, digests and, when the database is encrypted, sealed values:
    /// the costly part of a send, done before the writer sees it.
    fn prepare(&self, entries: &[SendBatchEntry]) -> Result<Vec<Prepared>> {
        let sealer = self.inner.sealer.as_ref();
        entries
            .iter()
            .map(|e| {
                let message_id = self.inner.ids.next();
                let md5 = md5_hex(&e.message.body);
                let sealed_body =
                    sealer.map(|s| s.seal(message_id.as_bytes(), e.message.body.as_bytes()));
                let attributes = if e.message.attributes.is_empty() {
                    None
                } else {
                    let plain = serde_json::to_vec(&e.message.attributes).map_err(backend_error)?;
                    Some(match sealer {
                        Some(s) => s.seal(message_id.as_bytes(), &plain),
                        None => plain,
                    })
                };
                Ok(Prepared {
                    message_id,
                    md5,
                    sealed_body,
                    attributes,
                })
            })
            .collect()
    }

    async fn send_entries(
        &self,
        queue: &str,
        entries: Vec<SendBatchEntry>,
        whole_batch: bool,
    ) -> Result<BatchResult<SendReceipt>> {
        let prepared = self.prepare(&entries)?;
        let name = queue.to_owned();
        let now = self.inner.clock.now_ms();
        let result = self
            .write(move |tx| store::send(tx, &name, entries, prepared, whole_batch, now))
            .await?;
        if !result.successful.is_empty() {
            self.wake(queue);
        }
        Ok(result)
    }

    /// What the consumer sees of a delivered row.
    fn received(&self, d: Delivered) -> Result<ReceivedMessage> {
        let open = |what: &str, sealed: Vec<u8>| -> Result<Vec<u8>> {
            match &self.inner.sealer {
                Some(s) => s.open(d.message_id.as_bytes(), &sealed).ok_or_else(|| {
                    backend_error(format!(
                        "the {what} of message {} does not decrypt with the key from {}",
                        d.message_id, s.source_name
                    ))
                }),
                None => Ok(sealed),
            }
        };
        let body = String::from_utf8(open("body", d.body)?).map_err(|_| {
            backend_error(format!("the body of message {} is not UTF-8", d.message_id))
        })?;
        let attributes: MessageAttributes = match d.attributes {
            Some(sealed) => serde_json::from_slice(&open("attributes", sealed)?).map_err(|e| {
                backend_error(format!(
                    "the attributes of message {} are corrupt: {e}",
                    d.message_id
                ))
            })?,
            None => MessageAttributes::new(),
        };
        Ok(ReceivedMessage {
            message_id: d.message_id,
            receipt_handle: d.handle.encode(HANDLE_PREFIX),
            body,
            md5_of_body: d.md5,
            attributes,
            system: SystemAttributes {
                sent_timestamp: d.sent_ms.max(0) as u64,
                approximate_receive_count: d.receive_count.max(0) as u32,
                approximate_first_receive_timestamp: d.first_receive_ms.max(0) as u64,
                sequence_number: d.sequence.map(ebbflow_core::local::fifo_sequence_string),
                message_group_id: d.group_id,
                message_deduplication_id: d.dedup_id,
                dead_letter_queue_source_arn: d.dlq_source,
                aws_trace_header: d.trace_header,
            },
        })
    }

    /// The rows a receive took, each on its own: one that cannot be read is
    /// logged and left in flight (see `local::convert_each`).
    fn received_all(&self, rows: Vec<Delivered>) -> Result<Vec<ReceivedMessage>> {
        let (messages, unreadable) = ebbflow_core::local::convert_each(rows, |d| self.received(d));
        for e in unreadable {
            tracing::error!(error = %e, "an unreadable message was left in flight; it returns after its visibility timeout");
        }
        Ok(messages)
    }

    /// One look at the queue: a replayed FIFO attempt, or a fresh receive.
    async fn receive_once(
        &self,
        queue: &str,
        request: &ReceiveRequest,
    ) -> Result<Poll<ReceivedMessage>> {
        let now = self.inner.clock.now_ms();
        let attempt = request.receive_request_attempt_id.as_deref();
        let visibility = request.visibility_timeout;
        if let Some(handles) = attempt.and_then(|id| self.inner.attempts.handles(queue, id, now)) {
            let name = queue.to_owned();
            let rows = self
                .write(move |tx| store::replay(tx, &name, &handles, visibility, now))
                .await?;
            if !rows.is_empty() {
                return Ok(Poll {
                    messages: self.received_all(rows)?,
                    next_due: None,
                });
            }
        }
        let name = queue.to_owned();
        let plain = queue_name_from_arn(queue).to_owned();
        let mut cursor = self
            .inner
            .fifo_cursors
            .lock()
            .get(&plain)
            .cloned()
            .unwrap_or_default();
        let max = request.max_messages;
        let (taken, cursor) = self
            .write(move |tx| {
                let taken = store::receive(tx, &name, max, visibility, now, &mut cursor)?;
                Ok((taken, cursor))
            })
            .await?;
        self.inner.fifo_cursors.lock().insert(plain, cursor);
        if let Some(dlq) = &taken.dead_lettered_to {
            self.wake(dlq);
        }
        if let (Some(id), false) = (attempt, taken.messages.is_empty()) {
            if taken.messages.iter().any(|m| m.group_id.is_some()) {
                let handles = taken.messages.iter().map(|m| m.handle).collect();
                self.inner.attempts.record(queue, id, now, handles);
            }
        }
        Ok(Poll {
            messages: self.received_all(taken.messages)?,
            next_due: taken.next_due.map(|at| self.inner.clock.instant(at)),
        })
    }
}

/// Checks the key against the one the database was encrypted with, or
/// records it for a new database.
fn check_key(conn: &Connection, path: &Path, sealer: Option<&Sealer>) -> Result<(), OpenError> {
    let at = |source| OpenError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let check = crate::schema::meta(conn, "key_check").map_err(at)?;
    match (sealer, check) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OpenError::KeyRequired {
            path: path.to_path_buf(),
        }),
        (Some(s), Some(check)) if s.matches(&check) => Ok(()),
        (Some(s), Some(_)) => Err(OpenError::WrongKey {
            path: path.to_path_buf(),
            source_name: s.source_name.clone(),
        }),
        (Some(s), None) => {
            let messages: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM messages LIMIT 1)",
                    [],
                    |r| r.get(0),
                )
                .map_err(at)?;
            if messages > 0 {
                return Err(OpenError::NotEncrypted {
                    path: path.to_path_buf(),
                });
            }
            crate::schema::set_meta(conn, "key_check", &s.key_check()).map_err(at)
        }
    }
}

#[async_trait]
impl QueueBackend for SqliteBackend {
    fn encrypts_at_rest(&self) -> bool {
        self.inner.sealer.is_some()
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn create_queue(&self, name: &str, attributes: QueueAttributes) -> Result<String> {
        limits::validate_queue_attributes(name, &attributes)?;
        let attributes = attributes.stamped();
        let owned = name.to_owned();
        self.write(move |tx| store::create_queue(tx, &owned, &attributes))
            .await?;
        Ok(url(name))
    }

    async fn get_queue_url(&self, name: &str) -> Result<String> {
        let owned = name.to_owned();
        self.read(move |conn| store::read_existing(conn, &owned).map(|_| ()))
            .await?;
        Ok(url(queue_name_from_arn(name)))
    }

    async fn list_queues(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let all = self.read(store::all_queues).await?;
        Ok(names_with_prefix(all, prefix))
    }

    async fn delete_queue(&self, name: &str) -> Result<()> {
        let owned = name.to_owned();
        self.write(move |tx| store::delete_queue(tx, &owned))
            .await?;
        // Long polls on the deleted queue return at once rather than wait out their timer.
        self.inner.polls.remove(name);
        Ok(())
    }

    async fn get_queue_attributes(&self, name: &str) -> Result<QueueAttributes> {
        let owned = name.to_owned();
        self.read(move |conn| store::read_existing(conn, &owned).map(|q| q.attrs))
            .await
    }

    async fn set_queue_attributes(&self, name: &str, update: QueueAttributesUpdate) -> Result<()> {
        let owned = name.to_owned();
        self.write(move |tx| store::set_attributes(tx, &owned, &update))
            .await?;
        self.wake(name);
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
            None => self.get_queue_attributes(queue).await?.receive_wait_time,
        };
        self.inner
            .polls
            .wait(queue, wait, || self.receive_once(queue, &request))
            .await
    }

    async fn delete_batch(
        &self,
        queue: &str,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let name = queue.to_owned();
        let result = self
            .write(move |tx| store::delete(tx, &name, entries))
            .await?;
        // A delete may unblock a FIFO group.
        if queue.ends_with(limits::FIFO_SUFFIX) {
            self.wake(queue);
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
        let name = queue.to_owned();
        let now = self.inner.clock.now_ms();
        self.write(move |tx| store::purge(tx, &name, now)).await
    }

    async fn announce(
        &self,
        queue: &str,
        me: &ebbflow_core::ConsumerReport,
        ttl: Duration,
    ) -> Result<Vec<ebbflow_core::ConsumerReport>> {
        let name = queue.to_owned();
        let me = me.clone();
        let now = self.inner.clock.now_ms();
        let expires = ebbflow_core::fleet::expires_at(now, ttl);
        self.write(move |tx| store::announce(tx, &name, &me, expires, now))
            .await
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats> {
        let name = queue.to_owned();
        let now = self.inner.clock.now_ms();
        self.read(move |conn| store::stats(conn, &name, now)).await
    }

    async fn delete_browsed(&self, queue: &str, position: &str, message_id: &str) -> Result<bool> {
        let key = BrowseRequest::position_key(position)?;
        let (name, id) = (queue.to_owned(), message_id.to_owned());
        let deleted = self
            .write(move |tx| store::delete_browsed(tx, &name, key, &id))
            .await?;
        if deleted && queue.ends_with(limits::FIFO_SUFFIX) {
            // It may have held its group back.
            self.wake(queue);
        }
        Ok(deleted)
    }

    async fn browse(&self, queue: &str, request: BrowseRequest) -> Result<BrowsePage> {
        request.validate()?;
        let first = request.first_key()?;
        let limit = request.limit;
        let name = queue.to_owned();
        let now = self.inner.clock.now_ms();
        let rows = self
            .read(move |conn| store::browse(conn, &name, first, limit, now))
            .await?;
        let rows = rows
            .into_iter()
            .map(|(key, state, d)| {
                Ok((key, BrowsedMessage::from_received(self.received(d)?, state)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BrowsePage::from_keyed(rows, limit))
    }

    async fn list_dead_letter_source_queues(&self, dead_letter_queue: &str) -> Result<Vec<String>> {
        let all = self.read(store::all_queues).await?;
        dead_letter_sources(all, dead_letter_queue)
    }

    async fn move_messages(
        &self,
        dead_letter_queue: &str,
        destination: Option<&str>,
    ) -> Result<MoveResult> {
        let dlq = dead_letter_queue.to_owned();
        let dest = destination.map(str::to_owned);
        let now = self.inner.clock.now_ms();
        let moved = self
            .write(move |tx| store::move_messages(tx, &dlq, dest.as_deref(), now))
            .await?;
        for name in &moved.destinations {
            self.wake(name);
        }
        Ok(moved.result)
    }
}

fn url(name: &str) -> String {
    format!("sqlite://ebbflow/{name}")
}

impl SqliteBackend {
    /// Visibility changes of up to ten messages, receives undone with `undo_receive`.
    async fn visibility_batch(
        &self,
        queue: &str,
        entries: Vec<ChangeVisibilityBatchEntry>,
        undo_receive: bool,
    ) -> Result<BatchResult<()>> {
        limits::validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
        let name = queue.to_owned();
        let now = self.inner.clock.now_ms();
        let result = self
            .write(move |tx| store::change_visibility(tx, &name, entries, now, undo_receive))
            .await?;
        // Waiting receives recompute when the next message becomes visible.
        self.wake(queue);
        Ok(result)
    }
}
