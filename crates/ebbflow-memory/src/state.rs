//! One queue's messages and the state machine SQS defines over them.
//!
//! Everything here is synchronous and runs under the queue's mutex; the async
//! parts (long polling, dead-letter hand-off between queues) live in `backend.rs`.
//!
//! Time-driven transitions (a delay ending, a visibility timeout running out,
//! retention expiring) are applied lazily by [`QueueState::tick`] at the start of
//! every operation, from ordered indexes, so no operation scans all messages and
//! the counters behind `stats` are always exact.

use crate::backend::HANDLE_PREFIX;
use crate::slots::Slots;
use ebbflow_core::local::ReceiptHandle;
use ebbflow_core::{
    content_deduplication_id, limits, BrowsedMessage, MessageAttributes, MessageState,
    QueueAttributes, QueueError, ReceivedMessage, Result, SendMessage, SendReceipt,
    SystemAttributes,
};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Delayed,
    Visible,
    InFlight,
}

/// One stored message.
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub(crate) id: String,
    pub(crate) body: String,
    pub(crate) md5: String,
    pub(crate) attributes: MessageAttributes,
    pub(crate) sent_at: Instant,
    pub(crate) sent_ms: u64,
    pub(crate) group: Option<Arc<str>>,
    pub(crate) dedup_id: Option<String>,
    pub(crate) receive_count: u32,
    pub(crate) first_receive_ms: u64,
    pub(crate) dlq_source_arn: Option<String>,
    pub(crate) trace_header: Option<String>,
    sequence_number: Option<String>,
    phase: Phase,
    /// Bumped at every phase change, so that stale entries of the ready list are skipped.
    epoch: u32,
    /// When a delayed or in-flight message becomes visible.
    visible_at: Instant,
    /// The nonce of the latest receipt handle.
    nonce: u64,
    /// When the latest receive happened (for the 12-hour cap).
    received_at: Instant,
}

impl StoredMessage {
    /// A message being sent now, not yet placed in any queue. `md5` is the
    /// body's digest, computed by the caller before it takes the queue's lock.
    pub(crate) fn new(
        msg: SendMessage,
        id: String,
        md5: String,
        now: Instant,
        now_ms: u64,
    ) -> Self {
        Self {
            id,
            md5,
            body: msg.body,
            attributes: msg.attributes,
            sent_at: now,
            sent_ms: now_ms,
            group: msg.group_id.map(Arc::from),
            dedup_id: msg.deduplication_id,
            receive_count: 0,
            first_receive_ms: 0,
            dlq_source_arn: None,
            trace_header: msg.trace_header,
            sequence_number: None,
            phase: Phase::Visible,
            epoch: 0,
            visible_at: now,
            nonce: NO_HANDLE,
            received_at: now,
        }
    }
}

#[derive(Debug, Default)]
struct Group {
    /// Sequence keys in send order; only the head may be delivered.
    order: VecDeque<u64>,
    in_flight: u32,
    /// Whether the group is on the ready list.
    listed: bool,
}

#[derive(Debug)]
struct Attempt {
    expires: Instant,
    entries: Vec<(u64, u64)>,
}

/// What a receive took out of the queue besides the messages it returns.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) messages: Vec<ReceivedMessage>,
    /// Messages past `max_receive_count`, removed from this queue, bound for its DLQ.
    pub(crate) dead_letters: Vec<StoredMessage>,
}

/// A queue's state. Counters are exact at all times after a [`QueueState::tick`].
#[derive(Debug)]
pub(crate) struct QueueState {
    pub(crate) attrs: QueueAttributes,
    uid: u64,
    /// By internal key, which increases with each message placed here.
    messages: Slots<StoredMessage>,
    /// Standard queues: visible messages in the order they became visible (lazy deletion by epoch).
    ready: VecDeque<(u64, u32)>,
    /// FIFO queues: groups by id, and the groups whose head can be delivered.
    groups: HashMap<Arc<str>, Group>,
    ready_groups: VecDeque<Arc<str>>,
    /// Delayed and in-flight messages by the time they become visible.
    timers: BTreeSet<(Instant, u64)>,
    /// Every message by send time: retention and the oldest message's age.
    by_age: BTreeSet<(Instant, u64)>,
    visible: u64,
    in_flight: u64,
    delayed: u64,
    next_key: u64,
    next_nonce: u64,
    next_sequence: u128,
    dedup: HashMap<String, (Instant, SendReceipt)>,
    dedup_expiry: VecDeque<(Instant, String)>,
    attempts: HashMap<String, Attempt>,
    attempt_expiry: VecDeque<(Instant, String)>,
    last_purge: Option<Instant>,
}

/// The nonce of a message no receive has handed out yet.
const NO_HANDLE: u64 = u64::MAX;

/// The first FIFO sequence number; SQS's are 20-digit decimals.
const FIRST_SEQUENCE: u128 = 10_000_000_000_000_000_000;

impl QueueState {
    pub(crate) fn new(attrs: QueueAttributes, uid: u64) -> Self {
        Self {
            attrs,
            uid,
            messages: Slots::default(),
            ready: VecDeque::new(),
            groups: HashMap::new(),
            ready_groups: VecDeque::new(),
            timers: BTreeSet::new(),
            by_age: BTreeSet::new(),
            visible: 0,
            in_flight: 0,
            delayed: 0,
            next_key: 0,
            next_nonce: 0,
            next_sequence: FIRST_SEQUENCE,
            dedup: HashMap::new(),
            dedup_expiry: VecDeque::new(),
            attempts: HashMap::new(),
            attempt_expiry: VecDeque::new(),
            last_purge: None,
        }
    }

    /// Applies every transition due by `now`: retention expiry, delays and
    /// visibility timeouts ending, FIFO windows closing.
    pub(crate) fn tick(&mut self, now: Instant) {
        let retention = self.attrs.message_retention_period;
        while let Some(&(sent_at, key)) = self.by_age.first() {
            if sent_at + retention > now {
                break;
            }
            self.remove(key);
        }
        while let Some(&(at, key)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.make_visible(key);
        }
        while self.dedup_expiry.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, id)) = self.dedup_expiry.pop_front() {
                if self.dedup.get(&id).is_some_and(|(at, _)| *at <= now) {
                    self.dedup.remove(&id);
                }
            }
        }
        while self
            .attempt_expiry
            .front()
            .is_some_and(|(at, _)| *at <= now)
        {
            if let Some((_, id)) = self.attempt_expiry.pop_front() {
                if self.attempts.get(&id).is_some_and(|a| a.expires <= now) {
                    self.attempts.remove(&id);
                }
            }
        }
    }

    /// When the next delayed or in-flight message becomes visible.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    pub(crate) fn stats(&self, now: Instant) -> ebbflow_core::QueueStats {
        ebbflow_core::QueueStats {
            visible: self.visible,
            in_flight: self.in_flight,
            delayed: self.delayed,
            oldest_message_age: self
                .by_age
                .first()
                .map(|(sent_at, _)| now.saturating_duration_since(*sent_at)),
        }
    }

    fn counter(&mut self, phase: Phase) -> &mut u64 {
        match phase {
            Phase::Delayed => &mut self.delayed,
            Phase::Visible => &mut self.visible,
            Phase::InFlight => &mut self.in_flight,
        }
    }

    fn set_phase(&mut self, key: u64, phase: Phase) {
        let Some(m) = self.messages.get_mut(key) else {
            return;
        };
        let old = m.phase;
        m.phase = phase;
        m.epoch = m.epoch.wrapping_add(1);
        let epoch = m.epoch;
        let group = m.group.clone();
        *self.counter(old) -= 1;
        *self.counter(phase) += 1;
        match group {
            Some(g) if self.attrs.fifo => {
                if let Some(state) = self.groups.get_mut(&g) {
                    if old == Phase::InFlight {
                        state.in_flight -= 1;
                    }
                    if phase == Phase::InFlight {
                        state.in_flight += 1;
                    }
                }
                self.list_group_if_ready(&g);
            }
            _ if phase == Phase::Visible => self.ready.push_back((key, epoch)),
            _ => {}
        }
    }

    fn make_visible(&mut self, key: u64) {
        if self
            .messages
            .get(key)
            .is_some_and(|m| m.phase != Phase::Visible)
        {
            self.set_phase(key, Phase::Visible);
        }
    }

    fn list_group_if_ready(&mut self, group: &Arc<str>) {
        let Some(state) = self.groups.get(group) else {
            return;
        };
        let head_visible = state
            .order
            .front()
            .and_then(|k| self.messages.get(*k))
            .is_some_and(|m| m.phase == Phase::Visible);
        if !state.listed && state.in_flight == 0 && head_visible {
            if let Some(state) = self.groups.get_mut(group) {
                state.listed = true;
            }
            self.ready_groups.push_back(group.clone());
        }
    }

    /// Removes a message wherever it is, keeping every index and counter exact.
    pub(crate) fn remove(&mut self, key: u64) -> Option<StoredMessage> {
        let m = self.messages.remove(key)?;
        *self.counter(m.phase) -= 1;
        self.by_age.remove(&(m.sent_at, key));
        if m.phase != Phase::Visible {
            self.timers.remove(&(m.visible_at, key));
        }
        if let Some(g) = &m.group {
            if let Some(state) = self.groups.get_mut(g) {
                if let Some(pos) = state.order.iter().position(|k| *k == key) {
                    state.order.remove(pos);
                }
                if m.phase == Phase::InFlight {
                    state.in_flight -= 1;
                }
                if state.order.is_empty() {
                    self.groups.remove(g);
                } else {
                    self.list_group_if_ready(g);
                }
            }
        }
        Some(m)
    }

    /// Inserts a message that has passed validation. Returns the receipt of the
    /// send; a FIFO duplicate within the window returns the original's receipt
    /// and stores nothing.
    pub(crate) fn insert(
        &mut self,
        mut m: StoredMessage,
        delay: Option<Duration>,
        now: Instant,
        deduplicate: bool,
    ) -> SendReceipt {
        if self.attrs.fifo && deduplicate {
            let dedup_id = m
                .dedup_id
                .get_or_insert_with(|| content_deduplication_id(&m.body))
                .clone();
            if let Some((_, receipt)) = self.dedup.get(&dedup_id) {
                return receipt.clone();
            }
            let receipt = self.place(m, delay, now);
            let expires = now + limits::DEDUPLICATION_WINDOW;
            self.dedup
                .insert(dedup_id.clone(), (expires, receipt.clone()));
            self.dedup_expiry.push_back((expires, dedup_id));
            return receipt;
        }
        self.place(m, delay, now)
    }

    fn place(
        &mut self,
        mut m: StoredMessage,
        delay: Option<Duration>,
        now: Instant,
    ) -> SendReceipt {
        let key = self.next_key;
        self.next_key += 1;
        if self.attrs.fifo {
            m.sequence_number = Some(format!("{:020}", self.next_sequence));
            self.next_sequence += 1;
        }
        let delay = delay.unwrap_or(self.attrs.delay);
        m.phase = if delay.is_zero() {
            Phase::Visible
        } else {
            Phase::Delayed
        };
        m.visible_at = now + delay;
        m.epoch = 0;
        // Handles issued by another queue (before a dead-letter move) name nothing here.
        m.nonce = NO_HANDLE;
        let receipt = SendReceipt {
            message_id: m.id.clone(),
            md5_of_body: m.md5.clone(),
            sequence_number: m.sequence_number.clone(),
        };
        *self.counter(m.phase) += 1;
        self.by_age.insert((m.sent_at, key));
        match m.phase {
            Phase::Delayed => {
                self.timers.insert((m.visible_at, key));
            }
            _ if !self.attrs.fifo => self.ready.push_back((key, 0)),
            _ => {}
        }
        let group = m.group.clone();
        self.messages.insert(key, m);
        if let (true, Some(g)) = (self.attrs.fifo, group) {
            self.groups
                .entry(g.clone())
                .or_default()
                .order
                .push_back(key);
            self.list_group_if_ready(&g);
        }
        receipt
    }

    /// Whether the queue can take `wanted` more messages in flight, and how many.
    fn in_flight_room(&self, wanted: u32) -> Result<usize> {
        let room = limits::MAX_IN_FLIGHT.saturating_sub(self.in_flight);
        if room == 0 && self.visible > 0 {
            return Err(QueueError::OverLimit(format!(
                "{} messages are in flight, the most a queue allows",
                limits::MAX_IN_FLIGHT
            )));
        }
        Ok(room.min(u64::from(wanted)) as usize)
    }

    /// Receives up to `max` visible messages. Messages already received
    /// `max_receive_count` times are taken out for the dead-letter queue instead
    /// when `dead_letter` is true.
    pub(crate) fn receive(
        &mut self,
        max: u32,
        visibility: Duration,
        now: Instant,
        now_ms: u64,
        dead_letter: bool,
    ) -> Result<Taken> {
        let max = self.in_flight_room(max)?;
        let dlq_after = self
            .attrs
            .redrive_policy
            .as_ref()
            .filter(|_| dead_letter)
            .map(|p| p.max_receive_count);
        let mut taken = Taken::default();
        let mut keys = Vec::with_capacity(max);
        if self.attrs.fifo {
            while keys.len() < max {
                let Some(g) = self.ready_groups.pop_front() else {
                    break;
                };
                let Some(state) = self.groups.get_mut(&g) else {
                    continue;
                };
                state.listed = false;
                if state.in_flight > 0 {
                    continue;
                }
                let mut idx = 0;
                while keys.len() < max {
                    let Some(key) = self.groups.get(&g).and_then(|s| s.order.get(idx).copied())
                    else {
                        break;
                    };
                    let Some(m) = self.messages.get(key) else {
                        break;
                    };
                    if m.phase != Phase::Visible {
                        break;
                    }
                    if dlq_after.is_some_and(|n| m.receive_count >= n) {
                        if let Some(m) = self.remove(key) {
                            taken.dead_letters.push(m);
                        }
                        continue;
                    }
                    if let Some(state) = self.groups.get_mut(&g) {
                        state.in_flight += 1;
                    }
                    keys.push(key);
                    idx += 1;
                }
                // Every message taken out for the DLQ may have left a deliverable head.
                self.list_group_if_ready(&g);
            }
        } else {
            while keys.len() < max {
                let Some((key, epoch)) = self.ready.pop_front() else {
                    break;
                };
                let Some(m) = self.messages.get(key) else {
                    continue;
                };
                if m.epoch != epoch || m.phase != Phase::Visible {
                    continue;
                }
                if dlq_after.is_some_and(|n| m.receive_count >= n) {
                    if let Some(m) = self.remove(key) {
                        taken.dead_letters.push(m);
                    }
                    continue;
                }
                keys.push(key);
            }
        }
        taken.messages = keys
            .into_iter()
            .filter_map(|key| self.deliver(key, visibility, now, now_ms))
            .collect();
        Ok(taken)
    }

    /// Puts a visible message in flight and builds what the consumer sees.
    fn deliver(
        &mut self,
        key: u64,
        visibility: Duration,
        now: Instant,
        now_ms: u64,
    ) -> Option<ReceivedMessage> {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        let uid = self.uid;
        let m = self.messages.get_mut(key)?;
        m.phase = Phase::InFlight;
        m.epoch = m.epoch.wrapping_add(1);
        m.receive_count += 1;
        if m.first_receive_ms == 0 {
            m.first_receive_ms = now_ms;
        }
        m.nonce = nonce;
        m.received_at = now;
        m.visible_at = now + visibility;
        let visible_at = m.visible_at;
        let received = received_message(
            m,
            ReceiptHandle {
                queue: uid,
                key,
                nonce,
            },
        );
        // A FIFO group's in-flight count is raised by the caller, which walks the group.
        self.visible -= 1;
        self.in_flight += 1;
        self.timers.insert((visible_at, key));
        Some(received)
    }

    /// Finds the message a current receipt handle names.
    fn current(&self, handle: &ReceiptHandle) -> Result<Option<u64>> {
        if handle.queue != self.uid {
            return Err(QueueError::ReceiptHandleIsInvalid(
                "the handle belongs to another queue".into(),
            ));
        }
        Ok(self
            .messages
            .get(handle.key)
            .filter(|m| m.nonce == handle.nonce && m.nonce != NO_HANDLE)
            .map(|_| handle.key))
    }

    /// Deletes by receipt handle. A handle whose message is gone, or that a later
    /// receive replaced, deletes nothing and succeeds, as in SQS.
    pub(crate) fn delete(&mut self, handle: &ReceiptHandle) -> Result<()> {
        if let Some(key) = self.current(handle)? {
            self.remove(key);
        }
        Ok(())
    }

    /// Removes the message at `key` if it is `message_id`, in any phase.
    pub(crate) fn delete_at(&mut self, key: u64, message_id: &str) -> bool {
        let found = self.messages.get(key).is_some_and(|m| m.id == message_id);
        if found {
            self.remove(key);
        }
        found
    }

    /// Changes the visibility of an in-flight message, counting from now;
    /// with `undo_receive`, its receive is not counted either.
    pub(crate) fn change_visibility(
        &mut self,
        handle: &ReceiptHandle,
        timeout: Duration,
        now: Instant,
        undo_receive: bool,
    ) -> Result<()> {
        let stale = || {
            QueueError::ReceiptHandleIsInvalid(
                "the message was deleted or received again since this handle was issued".into(),
            )
        };
        let key = self.current(handle)?.ok_or_else(stale)?;
        let m = self.messages.get_mut(key).ok_or_else(stale)?;
        if m.phase != Phase::InFlight {
            return Err(QueueError::MessageNotInflight);
        }
        limits::validate_visibility_extension(
            now.saturating_duration_since(m.received_at),
            timeout,
        )?;
        if undo_receive {
            m.receive_count = m.receive_count.saturating_sub(1);
        }
        self.timers.remove(&(m.visible_at, key));
        m.visible_at = now + timeout;
        self.timers.insert((m.visible_at, key));
        self.tick(now);
        Ok(())
    }

    /// Replays a FIFO receive attempt still within its 5-minute window: the
    /// messages it returned that are still in flight under the same handle, with
    /// their visibility timeout restarted. `None` when there is nothing to replay.
    pub(crate) fn replay_attempt(
        &mut self,
        attempt_id: &str,
        visibility: Duration,
        now: Instant,
    ) -> Option<Vec<ReceivedMessage>> {
        let entries = self.attempts.get(attempt_id)?.entries.clone();
        let mut out = Vec::new();
        for (key, nonce) in entries {
            let Some(m) = self.messages.get_mut(key) else {
                continue;
            };
            if m.nonce != nonce || m.phase != Phase::InFlight {
                continue;
            }
            self.timers.remove(&(m.visible_at, key));
            m.visible_at = now + visibility;
            self.timers.insert((m.visible_at, key));
            out.push(received_message(
                m,
                ReceiptHandle {
                    queue: self.uid,
                    key,
                    nonce,
                },
            ));
        }
        (!out.is_empty()).then_some(out)
    }

    /// Remembers which messages a FIFO receive attempt returned.
    pub(crate) fn record_attempt(
        &mut self,
        attempt_id: &str,
        messages: &[ReceivedMessage],
        now: Instant,
    ) {
        let entries = messages
            .iter()
            .filter_map(|m| ReceiptHandle::parse(HANDLE_PREFIX, &m.receipt_handle).ok())
            .map(|h| (h.key, h.nonce))
            .collect();
        let expires = now + limits::DEDUPLICATION_WINDOW;
        self.attempts
            .insert(attempt_id.to_owned(), Attempt { expires, entries });
        self.attempt_expiry
            .push_back((expires, attempt_id.to_owned()));
    }

    /// Removes every message; at most once per 60 s.
    pub(crate) fn purge(&mut self, queue: &str, now: Instant) -> Result<()> {
        if let Some(last) = self.last_purge {
            let since = now.saturating_duration_since(last);
            if since < limits::PURGE_COOLDOWN {
                return Err(QueueError::PurgeQueueInProgress {
                    queue: queue.to_owned(),
                    retry_after: limits::PURGE_COOLDOWN - since,
                });
            }
        }
        self.last_purge = Some(now);
        self.messages.clear();
        self.ready.clear();
        self.groups.clear();
        self.ready_groups.clear();
        self.timers.clear();
        self.by_age.clear();
        self.visible = 0;
        self.in_flight = 0;
        self.delayed = 0;
        Ok(())
    }

    /// Takes out every message not in flight, for a move to other queues.
    pub(crate) fn drain_available(&mut self) -> Vec<StoredMessage> {
        let keys: Vec<u64> = self
            .messages
            .iter_from(0)
            .filter(|(_, m)| m.phase != Phase::InFlight)
            .map(|(k, _)| k)
            .collect();
        let mut out: Vec<StoredMessage> = keys.into_iter().filter_map(|k| self.remove(k)).collect();
        out.sort_by_key(|m| (m.sent_at, m.sequence_number.clone()));
        out
    }
}

impl QueueState {
    /// Up to `limit + 1` messages with keys from `first` on, in key order (the
    /// order they arrived in this queue), as a browse shows them.
    pub(crate) fn browse(&self, first: u64, limit: u32) -> Vec<(u64, BrowsedMessage)> {
        self.messages
            .iter_from(first)
            .take(limit as usize + 1)
            .map(|(key, m)| (key, browsed(m)))
            .collect()
    }
}

fn browsed(m: &StoredMessage) -> BrowsedMessage {
    BrowsedMessage {
        message_id: m.id.clone(),
        body: m.body.clone(),
        md5_of_body: m.md5.clone(),
        attributes: m.attributes.clone(),
        system: system_attributes(m),
        state: match m.phase {
            Phase::Visible => MessageState::Visible,
            Phase::InFlight => MessageState::InFlight,
            Phase::Delayed => MessageState::Delayed,
        },
        position: None,
    }
}

fn received_message(m: &StoredMessage, handle: ReceiptHandle) -> ReceivedMessage {
    ReceivedMessage {
        message_id: m.id.clone(),
        receipt_handle: handle.encode(HANDLE_PREFIX),
        body: m.body.clone(),
        md5_of_body: m.md5.clone(),
        attributes: m.attributes.clone(),
        system: system_attributes(m),
    }
}

fn system_attributes(m: &StoredMessage) -> SystemAttributes {
    SystemAttributes {
        sent_timestamp: m.sent_ms,
        approximate_receive_count: m.receive_count,
        approximate_first_receive_timestamp: m.first_receive_ms,
        sequence_number: m.sequence_number.clone(),
        message_group_id: m.group.as_deref().map(str::to_owned),
        message_deduplication_id: m.dedup_id.clone(),
        dead_letter_queue_source_arn: m.dlq_source_arn.clone(),
        aws_trace_header: m.trace_header.clone(),
    }
}
