//! The context a write runs in: the group's transaction, plus what the
//! group's writes share so that each pays for it once.
//!
//! - Queue rows (id, attributes) are read once per group, not once per write.
//! - Counter changes accumulate and are written once, just before the commit.
//! - A queue's time-driven transitions (`store::tick`) run once per instant.
//!
//! A write that fails rolls back its savepoint; [`Tx::undo`] then forgets what
//! it added here, so nothing of it reaches the commit.

use crate::error::sql;
use ebbflow_core::{QueueAttributes, Result};
use rusqlite::{params, Connection};
use std::collections::HashMap;

pub(crate) const VISIBLE: i64 = 0;
pub(crate) const DELAYED: i64 = 1;
pub(crate) const IN_FLIGHT: i64 = 2;

/// Messages of a queue by state, or changes to those numbers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) visible: i64,
    pub(crate) in_flight: i64,
    pub(crate) delayed: i64,
}

impl Counts {
    pub(crate) fn add(&mut self, state: i64, n: i64) {
        match state {
            VISIBLE => self.visible += n,
            IN_FLIGHT => self.in_flight += n,
            _ => self.delayed += n,
        }
    }

    fn plus(self, other: Counts) -> Counts {
        Counts {
            visible: self.visible + other.visible,
            in_flight: self.in_flight + other.in_flight,
            delayed: self.delayed + other.delayed,
        }
    }
}

/// What the group knows of one queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) attrs: QueueAttributes,
    /// Counters as committed before this group.
    pub(crate) stored: Counts,
    pub(crate) last_purge_ms: Option<i64>,
}

/// What one write may roll back.
#[derive(Clone, Default)]
pub(crate) struct Mark {
    pending: HashMap<i64, Counts>,
}

/// A group's write transaction.
pub(crate) struct Tx<'c> {
    pub(crate) conn: &'c Connection,
    queues: HashMap<String, QueueRow>,
    pending: HashMap<i64, Counts>,
    ticked: HashMap<i64, i64>,
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            queues: HashMap::new(),
            pending: HashMap::new(),
            ticked: HashMap::new(),
        }
    }

    /// The cached row of `name`, if read this group.
    pub(crate) fn cached(&self, name: &str) -> Option<&QueueRow> {
        self.queues.get(name)
    }

    pub(crate) fn cache(&mut self, row: QueueRow) {
        self.queues.insert(row.name.clone(), row);
    }

    /// Forgets cached queue rows: after a write that creates, deletes or changes queues.
    pub(crate) fn forget_queues(&mut self) {
        self.queues.clear();
        self.ticked.clear();
    }

    /// A queue's counters as of now: committed plus this group's changes.
    pub(crate) fn counts(&self, q: &QueueRow) -> Counts {
        q.stored
            .plus(self.pending.get(&q.id).copied().unwrap_or_default())
    }

    /// Records counter changes, written at the commit.
    pub(crate) fn count(&mut self, queue: i64, change: Counts) {
        let entry = self.pending.entry(queue).or_default();
        *entry = entry.plus(change);
    }

    /// Whether `queue` still needs its transitions applied for `now`; records that it has.
    pub(crate) fn needs_tick(&mut self, queue: i64, now: i64) -> bool {
        match self.ticked.get(&queue) {
            Some(&at) if at >= now => false,
            _ => {
                self.ticked.insert(queue, now);
                true
            }
        }
    }

    /// Where a write starts.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            pending: self.pending.clone(),
        }
    }

    /// Forgets what a failed write added since `mark`.
    pub(crate) fn undo(&mut self, mark: Mark) {
        self.pending = mark.pending;
        self.forget_queues();
    }

    /// Writes the group's counter changes; called once, before the commit.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE queues SET visible = visible + ?2, in_flight = in_flight + ?3,
                 delayed = delayed + ?4 WHERE id = ?1",
            )
            .map_err(sql)?;
        for (queue, c) in self.pending.drain() {
            if c != Counts::default() {
                stmt.execute(params![queue, c.visible, c.in_flight, c.delayed])
                    .map_err(sql)?;
            }
        }
        Ok(())
    }
}
