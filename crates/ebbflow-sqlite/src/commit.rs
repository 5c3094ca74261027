//! Group commit: one writer connection, and the writes of concurrent callers
//! committed together, so that a burst of sends pays one fsync, not one each.
//!
//! A caller queues its job and takes the writer's lock. If the holder before
//! it already ran the job, the caller just collects its result; otherwise it
//! becomes the leader: it takes every queued job, runs each inside its own
//! savepoint (a failing job rolls back alone), commits once, and hands out the
//! results. Nobody gets a result before the commit that made it durable.
//! Callers block, so they run on tokio's blocking pool (`spawn_blocking`).

use crate::error::{backend_error, sql};
use ebbflow_core::{QueueError, Result};
use parking_lot::Mutex;
use rusqlite::Connection;
use std::any::Any;
use std::sync::Arc;

type Output = Box<dyn Any + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Result<Output> + Send>;

/// Where a job's result waits for its caller.
type Slot = Arc<Mutex<Option<Result<Output>>>>;

/// The single writer of a database.
pub(crate) struct Writer {
    conn: Mutex<Connection>,
    queued: Mutex<Vec<(Job, Slot)>>,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Self {
        Self {
            conn: Mutex::new(conn),
            queued: Mutex::new(Vec::new()),
        }
    }

    /// Runs `job` in a write transaction, committed (with others queued
    /// meanwhile) before this returns.
    pub(crate) fn execute<R, F>(&self, job: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let slot: Slot = Arc::new(Mutex::new(None));
        let boxed: Job = Box::new(move |conn| job(conn).map(|r| Box::new(r) as Output));
        self.queued.lock().push((boxed, slot.clone()));
        let conn = self.conn.lock();
        if slot.lock().is_none() {
            let jobs = std::mem::take(&mut *self.queued.lock());
            run_group(&conn, jobs);
        }
        drop(conn);
        let output = slot
            .lock()
            .take()
            .unwrap_or_else(|| Err(backend_error("a write was lost by the group commit")))?;
        output
            .downcast::<R>()
            .map(|r| *r)
            .map_err(|_| backend_error("a write's result had the wrong type"))
    }
}

/// Runs `jobs` in one transaction and fills their slots after the commit.
fn run_group(conn: &Connection, jobs: Vec<(Job, Slot)>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = sql(e);
        for (_, slot) in jobs {
            *slot.lock() = Some(Err(e.clone()));
        }
        return;
    }
    let mut done = Vec::with_capacity(jobs.len());
    for (job, slot) in jobs {
        done.push((run_one(conn, job), slot));
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // Nothing of this group is durable: every caller hears so.
        let _ = conn.execute_batch("ROLLBACK");
        let e: QueueError = sql(e);
        for (_, slot) in done {
            *slot.lock() = Some(Err(e.clone()));
        }
        return;
    }
    for (result, slot) in done {
        *slot.lock() = Some(result);
    }
}

/// Runs one job inside a savepoint, so that its failure undoes only its own writes.
fn run_one(conn: &Connection, job: Job) -> Result<Output> {
    conn.execute_batch("SAVEPOINT job").map_err(sql)?;
    let result = job(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end).map_err(sql)?;
    result
}
