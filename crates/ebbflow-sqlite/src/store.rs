//! SQS's state machine over the tables of `schema.rs`.
//!
//! Every function here runs on a connection inside a transaction the caller
//! owns (the group commit for writes, a read transaction for reads), takes
//! time as a parameter, and touches rows only through indexes.

use crate::error::sql;
use crate::tx::{Counts, QueueRow, Tx, DELAYED, IN_FLIGHT, VISIBLE};
use crate::HANDLE_PREFIX;
use ebbflow_core::local::{fifo_sequence_string, ReceiptHandle};
use ebbflow_core::{
    content_deduplication_id, limits, local_queue_arn, queue_name_from_arn, BatchResult,
    MessageState, MoveResult, QueueAttributes, QueueError, QueueStats, Result, SendBatchEntry,
    SendMessage, SendReceipt,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;
use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn parse_attrs(text: &str) -> Result<QueueAttributes> {
    serde_json::from_str(text)
        .map_err(|e| crate::error::backend_error(format!("corrupt queue attributes: {e}")))
}

pub(crate) fn attrs_text(attrs: &QueueAttributes) -> Result<String> {
    serde_json::to_string(attrs).map_err(crate::error::backend_error)
}

/// The queue named `name` (or named by an ARN or URL) as committed, if it exists.
pub(crate) fn read_queue(conn: &Connection, name: &str) -> Result<Option<QueueRow>> {
    let name = queue_name_from_arn(name);
    let row = conn
        .prepare_cached(
            "SELECT id, attributes, visible, in_flight, delayed, last_purge_ms
             FROM queues WHERE name = ?1",
        )
        .and_then(|mut s| {
            s.query_row([name], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()
        })
        .map_err(sql)?;
    row.map(|(id, attrs, visible, in_flight, delayed, last_purge_ms)| {
        Ok(QueueRow {
            id,
            name: name.to_owned(),
            attrs: parse_attrs(&attrs)?,
            stored: Counts {
                visible,
                in_flight,
                delayed,
            },
            last_purge_ms,
        })
    })
    .transpose()
}

/// The committed queue named `name`, or `QueueDoesNotExist`.
pub(crate) fn read_existing(conn: &Connection, name: &str) -> Result<QueueRow> {
    read_queue(conn, name)?.ok_or_else(|| QueueError::QueueDoesNotExist(name.to_owned()))
}

/// The queue named `name` within a write, if it exists (read once per group).
fn find_queue(tx: &mut Tx<'_>, name: &str) -> Result<Option<QueueRow>> {
    let plain = queue_name_from_arn(name);
    if let Some(row) = tx.cached(plain) {
        return Ok(Some(row.clone()));
    }
    let row = read_queue(tx.conn, plain)?;
    if let Some(row) = &row {
        tx.cache(row.clone());
    }
    Ok(row)
}

/// The queue named `name` within a write, or `QueueDoesNotExist`.
pub(crate) fn queue(tx: &mut Tx<'_>, name: &str) -> Result<QueueRow> {
    find_queue(tx, name)?.ok_or_else(|| QueueError::QueueDoesNotExist(name.to_owned()))
}

/// Every queue's name and attributes, sorted by name.
pub(crate) fn all_queues(conn: &Connection) -> Result<Vec<(String, QueueAttributes)>> {
    let mut stmt = conn
        .prepare_cached("SELECT name, attributes FROM queues ORDER BY name")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (name, attrs) = row.map_err(sql)?;
        out.push((name, parse_attrs(&attrs)?));
    }
    Ok(out)
}

/// Checks a redrive policy's target: it exists, has the source's type and admits the source.
fn check_dead_letter_target(tx: &mut Tx<'_>, source: &str, attrs: &QueueAttributes) -> Result<()> {
    limits::validate_redrive_policy(source, attrs, |dlq| {
        Ok(find_queue(tx, dlq)?.map(|q| q.attrs))
    })
}

/// Creates a queue, or accepts an existing one with the same attributes.
pub(crate) fn create_queue(tx: &mut Tx<'_>, name: &str, attrs: &QueueAttributes) -> Result<()> {
    if let Some(existing) = find_queue(tx, name)? {
        if existing.attrs.conflicts_with(attrs) {
            return Err(QueueError::QueueAlreadyExists(name.to_owned()));
        }
        return Ok(());
    }
    check_dead_letter_target(tx, name, attrs)?;
    tx.conn
        .execute(
            "INSERT INTO queues (name, attributes) VALUES (?1, ?2)",
            params![name, attrs_text(attrs)?],
        )
        .map_err(sql)?;
    tx.forget_queues();
    Ok(())
}

/// Changes a queue's attributes after checking the result.
pub(crate) fn set_attributes(
    tx: &mut Tx<'_>,
    name: &str,
    update: &ebbflow_core::QueueAttributesUpdate,
) -> Result<()> {
    let q = queue(tx, name)?;
    let next = update.apply(&q.attrs);
    let plain = queue_name_from_arn(name);
    limits::validate_queue_attributes(plain, &next)?;
    check_dead_letter_target(tx, plain, &next)?;
    tx.conn
        .execute(
            "UPDATE queues SET attributes = ?2 WHERE id = ?1",
            params![q.id, attrs_text(&next)?],
        )
        .map_err(sql)?;
    tx.forget_queues();
    Ok(())
}

/// Deletes a queue and everything in it.
pub(crate) fn delete_queue(tx: &mut Tx<'_>, name: &str) -> Result<()> {
    let q = queue(tx, name)?;
    for stmt in [
        "DELETE FROM messages WHERE queue = ?1",
        "DELETE FROM dedup WHERE queue = ?1",
        "DELETE FROM consumers WHERE queue = ?1",
        "DELETE FROM queues WHERE id = ?1",
    ] {
        tx.conn.execute(stmt, [q.id]).map_err(sql)?;
    }
    tx.forget_queues();
    Ok(())
}

/// Registers `me` as a consumer of `name` until `expires`, forgets the
/// registrations that ran out by `now`, and returns the live ones by id.
pub(crate) fn announce(
    tx: &mut Tx<'_>,
    name: &str,
    me: &ebbflow_core::ConsumerReport,
    expires: i64,
    now: i64,
) -> Result<Vec<ebbflow_core::ConsumerReport>> {
    let q = queue(tx, name)?;
    let report = serde_json::to_string(me).map_err(crate::error::backend_error)?;
    tx.conn
        .prepare_cached("DELETE FROM consumers WHERE queue = ?1 AND expires_ms <= ?2")
        .and_then(|mut s| s.execute(params![q.id, now]))
        .map_err(sql)?;
    tx.conn
        .prepare_cached(
            "INSERT INTO consumers (queue, id, report, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (queue, id) DO UPDATE SET report = excluded.report, expires_ms = excluded.expires_ms",
        )
        .and_then(|mut s| s.execute(params![q.id, me.id, report, expires]))
        .map_err(sql)?;
    let mut select = tx
        .conn
        .prepare_cached("SELECT report FROM consumers WHERE queue = ?1 ORDER BY id")
        .map_err(sql)?;
    let rows = select
        .query_map([q.id], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    let mut members = Vec::new();
    for row in rows {
        let text = row.map_err(sql)?;
        members.push(serde_json::from_str(&text).map_err(crate::error::backend_error)?);
    }
    Ok(members)
}

/// Applies every transition due by `now`: retention expiry, delays and
/// visibility timeouts ending, FIFO deduplication windows closing.
pub(crate) fn tick(tx: &mut Tx<'_>, q: &QueueRow, now: i64) -> Result<()> {
    if !tx.needs_tick(q.id, now) {
        return Ok(());
    }
    let conn = tx.conn;
    let mut counts = Counts::default();
    let cutoff = now - ms(q.attrs.message_retention_period);
    {
        let mut expire = conn
            .prepare_cached(
                "DELETE FROM messages WHERE queue = ?1 AND sent_ms <= ?2 RETURNING state",
            )
            .map_err(sql)?;
        let states = expire
            .query_map(params![q.id, cutoff], |r| r.get::<_, i64>(0))
            .map_err(sql)?;
        for state in states {
            counts.add(state.map_err(sql)?, -1);
        }
    }
    let mut due = conn
        .prepare_cached(
            "UPDATE messages SET state = 0 WHERE queue = ?1 AND state = ?2 AND visible_at <= ?3",
        )
        .map_err(sql)?;
    for state in [DELAYED, IN_FLIGHT] {
        let n = due.execute(params![q.id, state, now]).map_err(sql)? as i64;
        counts.add(state, -n);
        counts.add(VISIBLE, n);
    }
    if q.attrs.fifo {
        conn.prepare_cached("DELETE FROM dedup WHERE queue = ?1 AND expires_ms <= ?2")
            .and_then(|mut s| s.execute(params![q.id, now]))
            .map_err(sql)?;
    }
    tx.count(q.id, counts);
    Ok(())
}

/// What a send adds to a message before storing it (made outside the writer,
/// which validates the message itself under the queue's current attributes).
pub(crate) struct Prepared {
    pub(crate) message_id: String,
    pub(crate) md5: String,
    /// The sealed body; `None` stores the body as sent.
    pub(crate) sealed_body: Option<Vec<u8>>,
    /// The attributes as stored (maybe sealed); `None` when there are none.
    pub(crate) attributes: Option<Vec<u8>>,
}

/// Stores messages; with `whole_batch`, first checks them as one batch.
/// A FIFO duplicate within the window returns the original's receipt.
pub(crate) fn send(
    tx: &mut Tx<'_>,
    name: &str,
    entries: Vec<SendBatchEntry>,
    prepared: Vec<Prepared>,
    whole_batch: bool,
    now: i64,
) -> Result<BatchResult<SendReceipt>> {
    let q = queue(tx, name)?;
    if whole_batch {
        limits::validate_send_batch(&entries, &q.attrs)?;
    }
    tick(tx, &q, now)?;
    let conn = tx.conn;
    let mut counts = Counts::default();
    let mut result = BatchResult::default();
    let mut next_sequence: Option<i64> = None;
    for (entry, p) in entries.into_iter().zip(prepared) {
        let outcome = match limits::validate_message(&entry.message, &q.attrs) {
            Ok(_) => store_one(
                conn,
                &q,
                &entry.message,
                &p,
                now,
                &mut counts,
                &mut next_sequence,
            ),
            Err(e) => Err(e),
        };
        result.push(entry.id, outcome);
    }
    if let Some(n) = next_sequence {
        conn.prepare_cached("UPDATE queues SET next_sequence = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![q.id, n]))
            .map_err(sql)?;
    }
    tx.count(q.id, counts);
    Ok(result)
}

fn store_one(
    conn: &Connection,
    q: &QueueRow,
    msg: &SendMessage,
    o: &Prepared,
    now: i64,
    counts: &mut Counts,
    next_sequence: &mut Option<i64>,
) -> Result<SendReceipt> {
    let mut dedup_id = msg.deduplication_id.clone();
    let mut sequence = None;
    if q.attrs.fifo {
        let id = dedup_id.get_or_insert_with(|| content_deduplication_id(&msg.body));
        let original = conn
            .prepare_cached(
                "SELECT message_id, md5, sequence FROM dedup
                 WHERE queue = ?1 AND dedup_id = ?2 AND expires_ms > ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![q.id, &*id, now], |r| {
                    Ok(SendReceipt {
                        message_id: r.get(0)?,
                        md5_of_body: r.get(1)?,
                        sequence_number: r.get::<_, Option<i64>>(2)?.map(fifo_sequence_string),
                    })
                })
                .optional()
            })
            .map_err(sql)?;
        if let Some(receipt) = original {
            return Ok(receipt);
        }
        let n = match *next_sequence {
            Some(n) => n,
            None => conn
                .prepare_cached("SELECT next_sequence FROM queues WHERE id = ?1")
                .and_then(|mut s| s.query_row([q.id], |r| r.get(0)))
                .map_err(sql)?,
        };
        sequence = Some(n);
        *next_sequence = Some(n + 1);
    }
    let delay = ms(msg.delay.unwrap_or(q.attrs.delay));
    let state = if delay > 0 { DELAYED } else { VISIBLE };
    conn.prepare_cached(
        "INSERT INTO messages (queue, state, visible_at, sent_ms, message_id, md5, body,
         attributes, group_id, dedup_id, sequence, trace_header)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            q.id,
            state,
            now + delay,
            now,
            o.message_id,
            o.md5,
            o.sealed_body.as_deref().unwrap_or(msg.body.as_bytes()),
            o.attributes,
            msg.group_id,
            dedup_id,
            sequence,
            msg.trace_header
        ])
    })
    .map_err(sql)?;
    counts.add(state, 1);
    if let (true, Some(id)) = (q.attrs.fifo, &dedup_id) {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO dedup (queue, dedup_id, expires_ms, message_id, md5, sequence)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                q.id,
                id,
                now + ms(limits::DEDUPLICATION_WINDOW),
                o.message_id,
                o.md5,
                sequence
            ])
        })
        .map_err(sql)?;
    }
    Ok(SendReceipt {
        message_id: o.message_id.clone(),
        md5_of_body: o.md5.clone(),
        sequence_number: sequence.map(fifo_sequence_string),
    })
}

/// A received message as stored: body and attributes still sealed if encrypted.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) handle: ReceiptHandle,
    pub(crate) message_id: String,
    pub(crate) md5: String,
    pub(crate) body: Vec<u8>,
    pub(crate) attributes: Option<Vec<u8>>,
    pub(crate) sent_ms: i64,
    pub(crate) receive_count: i64,
    pub(crate) first_receive_ms: i64,
    pub(crate) group_id: Option<String>,
    pub(crate) dedup_id: Option<String>,
    pub(crate) sequence: Option<i64>,
    pub(crate) dlq_source: Option<String>,
    pub(crate) trace_header: Option<String>,
}

/// The columns [`delivered`] reads, in its order (a macro so that SQL using
/// it stays a constant: a receive prepares it once, not once per message).
macro_rules! delivered_columns {
    () => {
        "message_id, md5, body, attributes, sent_ms, receive_count, first_receive_ms,
         group_id, dedup_id, sequence, dlq_source, trace_header"
    };
}

fn delivered(r: &rusqlite::Row<'_>, handle: ReceiptHandle) -> rusqlite::Result<Delivered> {
    delivered_at(r, 0, handle)
}

/// [`delivered`] for a row whose delivered columns start at column `at`.
fn delivered_at(
    r: &rusqlite::Row<'_>,
    at: usize,
    handle: ReceiptHandle,
) -> rusqlite::Result<Delivered> {
    Ok(Delivered {
        handle,
        message_id: r.get(at)?,
        md5: r.get(at + 1)?,
        body: r.get(at + 2)?,
        attributes: r.get(at + 3)?,
        sent_ms: r.get(at + 4)?,
        receive_count: r.get(at + 5)?,
        first_receive_ms: r.get(at + 6)?,
        group_id: r.get(at + 7)?,
        dedup_id: r.get(at + 8)?,
        sequence: r.get(at + 9)?,
        dlq_source: r.get(at + 10)?,
        trace_header: r.get(at + 11)?,
    })
}

/// What a receive did.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) messages: Vec<Delivered>,
    /// The dead-letter queue that messages moved to, if any did.
    pub(crate) dead_lettered_to: Option<String>,
    /// When the next delayed or in-flight message becomes visible (only when nothing was taken).
    pub(crate) next_due: Option<i64>,
}

/// Where a receive moves exhausted messages.
struct DeadLetter {
    queue: QueueRow,
    name: String,
    max_receives: i64,
    source_arn: String,
}

/// Receives up to `max` visible messages, moving those past `max_receive_count`
/// to the dead-letter queue in the same transaction. `fifo_cursor` is the
/// FIFO group served last, so that groups take turns.
pub(crate) fn receive(
    tx: &mut Tx<'_>,
    name: &str,
    max: u32,
    visibility: Option<Duration>,
    now: i64,
    fifo_cursor: &mut String,
) -> Result<Taken> {
    let q = queue(tx, name)?;
    tick(tx, &q, now)?;
    let current = tx.counts(&q);
    let room = limits::MAX_IN_FLIGHT.saturating_sub(current.in_flight.max(0) as u64);
    if room == 0 && current.visible > 0 {
        return Err(QueueError::OverLimit(format!(
            "{} messages are in flight, the most a queue allows",
            limits::MAX_IN_FLIGHT
        )));
    }
    let max = room.min(u64::from(max)) as usize;
    let visible_at = now + ms(visibility.unwrap_or(q.attrs.visibility_timeout));
    let dead_letter = match &q.attrs.redrive_policy {
        Some(p) => find_queue(tx, &p.dead_letter_queue)?.map(|dlq| DeadLetter {
            queue: dlq,
            name: p.dead_letter_queue.clone(),
            max_receives: i64::from(p.max_receive_count),
            source_arn: local_queue_arn(queue_name_from_arn(name)),
        }),
        None => None,
    };
    let conn = tx.conn;
    let mut taken = Taken::default();
    let mut counts = Counts::default();
    let mut moved = Counts::default();
    let mut take = |id: i64, receive_count: i64, taken: &mut Taken| -> Result<()> {
        if let Some(dl) = dead_letter
            .as_ref()
            .filter(|d| receive_count >= d.max_receives)
        {
            conn.prepare_cached(
                "UPDATE messages SET queue = ?2, state = 0, visible_at = ?3, nonce = NULL,
                 dlq_source = ?4 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, dl.queue.id, now, dl.source_arn]))
            .map_err(sql)?;
            counts.add(VISIBLE, -1);
            moved.add(VISIBLE, 1);
            taken.dead_lettered_to = Some(dl.name.clone());
            return Ok(());
        }
        let nonce = fastrand::i64(1..);
        let message = conn
            .prepare_cached(concat!(
                "UPDATE messages SET state = 2, visible_at = ?2, nonce = ?3,
                 receive_count = receive_count + 1, received_ms = ?4,
                 first_receive_ms = CASE WHEN first_receive_ms = 0 THEN ?4 ELSE first_receive_ms END
                 WHERE id = ?1 RETURNING ",
                delivered_columns!()
            ))
            .and_then(|mut s| {
                s.query_row(params![id, visible_at, nonce, now], |r| {
                    delivered(
                        r,
                        ReceiptHandle {
                            queue: q.id as u64,
                            key: id as u64,
                            nonce: nonce as u64,
                        },
                    )
                })
            })
            .map_err(sql)?;
        counts.add(VISIBLE, -1);
        counts.add(IN_FLIGHT, 1);
        taken.messages.push(message);
        Ok(())
    };
    if q.attrs.fifo {
        receive_fifo(conn, q.id, max, fifo_cursor, &mut taken, &mut take)?;
    } else {
        let mut candidates = conn
            .prepare_cached(
                "SELECT id, receive_count FROM messages WHERE queue = ?1 AND state = 0
                 ORDER BY visible_at, id LIMIT ?2",
            )
            .map_err(sql)?;
        // Dead-lettered candidates leave room; look again until full or empty.
        loop {
            let want = max - taken.messages.len();
            if want == 0 {
                break;
            }
            let rows: Vec<(i64, i64)> = candidates
                .query_map(params![q.id, want as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(sql)?;
            if rows.is_empty() {
                break;
            }
            for (id, receive_count) in rows {
                take(id, receive_count, &mut taken)?;
            }
        }
    }
    tx.count(q.id, counts);
    if let Some(dl) = &dead_letter {
        tx.count(dl.queue.id, moved);
    }
    if taken.messages.is_empty() {
        taken.next_due = next_due(conn, q.id)?;
    }
    Ok(taken)
}

/// How many of a FIFO queue's oldest visible messages a receive looks at to
/// find the groups to serve first. Past them (every one in a group that is
/// blocked), it serves the other groups in turn, so a receive's cost stays
/// bounded and no group waits behind a crowd of blocked ones.
const OLDEST_LOOKED_AT: i64 = 200;

/// FIFO, as SQS: the group whose first waiting message is the oldest comes
/// first, and each group gives as many of its head messages, in send order,
/// as the receive takes, up to the first still delayed; a group with a
/// message in flight gives none. When the oldest messages are all in
/// blocked groups, the walk goes on round the groups by id from the one
/// after `cursor`, back to it.
fn receive_fifo(
    conn: &Connection,
    queue: i64,
    max: usize,
    cursor: &mut String,
    taken: &mut Taken,
    take: &mut impl FnMut(i64, i64, &mut Taken) -> Result<()>,
) -> Result<()> {
    let mut oldest = conn
        .prepare_cached(
            "SELECT group_id FROM messages INDEXED BY messages_queue
             WHERE queue = ?1 AND state = 0 AND group_id IS NOT NULL ORDER BY id LIMIT ?2",
        )
        .map_err(sql)?;
    let mut group = GroupHeads::new(conn, queue)?;
    let first: Vec<String> = oldest
        .query_map(params![queue, OLDEST_LOOKED_AT], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(sql)?;
    let mut seen = HashSet::new();
    for g in first {
        if taken.messages.len() >= max {
            return Ok(());
        }
        if seen.insert(g.clone()) {
            group.take(&g, max, taken, take)?;
        }
    }
    let mut next_group = conn
        .prepare_cached(
            "SELECT group_id FROM messages WHERE queue = ?1 AND group_id > ?2
             ORDER BY group_id LIMIT 1",
        )
        .map_err(sql)?;
    let start = cursor.clone();
    let mut after = start.clone();
    let mut wrapped = false;
    while taken.messages.len() < max {
        let next: Option<String> = next_group
            .query_row(params![queue, after], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        let g = match next {
            Some(g) if !(wrapped && g > start) => g,
            _ if wrapped || start.is_empty() => break,
            _ => {
                wrapped = true;
                after.clear();
                continue;
            }
        };
        after.clone_from(&g);
        if !seen.contains(&g) && group.take(&g, max, taken, take)? {
            cursor.clone_from(&g);
        }
        if wrapped && g == start {
            break;
        }
    }
    Ok(())
}

/// The statements that take a FIFO group's deliverable head messages.
struct GroupHeads<'c> {
    queue: i64,
    first_in_state: rusqlite::CachedStatement<'c>,
    heads: rusqlite::CachedStatement<'c>,
}

impl<'c> GroupHeads<'c> {
    fn new(conn: &'c Connection, queue: i64) -> Result<Self> {
        Ok(Self {
            queue,
            first_in_state: conn
                .prepare_cached(
                    "SELECT id FROM messages WHERE queue = ?1 AND group_id = ?2 AND state = ?3
                     ORDER BY id LIMIT 1",
                )
                .map_err(sql)?,
            heads: conn
                .prepare_cached(
                    "SELECT id, receive_count FROM messages WHERE queue = ?1 AND group_id = ?2
                     AND state = 0 AND id < ?3 ORDER BY id LIMIT ?4",
                )
                .map_err(sql)?,
        })
    }

    /// Takes `group`'s visible head messages, in send order up to the first
    /// delayed one, while the receive has room; none while one of the group
    /// is in flight. Whether it took any.
    fn take(
        &mut self,
        group: &str,
        max: usize,
        taken: &mut Taken,
        take: &mut impl FnMut(i64, i64, &mut Taken) -> Result<()>,
    ) -> Result<bool> {
        let queue = self.queue;
        let busy = self
            .first_in_state
            .query_row(params![queue, group, IN_FLIGHT], |_| Ok(()))
            .optional()
            .map_err(sql)?
            .is_some();
        if busy {
            return Ok(false);
        }
        let first_delayed: i64 = self
            .first_in_state
            .query_row(params![queue, group, DELAYED], |r| r.get(0))
            .optional()
            .map_err(sql)?
            .unwrap_or(i64::MAX);
        let want = max.saturating_sub(taken.messages.len()) as i64;
        let rows: Vec<(i64, i64)> = self
            .heads
            .query_map(params![queue, group, first_delayed, want], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(sql)?;
        let any = !rows.is_empty();
        for (id, receive_count) in rows {
            take(id, receive_count, taken)?;
        }
        Ok(any)
    }
}

/// When the next delayed or in-flight message of `queue` becomes visible.
fn next_due(conn: &Connection, queue: i64) -> Result<Option<i64>> {
    let mut first = conn
        .prepare_cached(
            "SELECT visible_at FROM messages WHERE queue = ?1 AND state = ?2
             ORDER BY visible_at LIMIT 1",
        )
        .map_err(sql)?;
    let mut due: Option<i64> = None;
    for state in [DELAYED, IN_FLIGHT] {
        let at: Option<i64> = first
            .query_row(params![queue, state], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        due = match (due, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(due)
}

/// Replays the in-flight messages of a FIFO receive attempt with their
/// visibility restarted; those deleted or received again since are left out.
pub(crate) fn replay(
    tx: &mut Tx<'_>,
    name: &str,
    handles: &[ReceiptHandle],
    visibility: Option<Duration>,
    now: i64,
) -> Result<Vec<Delivered>> {
    let q = queue(tx, name)?;
    let conn = tx.conn;
    let visible_at = now + ms(visibility.unwrap_or(q.attrs.visibility_timeout));
    let mut stmt = conn
        .prepare_cached(concat!(
            "UPDATE messages SET visible_at = ?4 WHERE id = ?1 AND queue = ?2 AND nonce = ?3
             AND state = 2 RETURNING ",
            delivered_columns!()
        ))
        .map_err(sql)?;
    let mut out = Vec::new();
    for h in handles {
        let row = stmt
            .query_row(
                params![h.key as i64, q.id, h.nonce as i64, visible_at],
                |r| delivered(r, *h),
            )
            .optional()
            .map_err(sql)?;
        out.extend(row);
    }
    Ok(out)
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

/// Deletes by receipt handle. A handle whose message is gone, or that a later
/// receive replaced, deletes nothing and succeeds, as in SQS.
pub(crate) fn delete(
    tx: &mut Tx<'_>,
    name: &str,
    entries: Vec<ebbflow_core::DeleteBatchEntry>,
) -> Result<BatchResult<()>> {
    let q = queue(tx, name)?;
    let conn = tx.conn;
    let mut stmt = conn
        .prepare_cached(
            "DELETE FROM messages WHERE id = ?1 AND queue = ?2 AND nonce = ?3 RETURNING state",
        )
        .map_err(sql)?;
    let mut counts = Counts::default();
    let mut result = BatchResult::default();
    for entry in entries {
        let outcome = parse_handle(&q, &entry.receipt_handle).and_then(|h| {
            let state: Option<i64> = stmt
                .query_row(params![h.key as i64, q.id, h.nonce as i64], |r| r.get(0))
                .optional()
                .map_err(sql)?;
            if let Some(state) = state {
                counts.add(state, -1);
            }
            Ok(())
        });
        result.push(entry.id, outcome);
    }
    drop(stmt);
    tx.count(q.id, counts);
    Ok(result)
}

/// Deletes the message at row `key` if it is `message_id`, in any state.
pub(crate) fn delete_browsed(
    tx: &mut Tx<'_>,
    name: &str,
    key: u64,
    message_id: &str,
) -> Result<bool> {
    let q = queue(tx, name)?;
    let state: Option<i64> = tx
        .conn
        .prepare_cached(
            "DELETE FROM messages WHERE id = ?1 AND queue = ?2 AND message_id = ?3 RETURNING state",
        )
        .and_then(|mut s| {
            s.query_row(params![key as i64, q.id, message_id], |r| r.get(0))
                .optional()
        })
        .map_err(sql)?;
    if let Some(state) = state {
        let mut counts = Counts::default();
        counts.add(state, -1);
        tx.count(q.id, counts);
    }
    Ok(state.is_some())
}

/// Changes the visibility of in-flight messages, counting from now; with
/// `undo_receive`, their receives are not counted either.
pub(crate) fn change_visibility(
    tx: &mut Tx<'_>,
    name: &str,
    entries: Vec<ebbflow_core::ChangeVisibilityBatchEntry>,
    now: i64,
    undo_receive: bool,
) -> Result<BatchResult<()>> {
    let q = queue(tx, name)?;
    tick(tx, &q, now)?;
    let conn = tx.conn;
    let mut find = conn
        .prepare_cached(
            "SELECT state, received_ms FROM messages WHERE id = ?1 AND queue = ?2 AND nonce = ?3",
        )
        .map_err(sql)?;
    let mut set = conn
        .prepare_cached(
            "UPDATE messages SET state = ?2, visible_at = ?3,
             receive_count = max(receive_count - ?4, 0) WHERE id = ?1",
        )
        .map_err(sql)?;
    let uncount = i64::from(undo_receive);
    let mut counts = Counts::default();
    let mut result = BatchResult::default();
    for entry in entries {
        let outcome = parse_handle(&q, &entry.receipt_handle).and_then(|h| {
            let found: Option<(i64, i64)> = find
                .query_row(params![h.key as i64, q.id, h.nonce as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(sql)?;
            let (state, received_ms) = found.ok_or_else(|| {
                QueueError::ReceiptHandleIsInvalid(
                    "the message was deleted or received again since this handle was issued".into(),
                )
            })?;
            if state != IN_FLIGHT {
                return Err(QueueError::MessageNotInflight);
            }
            let in_flight_for = Duration::from_millis((now - received_ms).max(0) as u64);
            limits::validate_visibility_extension(in_flight_for, entry.visibility_timeout)?;
            let at = now + ms(entry.visibility_timeout);
            let next = if at <= now { VISIBLE } else { IN_FLIGHT };
            set.execute(params![h.key as i64, next, at, uncount])
                .map_err(sql)?;
            counts.add(IN_FLIGHT, -1);
            counts.add(next, 1);
            Ok(())
        });
        result.push(entry.id, outcome);
    }
    drop((find, set));
    tx.count(q.id, counts);
    Ok(result)
}

/// Removes every message; at most once per 60 s.
pub(crate) fn purge(tx: &mut Tx<'_>, name: &str, now: i64) -> Result<()> {
    let q = queue(tx, name)?;
    let cooldown = ms(limits::PURGE_COOLDOWN);
    if let Some(last) = q.last_purge_ms {
        let since = now - last;
        if since < cooldown {
            return Err(QueueError::PurgeQueueInProgress {
                queue: name.to_owned(),
                retry_after: Duration::from_millis((cooldown - since).max(0) as u64),
            });
        }
    }
    let conn = tx.conn;
    conn.execute("DELETE FROM messages WHERE queue = ?1", [q.id])
        .map_err(sql)?;
    conn.execute(
        "UPDATE queues SET last_purge_ms = ?2 WHERE id = ?1",
        params![q.id, now],
    )
    .map_err(sql)?;
    // Every message is gone: the counters go to zero at the commit.
    let current = tx.counts(&q);
    tx.count(
        q.id,
        Counts {
            visible: -current.visible,
            in_flight: -current.in_flight,
            delayed: -current.delayed,
        },
    );
    tx.forget_queues();
    Ok(())
}

/// Counts by state as of `now`, from the queue's counters corrected by the
/// transitions due since the last write (found by index, not by scanning).
pub(crate) fn stats(conn: &Connection, name: &str, now: i64) -> Result<QueueStats> {
    let q = read_existing(conn, name)?;
    let cutoff = now - ms(q.attrs.message_retention_period);
    let count = |sql_text: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64> {
        conn.prepare_cached(sql_text)
            .and_then(|mut s| s.query_row(p, |r| r.get(0)))
            .map_err(sql)
    };
    let due = "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND state = ?2 AND visible_at <= ?3";
    let due_delayed = count(due, &[&q.id, &DELAYED, &now])?;
    let due_in_flight = count(due, &[&q.id, &IN_FLIGHT, &now])?;
    let mut counts = Counts {
        visible: q.stored.visible + due_delayed + due_in_flight,
        in_flight: q.stored.in_flight - due_in_flight,
        delayed: q.stored.delayed - due_delayed,
    };
    // Messages past retention are gone as far as callers can tell.
    let mut expired = conn
        .prepare_cached("SELECT state, visible_at FROM messages WHERE queue = ?1 AND sent_ms <= ?2")
        .map_err(sql)?;
    let rows = expired
        .query_map(params![q.id, cutoff], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(sql)?;
    for row in rows {
        let (state, visible_at) = row.map_err(sql)?;
        let effective = if state != VISIBLE && visible_at <= now {
            VISIBLE
        } else {
            state
        };
        counts.add(effective, -1);
    }
    let oldest: Option<i64> = conn
        .prepare_cached(
            "SELECT sent_ms FROM messages WHERE queue = ?1 AND sent_ms > ?2 ORDER BY sent_ms LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![q.id, cutoff], |r| r.get(0)).optional())
        .map_err(sql)?;
    let n = |v: i64| v.max(0) as u64;
    Ok(QueueStats {
        visible: n(counts.visible),
        in_flight: n(counts.in_flight),
        delayed: n(counts.delayed),
        oldest_message_age: oldest.map(|sent| Duration::from_millis(n(now - sent))),
    })
}

/// Up to `limit + 1` messages with row ids from `first` on, in row-id order (the
/// order they arrived in this queue), with their state as of `now`; for a
/// browse, which changes nothing. `NOT INDEXED` walks the rowid range (no
/// index orders one queue's rows by id, and adding one would tax every send).
pub(crate) fn browse(
    conn: &Connection,
    name: &str,
    first: u64,
    limit: u32,
    now: i64,
) -> Result<Vec<(u64, MessageState, Delivered)>> {
    let q = read_existing(conn, name)?;
    let cutoff = now - ms(q.attrs.message_retention_period);
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT id, state, visible_at, ",
            delivered_columns!(),
            " FROM messages INDEXED BY messages_queue
             WHERE queue = ?1 AND id >= ?2 AND sent_ms > ?3 ORDER BY id LIMIT ?4"
        ))
        .map_err(sql)?;
    let first = i64::try_from(first).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![q.id, first, cutoff, i64::from(limit) + 1], |r| {
            let key: i64 = r.get(0)?;
            let stored: i64 = r.get(1)?;
            let visible_at: i64 = r.get(2)?;
            let state = match stored {
                _ if visible_at <= now => MessageState::Visible,
                IN_FLIGHT => MessageState::InFlight,
                DELAYED => MessageState::Delayed,
                _ => MessageState::Visible,
            };
            let handle = ReceiptHandle {
                queue: q.id as u64,
                key: key as u64,
                nonce: 0,
            };
            Ok((key as u64, state, delivered_at(r, 3, handle)?))
        })
        .map_err(sql)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
}

/// What a move from a dead-letter queue did, and which queues received messages.
pub(crate) struct Moved {
    pub(crate) result: MoveResult,
    pub(crate) destinations: Vec<String>,
}

/// Moves the messages not in flight in `dead_letter_queue` to `destination`,
/// or each back to the queue it was dead-lettered from; each starts afresh.
pub(crate) fn move_messages(
    tx: &mut Tx<'_>,
    dead_letter_queue: &str,
    destination: Option<&str>,
    now: i64,
) -> Result<Moved> {
    let dlq = queue(tx, dead_letter_queue)?;
    let fixed = destination.map(|d| queue(tx, d)).transpose()?;
    if fixed
        .as_ref()
        .is_some_and(|d| d.attrs.fifo != dlq.attrs.fifo)
    {
        return Err(QueueError::invalid(
            "DestinationArn",
            "messages move only between queues of the same type (standard or FIFO)",
        ));
    }
    tick(tx, &dlq, now)?;
    let conn = tx.conn;
    let rows: Vec<(i64, i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, state, dlq_source FROM messages WHERE queue = ?1 AND state != 2
             ORDER BY sent_ms, sequence, id",
        )
        .and_then(|mut s| {
            s.query_map([dlq.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(sql)?;
    let mut targets: std::collections::BTreeMap<String, (QueueRow, Counts)> = Default::default();
    if let (Some(d), Some(name)) = (&fixed, destination) {
        targets.insert(
            queue_name_from_arn(name).to_owned(),
            (d.clone(), Counts::default()),
        );
    }
    let mut out = Moved {
        result: MoveResult::default(),
        destinations: Vec::new(),
    };
    let mut taken = Counts::default();
    for (id, state, source) in rows {
        let target = match destination {
            Some(name) => Some(queue_name_from_arn(name).to_owned()),
            None => source
                .as_deref()
                .map(|arn| queue_name_from_arn(arn).to_owned()),
        };
        let Some(target) = target else {
            out.result.failed += 1;
            continue;
        };
        if !targets.contains_key(&target) {
            match find_queue(tx, &target)? {
                Some(row) => {
                    targets.insert(target.clone(), (row, Counts::default()));
                }
                None => {
                    out.result.failed += 1;
                    continue;
                }
            }
        }
        let Some((row, counts)) = targets.get_mut(&target) else {
            continue;
        };
        let sequence: Option<i64> = if row.attrs.fifo {
            conn.prepare_cached(
                "UPDATE queues SET next_sequence = next_sequence + 1 WHERE id = ?1
                 RETURNING next_sequence - 1",
            )
            .and_then(|mut s| s.query_row([row.id], |r| r.get(0)))
            .map_err(sql)?
        } else {
            None
        };
        conn.prepare_cached(
            "UPDATE messages SET queue = ?2, state = 0, visible_at = ?3, sent_ms = ?3, nonce = NULL,
             receive_count = 0, first_receive_ms = 0, dlq_source = NULL,
             sequence = COALESCE(?4, sequence) WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![id, row.id, now, sequence]))
        .map_err(sql)?;
        taken.add(state, -1);
        counts.add(VISIBLE, 1);
        out.result.moved += 1;
    }
    tx.count(dlq.id, taken);
    for (name, (row, counts)) in targets {
        if counts != Counts::default() {
            tx.count(row.id, counts);
            out.destinations.push(name);
        }
    }
    Ok(out)
}
