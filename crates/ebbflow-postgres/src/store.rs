//! SQS's state machine in SQL: one statement per verb where it can be, a
//! short transaction where it cannot.
//!
//! A message's state follows from two columns: visible when `visible_at` has
//! passed, otherwise in flight (`in_flight`) or delayed. So a visibility
//! timeout or a delay ending needs no write, and every verb takes its time
//! as a parameter (the workers' clock, [`ebbflow_core::local::Clock`]).

use crate::catalog::{parse_attrs, QueueRow};
use crate::error::{backend_error, db, pool};
use crate::vacuum::Vacuum;
use crate::HANDLE_PREFIX;
use deadpool_postgres::Pool;
use ebbflow_core::local::{fifo_sequence_string, millis, QueueCache, ReceiptHandle};
use ebbflow_core::seal::{self, KeyRing, SealError};
use ebbflow_core::{
    content_deduplication_id, limits, local_queue_arn, queue_name_from_arn, BatchResult,
    BrowsedMessage, ChangeVisibilityBatchEntry, DeleteBatchEntry, MessageAttributes, MessageState,
    MoveResult, QueueError, QueueStats, ReceivedMessage, Result, SendBatchEntry, SendReceipt,
    SystemAttributes,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::Row;

/// The channel on which writes announce a queue (by name) to other processes' long polls.
pub(crate) const CHANNEL: &str = "ebbflow";

/// How often a process deletes a queue's expired messages and deduplication
/// entries (reads skip them meanwhile).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How old an in-flight count may be before a receive counts again; near
/// the limit, every receive counts.
const IN_FLIGHT_RECOUNT: Duration = Duration::from_secs(1);

/// The queue verbs over a connection pool, plus what this process remembers between calls.
pub(crate) struct Store {
    pub(crate) pool: Pool,
    /// Queue rows by name.
    pub(crate) queues: QueueCache<QueueRow>,
    /// When each queue (by id) was last swept.
    swept: Mutex<HashMap<i64, Instant>>,
    /// Each queue's last in-flight count plus what this process received since, and when counted.
    in_flight: Mutex<HashMap<i64, (u64, Instant)>>,
    /// The dead row versions this process made, for its vacuums.
    vacuum: Vacuum,
    /// The keys bodies and attributes are sealed with, when encrypted at rest.
    seal: Option<Arc<KeyRing>>,
}

/// What a receive did.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) messages: Vec<ReceivedMessage>,
    /// The dead-letter queue messages moved to, if any did.
    pub(crate) dead_lettered_to: Option<String>,
    /// When the next delayed or in-flight message becomes visible (when nothing was taken).
    pub(crate) next_due: Option<i64>,
}

/// The receive's update, after a `picked (id, receive_count)` CTE: messages
/// past the redrive limit ($6 dead-letter queue, $7 source ARN, $8 limit)
/// move; the rest go in flight until $5. One row always comes back, with
/// the number moved, and the taken message's columns or NULLs.
macro_rules! take_tail {
    () => {
        ",
        dead AS (
            UPDATE ebbflow_messages m SET queue = $6, in_flight = false, visible_at = $2,
                nonce = NULL, dlq_source = $7
            FROM picked p WHERE m.id = p.id AND p.receive_count >= $8
            RETURNING m.id),
        taken AS (
            UPDATE ebbflow_messages m SET in_flight = true, visible_at = $5,
                nonce = floor(random() * 4503599627370496)::bigint + 1,
                receive_count = m.receive_count + 1, received_ms = $2,
                first_receive_ms = CASE WHEN m.first_receive_ms = 0 THEN $2 ELSE m.first_receive_ms END
            FROM picked p WHERE m.id = p.id AND p.receive_count < $8
            RETURNING m.id, m.nonce, m.message_id, m.md5, m.body, m.attributes, m.sent_ms,
                m.receive_count, m.first_receive_ms, m.group_id, m.dedup_id, m.sequence, m.dlq_source,
                m.trace_header)
        SELECT d.n, t.* FROM (SELECT count(*) AS n FROM dead) d LEFT JOIN taken t ON true"
    };
}

/// Standard queues: the oldest visible messages no other receive holds ($3 retention cut-off, $4 how many).
const RECEIVE_STANDARD: &str = concat!(
    "WITH picked AS (
        SELECT id, receive_count FROM ebbflow_messages
        WHERE queue = $1 AND visible_at <= $2 AND sent_ms > $3
        ORDER BY visible_at LIMIT $4 FOR UPDATE SKIP LOCKED)",
    take_tail!()
);

/// FIFO queues: the messages chosen in `FIFO_HEADS` ($9), under the queue's receive lock.
/// $3 and $4 are bound only so that both receives share `take_tail!`'s numbering.
const RECEIVE_CHOSEN: &str = concat!(
    "WITH picked AS (
        SELECT id, receive_count FROM ebbflow_messages
        WHERE id = ANY($9) AND queue = $1 AND $3::bigint < $2::bigint AND $4::bigint > 0 FOR UPDATE)",
    take_tail!()
);

/// FIFO: visible messages of groups with nothing in flight, each preceded in
/// its group only by messages taken with it (none delayed or in flight); as
/// SQS, the group whose first such message is the oldest comes first, and
/// gives all it has before the next group.
const FIFO_HEADS: &str = "
    SELECT h.id FROM (
        SELECT m.id, m.sequence,
               min(m.sequence) OVER (PARTITION BY m.group_id) AS group_head
        FROM ebbflow_messages m
        WHERE m.queue = $1 AND m.visible_at <= $2 AND m.sent_ms > $3
          AND NOT EXISTS (
            SELECT 1 FROM ebbflow_messages x
            WHERE x.queue = $1 AND x.group_id = m.group_id AND x.visible_at > $2
              AND (x.in_flight OR x.sequence < m.sequence))) h
    ORDER BY h.group_head, h.sequence LIMIT $4";

impl Store {
    pub(crate) fn new(pool: Pool, vacuum_after: u64, seal: Option<Arc<KeyRing>>) -> Self {
        Self {
            vacuum: Vacuum::new(vacuum_after),
            pool,
            queues: QueueCache::new(crate::catalog::QUEUE_CACHE_TTL),
            swept: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            seal,
        }
    }

    /// Whether bodies and attributes are sealed at rest.
    pub(crate) fn seals(&self) -> bool {
        self.seal.is_some()
    }

    /// At connect: the keys that sealed messages here must all be in the
    /// ring (none without one); the ring's newest is recorded before it
    /// seals anything. The outer error is the database's, the inner the keys'.
    pub(crate) async fn check_keys(
        &self,
        client: &tokio_postgres::Client,
    ) -> std::result::Result<std::result::Result<(), SealError>, tokio_postgres::Error> {
        let recorded: Vec<String> = client
            .query("SELECT id FROM ebbflow_seal_keys ORDER BY first_used", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if let Err(e) = seal::check_ring(self.seal.as_deref(), &recorded) {
            return Ok(Err(e));
        }
        if let Some(ring) = &self.seal {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            client
                .execute(
                    "INSERT INTO ebbflow_seal_keys (id, first_used) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&ring.newest().id(), &now],
                )
                .await?;
        }
        Ok(Ok(()))
    }

    /// Forgets every recorded key id but the newest's (after `ebbflow rekey`).
    pub(crate) async fn retire_older_keys(&self) -> Result<Vec<String>> {
        let Some(ring) = &self.seal else {
            return Err(QueueError::UnsupportedOperation {
                backend: crate::backend::BACKEND,
                operation: "retire_older_keys (no keys given)",
            });
        };
        let client = self.pool.get().await.map_err(pool)?;
        Ok(client
            .query(
                "DELETE FROM ebbflow_seal_keys WHERE id <> $1 RETURNING id",
                &[&ring.newest().id()],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// `text`, sealed as `field` of `message_id` when encrypted at rest.
    fn sealed(&self, message_id: &str, field: &str, text: String) -> String {
        seal::seal_stored(self.seal.as_deref(), message_id, field, text)
    }

    /// Attributes as stored: JSON, sealed when encrypted at rest.
    fn stored_attributes(
        &self,
        message_id: &str,
        attributes: &MessageAttributes,
    ) -> Result<Option<String>> {
        Ok(attributes_text(attributes)?.map(|t| self.sealed(message_id, "attributes", t)))
    }

    /// Sends entries already checked as a batch; each is checked as a message
    /// here. Standard queues store the batch in one statement; FIFO queues in
    /// one transaction holding the queue's row, which orders their sequence numbers.
    pub(crate) async fn send(
        &self,
        q: &QueueRow,
        entries: Vec<SendBatchEntry>,
        ids: Vec<String>,
        now: i64,
    ) -> Result<BatchResult<SendReceipt>> {
        let mut result = BatchResult::default();
        let mut good = Vec::with_capacity(entries.len());
        for (entry, message_id) in entries.into_iter().zip(ids) {
            match limits::validate_message(&entry.message, &q.attrs) {
                Ok(_) => good.push((entry, message_id)),
                Err(e) => result.push(entry.id, Err(e)),
            }
        }
        if good.is_empty() {
            return Ok(result);
        }
        let receipts = if q.attrs.fifo {
            self.send_fifo(q, &good, now).await?
        } else {
            self.send_standard(q, &good, now).await?
        };
        self.vacuum.added(receipts.len() as u64, &self.pool);
        for ((entry, _), receipt) in good.into_iter().zip(receipts) {
            result.push(entry.id, Ok(receipt));
        }
        Ok(result)
    }

    async fn send_standard(
        &self,
        q: &QueueRow,
        good: &[(SendBatchEntry, String)],
        now: i64,
    ) -> Result<Vec<SendReceipt>> {
        let mut delays = Vec::with_capacity(good.len());
        let mut message_ids = Vec::with_capacity(good.len());
        let mut md5s = Vec::with_capacity(good.len());
        let mut bodies = Vec::with_capacity(good.len());
        let mut attributes = Vec::with_capacity(good.len());
        let mut trace_headers = Vec::with_capacity(good.len());
        for (entry, id) in good {
            let m = &entry.message;
            delays.push(millis(m.delay.unwrap_or(q.attrs.delay)));
            message_ids.push(id.as_str());
            md5s.push(ebbflow_core::md5_hex(&m.body));
            bodies.push(self.sealed(id, "body", m.body.clone()));
            attributes.push(self.stored_attributes(id, &m.attributes)?);
            trace_headers.push(m.trace_header.as_deref());
        }
        let client = self.pool.get().await.map_err(pool)?;
        let stmt = client
            .prepare_cached(
                "WITH stored AS (
                    INSERT INTO ebbflow_messages (queue, visible_at, sent_ms, message_id, md5, body,
                        attributes, trace_header)
                    SELECT $1, $2 + t.delay, $2, t.message_id, t.md5, t.body, t.attributes, t.trace_header
                    FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $10::text[])
                        AS t (delay, message_id, md5, body, attributes, trace_header)
                    RETURNING 1)
                SELECT pg_notify($8, $9) FROM (SELECT 1 FROM stored LIMIT 1) s",
            )
            .await
            .map_err(db)?;
        client
            .execute(
                &stmt,
                &[
                    &q.id,
                    &now,
                    &delays,
                    &message_ids,
                    &md5s,
                    &bodies,
                    &attributes,
                    &CHANNEL,
                    &q.name,
                    &trace_headers,
                ],
            )
            .await
            .map_err(|e| self.gone(q, e))?;
        Ok(good
            .iter()
            .zip(md5s)
            .map(|((_, id), md5)| SendReceipt {
                message_id: id.clone(),
                md5_of_body: md5,
                sequence_number: None,
            })
            .collect())
    }

    async fn send_fifo(
        &self,
        q: &QueueRow,
        good: &[(SendBatchEntry, String)],
        now: i64,
    ) -> Result<Vec<SendReceipt>> {
        let mut client = self.pool.get().await.map_err(pool)?;
        let tx = client.transaction().await.map_err(db)?;
        let n = good.len() as i64;
        let first: i64 = tx
            .query_opt(
                "UPDATE ebbflow_queues SET next_sequence = next_sequence + $2 WHERE id = $1
                 RETURNING next_sequence - $2",
                &[&q.id, &n],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| self.gone_now(q))?
            .get(0);
        let dedup = tx
            .prepare_cached(
                "INSERT INTO ebbflow_dedup AS d (queue, dedup_id, expires_ms, message_id, md5, sequence)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (queue, dedup_id) DO UPDATE
                    SET expires_ms = $3, message_id = $4, md5 = $5, sequence = $6
                    WHERE d.expires_ms <= $7
                 RETURNING 1",
            )
            .await
            .map_err(db)?;
        let original = tx
            .prepare_cached(
                "SELECT message_id, md5, sequence FROM ebbflow_dedup WHERE queue = $1 AND dedup_id = $2",
            )
            .await
            .map_err(db)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO ebbflow_messages (queue, visible_at, sent_ms, message_id, md5, body,
                 attributes, group_id, dedup_id, sequence, trace_header)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(db)?;
        let window_end = now + millis(limits::DEDUPLICATION_WINDOW);
        let mut receipts = Vec::with_capacity(good.len());
        for (i, (entry, id)) in good.iter().enumerate() {
            let m = &entry.message;
            let sequence = first + i as i64;
            let md5 = ebbflow_core::md5_hex(&m.body);
            let dedup_id = m
                .deduplication_id
                .clone()
                .unwrap_or_else(|| content_deduplication_id(&m.body));
            let fresh = tx
                .query_opt(
                    &dedup,
                    &[&q.id, &dedup_id, &window_end, id, &md5, &sequence, &now],
                )
                .await
                .map_err(db)?
                .is_some();
            if !fresh {
                let r = tx
                    .query_one(&original, &[&q.id, &dedup_id])
                    .await
                    .map_err(db)?;
                receipts.push(SendReceipt {
                    message_id: r.get(0),
                    md5_of_body: r.get(1),
                    sequence_number: r.get::<_, Option<i64>>(2).map(fifo_sequence_string),
                });
                continue;
            }
            let visible_at = now + millis(m.delay.unwrap_or(q.attrs.delay));
            tx.execute(
                &insert,
                &[
                    &q.id,
                    &visible_at,
                    &now,
                    id,
                    &md5,
                    &self.sealed(id, "body", m.body.clone()),
                    &self.stored_attributes(id, &m.attributes)?,
                    &m.group_id,
                    &dedup_id,
                    &sequence,
                    &m.trace_header,
                ],
            )
            .await
            .map_err(db)?;
            receipts.push(SendReceipt {
                message_id: id.clone(),
                md5_of_body: md5,
                sequence_number: Some(fifo_sequence_string(sequence)),
            });
        }
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &q.name])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(receipts)
    }

    /// A failed write to a queue that may have been deleted meanwhile.
    fn gone(&self, q: &QueueRow, e: tokio_postgres::Error) -> QueueError {
        // 23503: foreign key violation, i.e. the queue's row is gone.
        if e.code().is_some_and(|c| c.code() == "23503") {
            return self.gone_now(q);
        }
        db(e)
    }

    fn gone_now(&self, q: &QueueRow) -> QueueError {
        self.forget(&q.name);
        QueueError::QueueDoesNotExist(q.name.clone())
    }

    /// Receives up to `max` messages, moving those past the redrive limit to
    /// the dead-letter queue in the same statement.
    pub(crate) async fn receive(
        &self,
        q: &QueueRow,
        max: u32,
        visibility: Option<Duration>,
        now: i64,
    ) -> Result<Taken> {
        self.sweep(q, now).await?;
        let room = self.in_flight_room(q, max, now).await?;
        let cutoff = now - millis(q.attrs.message_retention_period);
        let mut taken = Taken::default();
        if room == 0 {
            if self.any_visible(q, now, cutoff).await? {
                return Err(QueueError::OverLimit(format!(
                    "{} messages are in flight, the most a queue allows",
                    limits::MAX_IN_FLIGHT
                )));
            }
            return Ok(taken);
        }
        let visible_until = now + millis(visibility.unwrap_or(q.attrs.visibility_timeout));
        let dead_letter = match &q.attrs.redrive_policy {
            // A dead-letter queue deleted after the policy was set stops the
            // moves, not the receives (as in SQS, and the other engines).
            Some(p) => match self.queue(&p.dead_letter_queue).await {
                Ok(dlq) => Some((dlq, i32::try_from(p.max_receive_count).unwrap_or(i32::MAX))),
                Err(QueueError::QueueDoesNotExist(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let dlq_id = dead_letter.as_ref().map(|(d, _)| d.id);
        let limit = dead_letter.as_ref().map_or(i32::MAX, |(_, n)| *n);
        let source = local_queue_arn(&q.name);
        // Dead-lettered messages leave room: look again until full or empty.
        loop {
            let want = room - taken.messages.len() as i64;
            if want <= 0 {
                break;
            }
            let mut client = self.pool.get().await.map_err(pool)?;
            let rows = if q.attrs.fifo {
                let tx = client.transaction().await.map_err(db)?;
                // One FIFO receive at a time per queue, so that two never split a group.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(7, $1::int4)",
                    &[&((q.id & 0x7fff_ffff) as i32)],
                )
                .await
                .map_err(db)?;
                let heads = tx.prepare_cached(FIFO_HEADS).await.map_err(db)?;
                let ids: Vec<i64> = tx
                    .query(&heads, &[&q.id, &now, &cutoff, &want])
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut rows = if ids.is_empty() {
                    Vec::new()
                } else {
                    let stmt = tx.prepare_cached(RECEIVE_CHOSEN).await.map_err(db)?;
                    tx.query(
                        &stmt,
                        &[
                            &q.id,
                            &now,
                            &cutoff,
                            &want,
                            &visible_until,
                            &dlq_id,
                            &source,
                            &limit,
                            &ids,
                        ],
                    )
                    .await
                    .map_err(db)?
                };
                tx.commit().await.map_err(db)?;
                // The update returns rows in no set order: give them back in
                // the order `FIFO_HEADS` chose (a row of only the moved count
                // sorts first).
                rows.sort_by_key(|r| {
                    let id = r.try_get::<_, Option<i64>>(1).ok().flatten();
                    id.and_then(|id| ids.iter().position(|&chosen| chosen == id))
                });
                rows
            } else {
                let stmt = client.prepare_cached(RECEIVE_STANDARD).await.map_err(db)?;
                client
                    .query(
                        &stmt,
                        &[
                            &q.id,
                            &now,
                            &cutoff,
                            &want,
                            &visible_until,
                            &dlq_id,
                            &source,
                            &limit,
                        ],
                    )
                    .await
                    .map_err(db)?
            };
            let moved: i64 = rows.first().map_or(Ok(0), |r| r.try_get(0)).map_err(db)?;
            let taken_rows = rows
                .iter()
                .filter(|r| r.try_get::<_, Option<i64>>(1).ok().flatten().is_some());
            taken
                .messages
                .extend(received_each(q, taken_rows, self.seal.as_deref()));
            if moved > 0 {
                if let Some((dlq, _)) = &dead_letter {
                    taken.dead_lettered_to = Some(dlq.name.clone());
                }
            }
            if moved == 0 {
                break;
            }
        }
        if let Some((n, _)) = self.in_flight.lock().get_mut(&q.id) {
            *n += taken.messages.len() as u64;
        }
        self.vacuum.dead(taken.messages.len() as u64, &self.pool);
        if taken.messages.is_empty() {
            taken.next_due = self.next_due(q, now).await?;
        }
        Ok(taken)
    }

    /// How many more messages may go in flight now, up to `max`: counted
    /// when the last count is old or near the limit, else estimated from it.
    async fn in_flight_room(&self, q: &QueueRow, max: u32, now: i64) -> Result<i64> {
        let limit = limits::MAX_IN_FLIGHT;
        let estimate = self.in_flight.lock().get(&q.id).copied();
        let count = match estimate {
            Some((n, at)) if at.elapsed() < IN_FLIGHT_RECOUNT && n + 1_000 < limit => n,
            _ => {
                let client = self.pool.get().await.map_err(pool)?;
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FROM ebbflow_messages
                         WHERE queue = $1 AND visible_at > $2 AND in_flight",
                        &[&q.id, &now],
                    )
                    .await
                    .map_err(db)?
                    .get(0);
                let n = n.max(0) as u64;
                self.in_flight.lock().insert(q.id, (n, Instant::now()));
                n
            }
        };
        Ok(limit.saturating_sub(count).min(u64::from(max)) as i64)
    }

    async fn any_visible(&self, q: &QueueRow, now: i64, cutoff: i64) -> Result<bool> {
        let client = self.pool.get().await.map_err(pool)?;
        let row = client
            .query_opt(
                "SELECT 1 FROM ebbflow_messages WHERE queue = $1 AND visible_at <= $2 AND sent_ms > $3 LIMIT 1",
                &[&q.id, &now, &cutoff],
            )
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    /// Deletes expired messages and deduplication entries, once a second per queue.
    async fn sweep(&self, q: &QueueRow, now: i64) -> Result<()> {
        {
            let mut swept = self.swept.lock();
            match swept.get(&q.id) {
                Some(at) if at.elapsed() < SWEEP_EVERY => return Ok(()),
                _ => {
                    swept.insert(q.id, Instant::now());
                }
            }
        }
        let cutoff = now - millis(q.attrs.message_retention_period);
        let client = self.pool.get().await.map_err(pool)?;
        client
            .execute(
                "DELETE FROM ebbflow_messages WHERE queue = $1 AND sent_ms <= $2",
                &[&q.id, &cutoff],
            )
            .await
            .map_err(db)?;
        if q.attrs.fifo {
            client
                .execute(
                    "DELETE FROM ebbflow_dedup WHERE queue = $1 AND expires_ms <= $2",
                    &[&q.id, &now],
                )
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn next_due(&self, q: &QueueRow, now: i64) -> Result<Option<i64>> {
        let client = self.pool.get().await.map_err(pool)?;
        let row = client
            .query_opt(
                "SELECT visible_at FROM ebbflow_messages WHERE queue = $1 AND visible_at > $2
                 ORDER BY visible_at LIMIT 1",
                &[&q.id, &now],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Restarts the visibility of a FIFO receive attempt's messages still in
    /// flight under the attempt's handles, and returns them.
    pub(crate) async fn replay(
        &self,
        q: &QueueRow,
        handles: &[ReceiptHandle],
        visibility: Option<Duration>,
        now: i64,
    ) -> Result<Vec<ReceivedMessage>> {
        let visible_until = now + millis(visibility.unwrap_or(q.attrs.visibility_timeout));
        let (keys, nonces) = split(handles);
        let client = self.pool.get().await.map_err(pool)?;
        let rows = client
            .query(
                "UPDATE ebbflow_messages m SET visible_at = $4
                 FROM unnest($2::bigint[], $3::bigint[]) AS h (id, nonce)
                 WHERE m.id = h.id AND m.nonce = h.nonce AND m.queue = $1 AND m.in_flight
                   AND m.visible_at > $5
                 RETURNING 0::bigint, m.id, m.nonce, m.message_id, m.md5, m.body, m.attributes, m.sent_ms,
                    m.receive_count, m.first_receive_ms, m.group_id, m.dedup_id, m.sequence, m.dlq_source,
                    m.trace_header",
                &[&q.id, &keys, &nonces, &visible_until, &now],
            )
            .await
            .map_err(db)?;
        // In the order of the first receive, which the handles keep.
        let mut rows = rows;
        rows.sort_by_key(|r| {
            let id = r.try_get::<_, i64>(1).ok();
            id.and_then(|id| keys.iter().position(|&k| k == id))
        });
        Ok(received_each(q, rows.iter(), self.seal.as_deref()))
    }

    /// Deletes by receipt handle; a stale handle deletes nothing and succeeds, as in SQS.
    pub(crate) async fn delete(
        &self,
        q: &QueueRow,
        entries: Vec<DeleteBatchEntry>,
    ) -> Result<BatchResult<()>> {
        let mut result = BatchResult::default();
        let mut handles = Vec::with_capacity(entries.len());
        for entry in entries {
            match parse_handle(q, &entry.receipt_handle) {
                Ok(h) => {
                    handles.push(h);
                    result.push(entry.id, Ok(()));
                }
                Err(e) => result.push(entry.id, Err(e)),
            }
        }
        if handles.is_empty() {
            return Ok(result);
        }
        let (keys, nonces) = split(&handles);
        let client = self.pool.get().await.map_err(pool)?;
        // A FIFO delete may unblock a group: tell other processes' long polls.
        let stmt = client
            .prepare_cached(
                "WITH gone AS (
                    DELETE FROM ebbflow_messages m USING unnest($2::bigint[], $3::bigint[]) AS h (id, nonce)
                    WHERE m.id = h.id AND m.nonce = h.nonce AND m.queue = $1
                    RETURNING m.group_id)
                SELECT pg_notify($4, $5) FROM (SELECT 1 FROM gone WHERE group_id IS NOT NULL LIMIT 1) g",
            )
            .await
            .map_err(db)?;
        client
            .execute(&stmt, &[&q.id, &keys, &nonces, &CHANNEL, &q.name])
            .await
            .map_err(db)?;
        if let Some((n, _)) = self.in_flight.lock().get_mut(&q.id) {
            *n = n.saturating_sub(handles.len() as u64);
        }
        self.vacuum.dead(handles.len() as u64, &self.pool);
        Ok(result)
    }

    /// Deletes the message at row `key` if it is `message_id`, in any state.
    pub(crate) async fn delete_browsed(
        &self,
        q: &QueueRow,
        key: i64,
        message_id: &str,
    ) -> Result<bool> {
        let client = self.pool.get().await.map_err(pool)?;
        // A FIFO delete may unblock a group: tell other processes' long polls.
        let stmt = client
            .prepare_cached(
                "WITH gone AS (
                    DELETE FROM ebbflow_messages WHERE id = $2 AND queue = $1 AND message_id = $3
                    RETURNING group_id),
                 woken AS (SELECT pg_notify($4, $5) FROM gone WHERE group_id IS NOT NULL)
                 SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM woken)",
            )
            .await
            .map_err(db)?;
        let row = client
            .query_one(&stmt, &[&q.id, &key, &message_id, &CHANNEL, &q.name])
            .await
            .map_err(db)?;
        let gone: i64 = row.get(0);
        Ok(gone > 0)
    }

    /// Changes the visibility of in-flight messages, counting from now.
    pub(crate) async fn change_visibility(
        &self,
        q: &QueueRow,
        entries: Vec<ChangeVisibilityBatchEntry>,
        now: i64,
        undo_receive: bool,
    ) -> Result<BatchResult<()>> {
        let client = self.pool.get().await.map_err(pool)?;
        let uncount = i32::from(undo_receive);
        let set = client
            .prepare_cached(
                "UPDATE ebbflow_messages SET visible_at = $4,
                        receive_count = GREATEST(receive_count - $8::int, 0)
                 WHERE id = $1 AND queue = $2 AND nonce = $3 AND in_flight AND visible_at > $5
                   AND $5 - received_ms + $6 <= $7
                 RETURNING group_id",
            )
            .await
            .map_err(db)?;
        let find = client
            .prepare_cached(
                "SELECT in_flight AND visible_at > $4, received_ms FROM ebbflow_messages
                 WHERE id = $1 AND queue = $2 AND nonce = $3",
            )
            .await
            .map_err(db)?;
        let max = millis(limits::MAX_VISIBILITY_TIMEOUT);
        let mut result = BatchResult::default();
        let mut released = false;
        for entry in entries {
            let outcome = async {
                let h = parse_handle(q, &entry.receipt_handle)?;
                limits::validate_visibility_timeout(entry.visibility_timeout)?;
                let (key, nonce) = (h.key as i64, h.nonce as i64);
                let timeout = millis(entry.visibility_timeout);
                let at = now + timeout;
                let changed = client
                    .query_opt(
                        &set,
                        &[&key, &q.id, &nonce, &at, &now, &timeout, &max, &uncount],
                    )
                    .await
                    .map_err(db)?;
                if changed.is_some() {
                    released |= timeout == 0;
                    return Ok(());
                }
                // Say why nothing changed.
                let row = client
                    .query_opt(&find, &[&key, &q.id, &nonce, &now])
                    .await
                    .map_err(db)?
                    .ok_or_else(|| {
                        QueueError::ReceiptHandleIsInvalid(
                            "the message was deleted or received again since this handle was issued".into(),
                        )
                    })?;
                if !row.get::<_, bool>(0) {
                    return Err(QueueError::MessageNotInflight);
                }
                let in_flight_for = Duration::from_millis((now - row.get::<_, i64>(1)).max(0) as u64);
                limits::validate_visibility_extension(in_flight_for, entry.visibility_timeout)?;
                Err(backend_error("the message changed while its visibility was set; try again"))
            }
            .await;
            result.push(entry.id, outcome);
        }
        if released {
            client
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &q.name])
                .await
                .map_err(db)?;
        }
        Ok(result)
    }

    /// Removes every message; at most once per 60 s.
    pub(crate) async fn purge(&self, q: &QueueRow, now: i64) -> Result<()> {
        let mut client = self.pool.get().await.map_err(pool)?;
        let tx = client.transaction().await.map_err(db)?;
        let last: Option<i64> = tx
            .query_opt(
                "SELECT last_purge_ms FROM ebbflow_queues WHERE id = $1 FOR UPDATE",
                &[&q.id],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| self.gone_now(q))?
            .get(0);
        let cooldown = millis(limits::PURGE_COOLDOWN);
        if let Some(last) = last {
            let since = now - last;
            if since < cooldown {
                return Err(QueueError::PurgeQueueInProgress {
                    queue: q.name.clone(),
                    retry_after: Duration::from_millis((cooldown - since).max(0) as u64),
                });
            }
        }
        tx.execute("DELETE FROM ebbflow_messages WHERE queue = $1", &[&q.id])
            .await
            .map_err(db)?;
        tx.execute(
            "UPDATE ebbflow_queues SET last_purge_ms = $2 WHERE id = $1",
            &[&q.id, &now],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.in_flight.lock().remove(&q.id);
        Ok(())
    }

    /// Up to `limit + 1` messages with ids from `first` on, in id order (the
    /// order they arrived in this queue), with their state as of `now`. A
    /// plain read: nothing is locked or changed.
    /// One step of `ebbflow rekey`: the queue's messages after row `after`,
    /// in id order, each sealed again with the newest key when an older one
    /// (or none) sealed it, written only if unchanged meanwhile.
    pub(crate) async fn rekey(
        &self,
        q: &QueueRow,
        after: i64,
        limit: u32,
    ) -> Result<ebbflow_core::RekeyPage> {
        let Some(ring) = &self.seal else {
            return Err(QueueError::UnsupportedOperation {
                backend: crate::backend::BACKEND,
                operation: "rekey (no keys given: backend.encryption_key_file)",
            });
        };
        let client = self.pool.get().await.map_err(pool)?;
        let rows = client
            .query(
                "SELECT id, message_id, body, attributes FROM ebbflow_messages
                 WHERE queue = $1 AND id > $2 ORDER BY id LIMIT $3",
                &[&q.id, &after, &i64::from(limit)],
            )
            .await
            .map_err(db)?;
        let update = client
            .prepare_cached(
                "UPDATE ebbflow_messages SET body = $3, attributes = $5
                 WHERE id = $1 AND body = $2 AND attributes IS NOT DISTINCT FROM $4",
            )
            .await
            .map_err(db)?;
        let mut page = ebbflow_core::RekeyPage::default();
        for r in &rows {
            page.looked_at += 1;
            let (id, message_id, body): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
            let attrs: Option<String> = r.get(3);
            let new_body = seal::reseal(ring, &message_id, "body", &body).map_err(backend_error)?;
            let new_attrs = match &attrs {
                Some(a) => {
                    seal::reseal(ring, &message_id, "attributes", a).map_err(backend_error)?
                }
                None => None,
            };
            if new_body.is_none() && new_attrs.is_none() {
                continue;
            }
            let written = client
                .execute(
                    &update,
                    &[
                        &id,
                        &body,
                        &new_body.as_deref().unwrap_or(&body),
                        &attrs,
                        &new_attrs.as_deref().or(attrs.as_deref()),
                    ],
                )
                .await
                .map_err(db)?;
            if written == 1 {
                page.resealed += 1;
            } else {
                page.skipped += 1;
            }
        }
        page.next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.get::<_, i64>(0).to_string()))
            .flatten();
        Ok(page)
    }

    pub(crate) async fn browse(
        &self,
        q: &QueueRow,
        first: u64,
        limit: u32,
        now: i64,
    ) -> Result<Vec<(u64, BrowsedMessage)>> {
        let cutoff = now - millis(q.attrs.message_retention_period);
        let client = self.pool.get().await.map_err(pool)?;
        let first = i64::try_from(first).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT 0::bigint, m.id, 0::bigint, m.message_id, m.md5, m.body, m.attributes,
                        m.sent_ms, m.receive_count, m.first_receive_ms, m.group_id, m.dedup_id,
                        m.sequence, m.dlq_source, m.trace_header, m.in_flight, m.visible_at
                 FROM ebbflow_messages m
                 WHERE m.queue = $1 AND m.id >= $2 AND m.sent_ms > $3
                 ORDER BY m.id LIMIT $4",
                &[&q.id, &first, &cutoff, &(i64::from(limit) + 1)],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let key: i64 = r.try_get(1).map_err(backend_error)?;
                let in_flight: bool = r.try_get(15).map_err(backend_error)?;
                let visible_at: i64 = r.try_get(16).map_err(backend_error)?;
                let state = if visible_at <= now {
                    MessageState::Visible
                } else if in_flight {
                    MessageState::InFlight
                } else {
                    MessageState::Delayed
                };
                Ok((
                    key as u64,
                    BrowsedMessage::from_received(received(q, r, self.seal.as_deref())?, state),
                ))
            })
            .collect()
    }

    /// Counts by state as of `now`, and the oldest message's age.
    pub(crate) async fn stats(&self, q: &QueueRow, now: i64) -> Result<QueueStats> {
        let cutoff = now - millis(q.attrs.message_retention_period);
        let client = self.pool.get().await.map_err(pool)?;
        // The writers keep the queue's row count (migration 0002); what is
        // counted here is only what is hidden now (in flight or delayed:
        // bounded by the workers and the delays, not by the backlog), the
        // rows past retention not yet removed, and one index probe for the
        // oldest. Everything else is visible.
        let r = client
            .query_one(
                "SELECT
                   (SELECT COALESCE(sum(in_flight + waiting), 0)::bigint
                      FROM ebbflow_queue_counts WHERE queue = $1),
                   (SELECT count(*) FROM ebbflow_messages
                      WHERE queue = $1 AND sent_ms <= $3),
                   hidden.in_flight, hidden.delayed,
                   (SELECT min(sent_ms) FROM ebbflow_messages
                      WHERE queue = $1 AND sent_ms > $3)
                 FROM (SELECT count(*) FILTER (WHERE in_flight) AS in_flight,
                              count(*) FILTER (WHERE NOT in_flight) AS delayed
                         FROM ebbflow_messages
                        WHERE queue = $1 AND visible_at > $2 AND sent_ms > $3) hidden",
                &[&q.id, &now, &cutoff],
            )
            .await
            .map_err(db)?;
        let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
        let (total, expired, in_flight, delayed) = (n(0), n(1), n(2), n(3));
        Ok(QueueStats {
            visible: total.saturating_sub(expired + in_flight + delayed),
            in_flight,
            delayed,
            oldest_message_age: r
                .get::<_, Option<i64>>(4)
                .map(|sent| Duration::from_millis((now - sent).max(0) as u64)),
        })
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
        // Three statements, each committed before the next starts, not one
        // transaction: of two members announcing at once, the later one's
        // read must see the earlier one's write (in one transaction each,
        // both reads could miss the other's uncommitted row), for the claims
        // that keep a fleet under its `fleet_max`.
        let client = self.pool.get().await.map_err(pool)?;
        client
            .execute(
                "DELETE FROM ebbflow_consumers WHERE queue = $1 AND expires_ms <= $2",
                &[&q.id, &now],
            )
            .await
            .map_err(db)?;
        client.execute(
            "INSERT INTO ebbflow_consumers (queue, id, report, expires_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (queue, id) DO UPDATE SET report = EXCLUDED.report, expires_ms = EXCLUDED.expires_ms",
            &[&q.id, &me.id, &report, &expires],
        )
        .await
        .map_err(db)?;
        let rows = client
            .query(
                "SELECT report FROM ebbflow_consumers WHERE queue = $1 ORDER BY id",
                &[&q.id],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(crate::error::backend_error))
            .collect()
    }

    /// Moves the messages not in flight in `dlq` to `destination`, or each
    /// back to the queue it was dead-lettered from; each starts afresh.
    /// Returns the result and the queues that received messages.
    pub(crate) async fn move_messages(
        &self,
        dlq: &QueueRow,
        destination: Option<&QueueRow>,
        now: i64,
    ) -> Result<(MoveResult, Vec<String>)> {
        if destination.is_some_and(|d| d.attrs.fifo != dlq.attrs.fifo) {
            return Err(QueueError::invalid(
                "DestinationArn",
                "messages move only between queues of the same type (standard or FIFO)",
            ));
        }
        let mut client = self.pool.get().await.map_err(pool)?;
        let tx = client.transaction().await.map_err(db)?;
        let rows = tx
            .query(
                "SELECT id, dlq_source FROM ebbflow_messages
                 WHERE queue = $1 AND NOT (in_flight AND visible_at > $2)
                 ORDER BY sent_ms, sequence, id FOR UPDATE SKIP LOCKED",
                &[&dlq.id, &now],
            )
            .await
            .map_err(db)?;
        let mut targets: HashMap<String, Option<(i64, bool)>> = HashMap::new();
        if let Some(d) = destination {
            targets.insert(d.name.clone(), Some((d.id, d.attrs.fifo)));
        }
        let mut result = MoveResult::default();
        let mut touched = Vec::new();
        for row in &rows {
            let id: i64 = row.get(0);
            let source: Option<String> = row.get(1);
            let target = match destination {
                Some(d) => Some(d.name.clone()),
                None => source
                    .as_deref()
                    .map(|arn| queue_name_from_arn(arn).to_owned()),
            };
            let Some(target) = target else {
                result.failed += 1;
                continue;
            };
            if !targets.contains_key(&target) {
                let found = tx
                    .query_opt(
                        "SELECT id, attributes FROM ebbflow_queues WHERE name = $1",
                        &[&target],
                    )
                    .await
                    .map_err(db)?
                    .map(|r| Ok::<_, QueueError>((r.get::<_, i64>(0), parse_attrs(r.get(1))?.fifo)))
                    .transpose()?;
                targets.insert(target.clone(), found);
            }
            let Some(Some((target_id, fifo))) = targets.get(&target).copied() else {
                result.failed += 1;
                continue;
            };
            let sequence: Option<i64> = if fifo {
                tx.query_one(
                    "UPDATE ebbflow_queues SET next_sequence = next_sequence + 1 WHERE id = $1
                     RETURNING next_sequence - 1",
                    &[&target_id],
                )
                .await
                .map_err(db)?
                .get(0)
            } else {
                None
            };
            tx.execute(
                "UPDATE ebbflow_messages SET queue = $2, in_flight = false, visible_at = $3, sent_ms = $3,
                    nonce = NULL, receive_count = 0, first_receive_ms = 0, dlq_source = NULL,
                    sequence = COALESCE($4, sequence)
                 WHERE id = $1",
                &[&id, &target_id, &now, &sequence],
            )
            .await
            .map_err(db)?;
            result.moved += 1;
            if !touched.contains(&target) {
                touched.push(target);
            }
        }
        for name in &touched {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, name])
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok((result, touched))
    }
}

fn split(handles: &[ReceiptHandle]) -> (Vec<i64>, Vec<i64>) {
    handles
        .iter()
        .map(|h| (h.key as i64, h.nonce as i64))
        .unzip()
}

/// A receipt handle of this queue, or `ReceiptHandleIsInvalid`.
fn parse_handle(q: &QueueRow, handle: &str) -> Result<ReceiptHandle> {
    let h = ReceiptHandle::parse(HANDLE_PREFIX, handle)?;
    if h.queue != q.id as u64 {
        return Err(QueueError::ReceiptHandleIsInvalid(
            "the handle belongs to another queue".into(),
        ));
    }
    Ok(h)
}

fn attributes_text(attributes: &MessageAttributes) -> Result<Option<String>> {
    if attributes.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(attributes)
        .map(Some)
        .map_err(backend_error)
}

/// Taken rows as the consumer sees them, each on its own: one that cannot be
/// read is logged and left in flight (see `local::convert_each`).
fn received_each<'a>(
    q: &QueueRow,
    rows: impl Iterator<Item = &'a Row>,
    seal: Option<&KeyRing>,
) -> Vec<ReceivedMessage> {
    let (messages, unreadable) = ebbflow_core::local::convert_each(rows, |r| received(q, r, seal));
    for e in unreadable {
        tracing::error!(error = %e, "an unreadable message was left in flight; it returns after its visibility timeout");
    }
    messages
}

/// A taken row (after the moved count in column 0) as the consumer sees it.
fn received(q: &QueueRow, r: &Row, seal: Option<&KeyRing>) -> Result<ReceivedMessage> {
    // A column of an unexpected type is an error of this message, never a panic.
    fn col<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> Result<T> {
        r.try_get(i)
            .map_err(|e| backend_error(format!("column {i} of a message row: {e}")))
    }
    let id: i64 = col(r, 1)?;
    let nonce: i64 = col(r, 2)?;
    let message_id: String = col(r, 3)?;
    let open = |field: &str, value: String| -> Result<String> {
        seal::open_stored(seal, &message_id, field, value).map_err(backend_error)
    };
    let attributes = match col::<Option<String>>(r, 6)?
        .map(|t| open("attributes", t))
        .transpose()?
    {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            backend_error(format!(
                "the attributes of message {message_id} are corrupt: {e}"
            ))
        })?,
        None => MessageAttributes::new(),
    };
    let handle = ReceiptHandle {
        queue: q.id as u64,
        key: id as u64,
        nonce: nonce as u64,
    };
    Ok(ReceivedMessage {
        receipt_handle: handle.encode(HANDLE_PREFIX),
        md5_of_body: col(r, 4)?,
        body: open("body", col(r, 5)?)?,
        attributes,
        system: SystemAttributes {
            sent_timestamp: col::<i64>(r, 7)?.max(0) as u64,
            approximate_receive_count: col::<i32>(r, 8)?.max(0) as u32,
            approximate_first_receive_timestamp: col::<i64>(r, 9)?.max(0) as u64,
            message_group_id: col(r, 10)?,
            message_deduplication_id: col(r, 11)?,
            sequence_number: col::<Option<i64>>(r, 12)?.map(fifo_sequence_string),
            dead_letter_queue_source_arn: col(r, 13)?,
            aws_trace_header: col(r, 14)?,
        },
        message_id,
    })
}
