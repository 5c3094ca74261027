//! Group commit: one writer connection, and the writes of concurrent callers
//! committed together, so that a burst of sends pays one fsync, not one each.
//!
//! The writer is a thread of its own that owns the connection. Callers queue
//! jobs on its channel; each time round, it takes every job queued, runs each
//! inside its own savepoint (a failing job rolls back alone), commits once,
//! and only then answers each caller on a oneshot channel, so nobody hears of
//! a write before the commit that made it durable. Under load the thread
//! never sleeps and async callers never leave their tokio worker.

use crate::error::{backend_error, sql};
use crate::tx::Tx;
use ebbflow_core::{QueueError, Result};
use rusqlite::Connection;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use tokio::sync::oneshot;

type Output = Box<dyn Any + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> Result<Output> + Send>;
type Reply = oneshot::Sender<Result<Output>>;

/// The single writer of a database. Dropping it ends its thread once the
/// jobs already queued are committed.
pub(crate) struct Writer {
    jobs: mpsc::Sender<(Job, Reply)>,
    /// Wait for answers on tokio's blocking pool (see `SqliteOptions::paused_clock`).
    wait_blocking: bool,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(crate) fn start(conn: Connection, wait_blocking: bool) -> std::io::Result<Self> {
        let (jobs, queued) = mpsc::channel::<(Job, Reply)>();
        std::thread::Builder::new()
            .name("ebbflow-sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = queued.recv() {
                    let group: Vec<(Job, Reply)> =
                        std::iter::once(first).chain(queued.try_iter()).collect();
                    run_group(&conn, group);
                }
            })?;
        Ok(Self {
            jobs,
            wait_blocking,
        })
    }

    /// Runs `job` in a write transaction, committed (with others queued
    /// meanwhile) before this returns.
    pub(crate) async fn execute<R, F>(&self, job: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let boxed: Job = Box::new(move |tx| job(tx).map(|r| Box::new(r) as Output));
        self.jobs
            .send((boxed, reply))
            .map_err(|_| backend_error("the database writer has stopped"))?;
        let output = if self.wait_blocking {
            tokio::task::spawn_blocking(move || answer.blocking_recv())
                .await
                .map_err(backend_error)?
        } else {
            answer.await
        };
        output
            .map_err(|_| backend_error("the database writer stopped before answering"))??
            .downcast::<R>()
            .map(|r| *r)
            .map_err(|_| backend_error("a write's result had the wrong type"))
    }
}

/// Runs `jobs` in one transaction and fills their slots after the commit.
fn run_group(conn: &Connection, jobs: Vec<(Job, Reply)>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = sql(e);
        for (_, reply) in jobs {
            let _ = reply.send(Err(e.clone()));
        }
        return;
    }
    let mut tx = Tx::new(conn);
    let mut done = Vec::with_capacity(jobs.len());
    for (job, reply) in jobs {
        done.push((run_one(&mut tx, job), reply));
    }
    let committed = tx
        .flush()
        .and_then(|()| conn.execute_batch("COMMIT").map_err(sql));
    if let Err(e) = committed {
        // Nothing of this group is durable: every caller hears so.
        let _ = conn.execute_batch("ROLLBACK");
        let e: QueueError = e;
        for (_, reply) in done {
            let _ = reply.send(Err(e.clone()));
        }
        return;
    }
    // A caller that gave up waiting still had its write committed; only the answer is dropped.
    for (result, reply) in done {
        let _ = reply.send(result);
    }
}

/// Runs one job inside a savepoint, so that its failure undoes only its own writes.
fn run_one(tx: &mut Tx<'_>, job: Job) -> Result<Output> {
    let conn = tx.conn;
    let step = |sql_text: &str| {
        conn.prepare_cached(sql_text)
            .and_then(|mut s| s.execute([]))
            .map_err(sql)
    };
    step("SAVEPOINT job")?;
    let mark = tx.mark();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| job(tx)))
        .unwrap_or_else(|_| Err(backend_error("a write panicked; it was rolled back")));
    if result.is_err() {
        tx.undo(mark);
        step("ROLLBACK TO job")?;
    }
    step("RELEASE job")?;
    result
}
