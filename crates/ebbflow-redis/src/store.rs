//! The verbs on the Rust side: arguments in, script results out. Every
//! change of a queue's messages is one script, so it is atomic on the server.

use crate::error::backend_error;
use crate::keys;
use crate::scripts;
use crate::HANDLE_PREFIX;
use ebbflow_core::local::{fifo_sequence_string, millis, QueueCache, ReceiptHandle};
use ebbflow_core::seal::{self, KeyRing, SealError};
use ebbflow_core::{
    content_deduplication_id, limits, local_queue_arn, queue_name_from_arn, BatchResult,
    BrowsePage, BrowsedMessage, ChangeVisibilityBatchEntry, DeleteBatchEntry, MessageAttributes,
    MessageState, QueueAttributes, QueueError, QueueStats, ReceivedMessage, Result, SendBatchEntry,
    SendReceipt, SystemAttributes,
};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a queue's attributes are used without reading them again.
const QUEUE_CACHE_TTL: Duration = Duration::from_secs(1);

/// A queue as the verbs need it.
#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) meta: String,
    pub(crate) attrs: QueueAttributes,
}

/// The connection (multiplexed, reconnecting) and the queue cache.
pub(crate) struct Store {
    pub(crate) conn: ConnectionManager,
    queues: QueueCache<QueueRow>,
    /// The keys bodies and attributes are sealed with, when encrypted at rest.
    seal: Option<Arc<KeyRing>>,
}

/// What a receive did.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) messages: Vec<ReceivedMessage>,
    pub(crate) dead_lettered: bool,
    pub(crate) next_due: Option<i64>,
}

fn redis_error(e: redis::RedisError) -> QueueError {
    backend_error(e)
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Okay => "OK".to_owned(),
        _ => String::new(),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => text(other).parse().unwrap_or(0),
    }
}

fn parse_attrs(text: &str) -> Result<QueueAttributes> {
    serde_json::from_str(text).map_err(|e| backend_error(format!("corrupt queue attributes: {e}")))
}

fn attrs_text(attrs: &QueueAttributes) -> Result<String> {
    serde_json::to_string(attrs).map_err(backend_error)
}

/// The `gone` answer of a script: the queue was deleted.
fn is_gone(values: &[Value]) -> bool {
    values.first().is_some_and(|v| text(v) == "gone")
}

impl Store {
    pub(crate) fn new(conn: ConnectionManager, seal: Option<Arc<KeyRing>>) -> Self {
        Self {
            conn,
            queues: QueueCache::new(QUEUE_CACHE_TTL),
            seal,
        }
    }

    /// Whether bodies and attributes are sealed at rest.
    pub(crate) fn seals(&self) -> bool {
        self.seal.is_some()
    }

    /// At connect: the keys that sealed messages here must all be in the
    /// ring (none without one); the ring's newest is recorded before it
    /// seals anything.
    pub(crate) async fn check_keys(&self) -> std::result::Result<(), SealError> {
        let recorded: Vec<String> = match self.conn().smembers(keys::SEAL_KEYS).await {
            Ok(ids) => ids,
            // The connection itself was checked just before; an error here
            // is the server's, and the first call will report it.
            Err(_) => return Ok(()),
        };
        seal::check_ring(self.seal.as_deref(), &recorded)?;
        if let Some(ring) = &self.seal {
            let _: std::result::Result<(), _> =
                self.conn().sadd(keys::SEAL_KEYS, ring.newest().id()).await;
        }
        Ok(())
    }

    /// Forgets every recorded key id but the newest's (after `ebbflow rekey`).
    pub(crate) async fn retire_older_keys(&self) -> Result<Vec<String>> {
        let Some(ring) = &self.seal else {
            return Err(QueueError::UnsupportedOperation {
                backend: crate::backend::BACKEND,
                operation: "retire_older_keys (no keys given)",
            });
        };
        let recorded: Vec<String> = self
            .conn()
            .smembers(keys::SEAL_KEYS)
            .await
            .map_err(redis_error)?;
        let older: Vec<String> = recorded
            .into_iter()
            .filter(|id| id != ring.newest().id())
            .collect();
        if !older.is_empty() {
            let _: () = self
                .conn()
                .srem(keys::SEAL_KEYS, &older)
                .await
                .map_err(redis_error)?;
        }
        Ok(older)
    }

    /// `text`, sealed as `field` of `message_id` when encrypted at rest.
    fn sealed(&self, message_id: &str, field: &str, text: String) -> String {
        seal::seal_stored(self.seal.as_deref(), message_id, field, text)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn read(&self, name: &str) -> Result<Option<QueueRow>> {
        let meta = keys::meta(name);
        let (attrs, id): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(&meta)
            .arg("attrs")
            .arg("id")
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        match (attrs, id) {
            (Some(attrs), Some(id)) => Ok(Some(QueueRow {
                id,
                name: name.to_owned(),
                meta,
                attrs: parse_attrs(&attrs)?,
            })),
            _ => Ok(None),
        }
    }

    /// The queue named `name` (or by URL or ARN), from the cache when fresh.
    pub(crate) async fn queue(&self, name: &str) -> Result<QueueRow> {
        let plain = queue_name_from_arn(name);
        if let Some(row) = self.queues.get(plain) {
            return Ok(row);
        }
        let row = self
            .read(plain)
            .await?
            .ok_or_else(|| QueueError::QueueDoesNotExist(plain.to_owned()))?;
        self.queues.put(plain, row.clone());
        Ok(row)
    }

    pub(crate) async fn queue_fresh(&self, name: &str) -> Result<QueueRow> {
        self.queues.forget(name);
        self.queue(name).await
    }

    fn gone(&self, q: &QueueRow) -> QueueError {
        self.queues.forget(&q.name);
        QueueError::QueueDoesNotExist(q.name.clone())
    }

    async fn check_target(&self, name: &str, attrs: &QueueAttributes) -> Result<()> {
        let target = match &attrs.redrive_policy {
            Some(p) => self.read(queue_name_from_arn(&p.dead_letter_queue)).await?,
            None => None,
        };
        let mut target = Some(target);
        limits::validate_redrive_policy(name, attrs, |_| {
            Ok(target.take().flatten().map(|q| q.attrs))
        })
    }

    pub(crate) async fn create_queue(&self, name: &str, attrs: &QueueAttributes) -> Result<()> {
        let meta = keys::meta(name);
        let mut conn = self.conn();
        if let Some(existing) = self.read(name).await? {
            if existing.attrs.conflicts_with(attrs) {
                return Err(QueueError::QueueAlreadyExists(name.to_owned()));
            }
            return Ok(());
        }
        self.check_target(name, attrs).await?;
        let text = attrs_text(attrs)?;
        let existing: Option<String> = crate::scripts::CREATE
            .key(&meta)
            .key(keys::QUEUE_IDS)
            .key(keys::QUEUES)
            .arg(&text)
            .arg(name)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        // Another process made it first: the same queue, or a conflict.
        if let Some(existing) = existing {
            if parse_attrs(&existing)?.conflicts_with(attrs) {
                return Err(QueueError::QueueAlreadyExists(name.to_owned()));
            }
        }
        self.queues.forget(name);
        Ok(())
    }

    pub(crate) async fn set_attributes(
        &self,
        name: &str,
        update: &ebbflow_core::QueueAttributesUpdate,
    ) -> Result<()> {
        let q = self.queue_fresh(name).await?;
        let next = update.apply(&q.attrs);
        limits::validate_queue_attributes(&q.name, &next)?;
        self.check_target(&q.name, &next).await?;
        let _: () = self
            .conn()
            .hset(&q.meta, "attrs", attrs_text(&next)?)
            .await
            .map_err(redis_error)?;
        self.queues.forget(name);
        Ok(())
    }

    pub(crate) async fn delete_queue(&self, name: &str) -> Result<()> {
        let q = self.queue_fresh(name).await?;
        self.clear(&q, 0, false).await?;
        let _: () = self
            .conn()
            .srem(keys::QUEUES, &q.name)
            .await
            .map_err(redis_error)?;
        self.queues.forget(name);
        Ok(())
    }

    pub(crate) async fn all_queues(&self) -> Result<Vec<(String, QueueAttributes)>> {
        let mut names: Vec<String> = self
            .conn()
            .smembers(keys::QUEUES)
            .await
            .map_err(redis_error)?;
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(q) = self.read(&name).await? {
                out.push((name, q.attrs));
            }
        }
        Ok(out)
    }

    /// Sends entries already checked as a batch; each is checked as a message here.
    pub(crate) async fn send(
        &self,
        q: &QueueRow,
        entries: Vec<SendBatchEntry>,
        ids: Vec<String>,
        now: i64,
    ) -> Result<BatchResult<SendReceipt>> {
        let mut result = BatchResult::default();
        let mut invocation = scripts::SEND.key(&q.meta);
        invocation
            .arg(now)
            .arg(&q.name)
            .arg(millis(limits::DEDUPLICATION_WINDOW));
        let mut good = Vec::with_capacity(entries.len());
        for (entry, message_id) in entries.into_iter().zip(ids) {
            if let Err(e) = limits::validate_message(&entry.message, &q.attrs) {
                result.push(entry.id, Err(e));
                continue;
            }
            let m = &entry.message;
            let attributes = if m.attributes.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&m.attributes).map_err(backend_error)?
            };
            let attributes = self.sealed(&message_id, "attributes", attributes);
            let dedup = match (&m.group_id, &m.deduplication_id) {
                (None, _) => String::new(),
                (Some(_), Some(d)) => d.clone(),
                (Some(_), None) => content_deduplication_id(&m.body),
            };
            invocation
                .arg(&message_id)
                .arg(ebbflow_core::md5_hex(&m.body))
                .arg(self.sealed(&message_id, "body", m.body.clone()))
                .arg(attributes)
                .arg(millis(m.delay.unwrap_or(q.attrs.delay)))
                .arg(m.group_id.as_deref().unwrap_or(""))
                .arg(dedup)
                .arg(m.trace_header.as_deref().unwrap_or(""));
            good.push(entry.id);
        }
        if good.is_empty() {
            return Ok(result);
        }
        let out: Vec<Value> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if is_gone(&out) {
            return Err(self.gone(q));
        }
        // A reply of another shape (a script from another version) fails
        // the entries it does not cover instead of panicking.
        let mut receipts = out.chunks_exact(3);
        for id in good {
            let receipt = match receipts.next() {
                Some([message_id, md5, sequence]) => Ok(SendReceipt {
                    message_id: text(message_id),
                    md5_of_body: text(md5),
                    sequence_number: text(sequence).parse().ok().map(fifo_sequence_string),
                }),
                _ => Err(backend_error("the send script's reply is short of entries")),
            };
            result.push(id, receipt);
        }
        Ok(result)
    }

    pub(crate) async fn receive(
        &self,
        q: &QueueRow,
        max: u32,
        visibility: Option<Duration>,
        now: i64,
    ) -> Result<Taken> {
        let until = now + millis(visibility.unwrap_or(q.attrs.visibility_timeout));
        let dead_letter = q.attrs.redrive_policy.as_ref().map(|p| {
            let dlq = queue_name_from_arn(&p.dead_letter_queue);
            (keys::meta(dlq), p.max_receive_count, dlq.to_owned())
        });
        let mut invocation = scripts::RECEIVE.key(&q.meta);
        if let Some((dlq, _, _)) = &dead_letter {
            invocation.key(dlq);
        }
        invocation
            .arg(now)
            .arg(max)
            .arg(until)
            .arg(millis(q.attrs.message_retention_period))
            .arg(if q.attrs.fifo { "1" } else { "0" })
            .arg(limits::MAX_IN_FLIGHT)
            .arg(dead_letter.as_ref().map_or(0, |(_, n, _)| *n))
            .arg(local_queue_arn(&q.name))
            .arg(
                dead_letter
                    .as_ref()
                    .map_or("", |(_, _, name)| name.as_str()),
            );
        let out: Vec<Value> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if is_gone(&out) {
            return Err(self.gone(q));
        }
        if out.first().is_some_and(|v| text(v) == "overlimit") {
            return Err(QueueError::OverLimit(format!(
                "{} messages are in flight, the most a queue allows",
                limits::MAX_IN_FLIGHT
            )));
        }
        let moved = out.first().map_or(0, int);
        let due = out.get(1).map_or(-1, int);
        Ok(Taken {
            messages: messages(q, out.get(2..).unwrap_or_default(), self.seal.as_deref())?,
            dead_lettered: moved > 0,
            next_due: (due >= 0).then_some(due),
        })
    }

    pub(crate) async fn replay(
        &self,
        q: &QueueRow,
        handles: &[ReceiptHandle],
        visibility: Option<Duration>,
        now: i64,
    ) -> Result<Vec<ReceivedMessage>> {
        let until = now + millis(visibility.unwrap_or(q.attrs.visibility_timeout));
        let mut invocation = scripts::REPLAY.key(&q.meta);
        invocation.arg(now).arg(until);
        for h in handles {
            invocation.arg(h.key).arg(h.nonce);
        }
        let out: Vec<Value> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        messages(q, &out, self.seal.as_deref())
    }

    pub(crate) async fn delete(
        &self,
        q: &QueueRow,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        let mut result = BatchResult::default();
        let mut invocation = scripts::DELETE.key(&q.meta);
        invocation.arg(&q.name);
        let mut any = false;
        for entry in entries {
            match parse_handle(q, &entry.receipt_handle) {
                Ok(h) => {
                    invocation.arg(h.key).arg(h.nonce);
                    any = true;
                    result.push(entry.id, Ok(()));
                }
                Err(e) => result.push(entry.id, Err(e)),
            }
        }
        if any {
            let _: Value = invocation
                .invoke_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
        }
        Ok(result)
    }

    /// Deletes the message at `key` if it is `message_id`, in any state.
    pub(crate) async fn delete_browsed(
        &self,
        q: &QueueRow,
        key: u64,
        message_id: &str,
    ) -> Result<bool> {
        let deleted: i64 = scripts::DELETE_BROWSED
            .key(&q.meta)
            .arg(&q.name)
            .arg(key)
            .arg(message_id)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(deleted == 1)
    }

    pub(crate) async fn change_visibility(
        &self,
        q: &QueueRow,
        entries: Vec<ChangeVisibilityBatchEntry>,
        now: i64,
        undo_receive: bool,
    ) -> Result<BatchResult<()>> {
        let mut result = BatchResult::default();
        let mut invocation = scripts::VISIBILITY.key(&q.meta);
        invocation
            .arg(now)
            .arg(millis(q.attrs.message_retention_period))
            .arg(millis(limits::MAX_VISIBILITY_TIMEOUT))
            .arg(&q.name)
            .arg(if undo_receive { "1" } else { "0" });
        let mut sent = Vec::new();
        for entry in entries {
            let checked = parse_handle(q, &entry.receipt_handle).and_then(|h| {
                limits::validate_visibility_timeout(entry.visibility_timeout).map(|_| h)
            });
            match checked {
                Ok(h) => {
                    invocation
                        .arg(h.key)
                        .arg(h.nonce)
                        .arg(millis(entry.visibility_timeout));
                    sent.push(entry);
                }
                Err(e) => result.push(entry.id, Err(e)),
            }
        }
        if sent.is_empty() {
            return Ok(result);
        }
        let out: Vec<Value> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        for (entry, answer) in sent.into_iter().zip(out) {
            let outcome = match text(&answer).as_str() {
                "ok" => Ok(()),
                "invalid" => Err(QueueError::ReceiptHandleIsInvalid(
                    "the message was deleted or received again since this handle was issued".into(),
                )),
                "notinflight" => Err(QueueError::MessageNotInflight),
                ms => {
                    let for_ = Duration::from_millis(ms.parse().unwrap_or(0));
                    limits::validate_visibility_extension(for_, entry.visibility_timeout)
                }
            };
            result.push(entry.id, outcome);
        }
        Ok(result)
    }

    /// Purges (`purge`) or deletes a queue's messages.
    pub(crate) async fn clear(&self, q: &QueueRow, now: i64, purge: bool) -> Result<()> {
        let out: Vec<Value> = scripts::CLEAR
            .key(&q.meta)
            .arg(now)
            .arg(millis(limits::PURGE_COOLDOWN))
            .arg(if purge { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if is_gone(&out) {
            return Err(self.gone(q));
        }
        if out.first().is_some_and(|v| text(v) == "cooldown") {
            let left = out.get(1).map_or(0, int);
            return Err(QueueError::PurgeQueueInProgress {
                queue: q.name.clone(),
                retry_after: Duration::from_millis(left.max(0) as u64),
            });
        }
        Ok(())
    }

    /// Registers `me` as a consumer of `q` until `expires`, forgets the
    /// registrations that ran out by `now`, and returns the live ones by id.
    pub(crate) async fn announce(
        &self,
        q: &QueueRow,
        me: &ebbflow_core::ConsumerReport,
        expires: i64,
        now: i64,
    ) -> Result<Vec<ebbflow_core::ConsumerReport>> {
        let report = serde_json::to_string(me).map_err(crate::error::backend_error)?;
        let out: Vec<Value> = scripts::CONSUMERS
            .key(&q.meta)
            .arg(&me.id)
            .arg(expires)
            .arg(report)
            .arg(now)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if is_gone(&out) {
            return Err(self.gone(q));
        }
        let mut members: Vec<(String, ebbflow_core::ConsumerReport)> = out[1..]
            .chunks(2)
            .filter(|pair| pair.len() == 2)
            .map(|pair| {
                serde_json::from_str(&text(&pair[1]))
                    .map(|report| (text(&pair[0]), report))
                    .map_err(crate::error::backend_error)
            })
            .collect::<Result<_>>()?;
        members.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(members.into_iter().map(|(_, report)| report).collect())
    }

    pub(crate) async fn stats(&self, q: &QueueRow, now: i64) -> Result<QueueStats> {
        let out: Vec<Value> = scripts::STATS
            .key(&q.meta)
            .arg(now)
            .arg(millis(q.attrs.message_retention_period))
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if is_gone(&out) || out.len() < 4 {
            return Err(self.gone(q));
        }
        let n = |i: usize| int(&out[i]).max(0) as u64;
        let oldest = int(&out[3]);
        Ok(QueueStats {
            visible: n(0),
            in_flight: n(1),
            delayed: n(2),
            oldest_message_age: (oldest >= 0)
                .then(|| Duration::from_millis((now - oldest).max(0) as u64)),
        })
    }

    /// A page of a browse from key `first` on: a plain read of the queue's
    /// structures, looking at no more than [`BROWSE_BUDGET`] keys per call so
    /// that a queue with long runs of deleted keys never blocks the server.
    /// The browse script's answer: the last key looked at, whether it was
    /// the last, then per message its key, its state and `FIELDS`.
    async fn browse_raw(
        &self,
        q: &QueueRow,
        first: u64,
        limit: u32,
        now: i64,
    ) -> Result<Vec<Value>> {
        let out: Vec<Value> = scripts::BROWSE
            .key(&q.meta)
            .arg(now)
            .arg(millis(q.attrs.message_retention_period))
            .arg(first)
            .arg(limit)
            .arg(BROWSE_BUDGET)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if is_gone(&out) || out.len() < 2 {
            return Err(self.gone(q));
        }
        Ok(out)
    }

    /// One step of `ebbflow rekey`: the messages from key `first` on, as a
    /// browse walks them, each sealed again with the newest key when an
    /// older one (or none) sealed it, written only if unchanged meanwhile.
    pub(crate) async fn rekey(
        &self,
        q: &QueueRow,
        first: u64,
        limit: u32,
        now: i64,
    ) -> Result<ebbflow_core::RekeyPage> {
        let Some(ring) = &self.seal else {
            return Err(QueueError::UnsupportedOperation {
                backend: crate::backend::BACKEND,
                operation: "rekey (no keys given: backend.encryption_key_file)",
            });
        };
        let out = self.browse_raw(q, first, limit, now).await?;
        let rows: Vec<&[Value]> = out
            .get(2..)
            .unwrap_or_default()
            .chunks(MESSAGE_WIDTH)
            .filter(|c| c.len() == MESSAGE_WIDTH)
            .collect();
        let mut page = ebbflow_core::RekeyPage::default();
        for c in rows.iter().take(limit as usize) {
            page.looked_at += 1;
            let (message_id, body, attrs) = (text(&c[2]), text(&c[4]), text(&c[5]));
            let new_body = seal::reseal(ring, &message_id, "body", &body).map_err(backend_error)?;
            let new_attrs =
                seal::reseal(ring, &message_id, "attributes", &attrs).map_err(backend_error)?;
            if new_body.is_none() && new_attrs.is_none() {
                continue;
            }
            let written: i64 = scripts::RESEAL
                .key(&q.meta)
                .arg(int(&c[0]))
                .arg(&body)
                .arg(new_body.as_deref().unwrap_or(&body))
                .arg(&attrs)
                .arg(new_attrs.as_deref().unwrap_or(&attrs))
                .invoke_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
            if written == 1 {
                page.resealed += 1;
            } else {
                page.skipped += 1;
            }
        }
        page.next = match rows.get(limit as usize) {
            Some(c) => Some(int(&c[0]).to_string()),
            None if int(&out[1]) == 1 => None,
            None => Some((int(&out[0]) + 1).to_string()),
        };
        Ok(page)
    }

    pub(crate) async fn browse(
        &self,
        q: &QueueRow,
        first: u64,
        limit: u32,
        now: i64,
    ) -> Result<BrowsePage> {
        let out = self.browse_raw(q, first, limit, now).await?;
        // Unlike a receive, a browse that meets an unreadable message says so:
        // an export must not skip one silently (SQLite and PostgreSQL do the same).
        let found = out
            .get(2..)
            .unwrap_or_default()
            .chunks(MESSAGE_WIDTH)
            .filter(|c| c.len() == MESSAGE_WIDTH)
            .map(|c| {
                let state = match int(&c[1]) {
                    1 => MessageState::InFlight,
                    2 => MessageState::Delayed,
                    _ => MessageState::Visible,
                };
                Ok((
                    int(&c[0]) as u64,
                    BrowsedMessage::from_received(message(q, c, self.seal.as_deref())?, state),
                ))
            })
            .collect::<Result<Vec<(u64, BrowsedMessage)>>>()?;
        if found.len() > limit as usize {
            return Ok(BrowsePage::from_keyed(found, limit));
        }
        let looked_at_last_key = int(&out[1]) == 1;
        let mut page = BrowsePage::from_keyed(found, limit);
        page.next = (!looked_at_last_key).then(|| int(&out[0]).to_string());
        Ok(page)
    }

    /// The dead-letter sources of a DLQ's waiting messages, with counts ("" = none).
    pub(crate) async fn sources(&self, dlq: &QueueRow) -> Result<Vec<(String, u64)>> {
        let out: Vec<Value> = scripts::SOURCES
            .key(&dlq.meta)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(out
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (text(&c[0]), int(&c[1]).max(0) as u64))
            .collect())
    }

    /// Moves a DLQ's waiting messages (those from `only`, or all) to `to`.
    pub(crate) async fn redrive(
        &self,
        dlq: &QueueRow,
        to: &QueueRow,
        only: &str,
        now: i64,
    ) -> Result<u64> {
        let moved: i64 = scripts::REDRIVE
            .key(&dlq.meta)
            .key(&to.meta)
            .arg(now)
            .arg(millis(dlq.attrs.message_retention_period))
            .arg(only)
            .arg(&to.name)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if moved < 0 {
            return Err(QueueError::QueueDoesNotExist(to.name.clone()));
        }
        Ok(moved as u64)
    }
}

/// A receipt handle of this queue, or `ReceiptHandleIsInvalid`.
fn parse_handle(q: &QueueRow, handle: &str) -> Result<ReceiptHandle> {
    let h = ReceiptHandle::parse(HANDLE_PREFIX, handle)?;
    if h.queue != q.id {
        return Err(QueueError::ReceiptHandleIsInvalid(
            "the handle belongs to another queue".into(),
        ));
    }
    Ok(h)
}

/// Values per message in a script's reply: key, nonce (a browse: state), then `FIELDS`.
const MESSAGE_WIDTH: usize = 14;

/// The most keys one browse call looks at.
const BROWSE_BUDGET: u64 = 5_000;

/// One message as a script returns it (key, nonce, then `FIELDS`), as the consumer sees it.
fn message(q: &QueueRow, c: &[Value], seal: Option<&KeyRing>) -> Result<ReceivedMessage> {
    let message_id = text(&c[2]);
    let open = |field: &str, value: String| -> Result<String> {
        seal::open_stored(seal, &message_id, field, value).map_err(backend_error)
    };
    let attributes_text = open("attributes", text(&c[5]))?;
    let attributes = if attributes_text.is_empty() {
        MessageAttributes::new()
    } else {
        serde_json::from_str(&attributes_text).map_err(|e| {
            backend_error(format!(
                "the attributes of message {message_id} are corrupt: {e}"
            ))
        })?
    };
    let optional = |v: &Value| Some(text(v)).filter(|s| !s.is_empty());
    let handle = ReceiptHandle {
        queue: q.id,
        key: int(&c[0]) as u64,
        nonce: int(&c[1]) as u64,
    };
    Ok(ReceivedMessage {
        receipt_handle: handle.encode(HANDLE_PREFIX),
        md5_of_body: text(&c[3]),
        body: open("body", text(&c[4]))?,
        attributes,
        system: SystemAttributes {
            sent_timestamp: int(&c[6]).max(0) as u64,
            approximate_receive_count: int(&c[7]).max(0) as u32,
            approximate_first_receive_timestamp: int(&c[8]).max(0) as u64,
            message_group_id: optional(&c[9]),
            message_deduplication_id: optional(&c[10]),
            sequence_number: optional(&c[11])
                .and_then(|s| s.parse().ok())
                .map(fifo_sequence_string),
            dead_letter_queue_source_arn: optional(&c[12]),
            aws_trace_header: optional(&c[13]),
        },
        message_id,
    })
}

/// Messages as scripts return them: key, nonce, then the fields of `FIELDS` in common.lua.
/// Each message on its own: one that cannot be read is logged and left in
/// flight (see `local::convert_each`).
fn messages(
    q: &QueueRow,
    values: &[Value],
    seal: Option<&KeyRing>,
) -> Result<Vec<ReceivedMessage>> {
    let rows = values
        .chunks(MESSAGE_WIDTH)
        .filter(|c| c.len() == MESSAGE_WIDTH);
    let (messages, unreadable) = ebbflow_core::local::convert_each(rows, |c| message(q, c, seal));
    for e in unreadable {
        tracing::error!(error = %e, "an unreadable message was left in flight; it returns after its visibility timeout");
    }
    Ok(messages)
}
