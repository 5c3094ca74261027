//! Long polling for engines that run in this process or talk to a server:
//! a receive with nothing to take sleeps until a write may have made a
//! message receivable, the next delayed or in-flight message comes due, or
//! its wait ends.

use crate::queue_name_from_arn;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The long polls waiting on each queue of one backend, and the bell that wakes them.
///
/// An engine calls [`LongPolls::wake`] after every write that may make a
/// message receivable (a send, a visibility change, a FIFO delete, a move),
/// and for writes that another process announced (Redis pub/sub, PostgreSQL
/// `NOTIFY`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use ebbflow_core::local::{LongPolls, Poll};
/// use std::time::Duration;
///
/// let polls = LongPolls::new(Duration::from_secs(1));
/// // Nothing ever arrives: the receive waits out its 3 s and returns empty.
/// let start = tokio::time::Instant::now();
/// let got: Vec<u32> = polls
///     .wait("q", Duration::from_secs(3), || async { Ok::<_, ()>(Poll { messages: vec![], next_due: None }) })
///     .await
///     .unwrap();
/// assert!(got.is_empty());
/// assert_eq!(start.elapsed(), Duration::from_secs(3));
/// # }
/// ```
#[derive(Debug)]
pub struct LongPolls {
    waiting: Mutex<HashMap<String, Arc<Waiters>>>,
    recheck: Duration,
}

#[derive(Debug, Default)]
struct Waiters {
    notify: Notify,
    count: AtomicUsize,
}

/// What one look at a queue found.
#[derive(Debug)]
pub struct Poll<M> {
    /// The messages taken.
    pub messages: Vec<M>,
    /// When the next delayed or in-flight message becomes visible, if one does.
    pub next_due: Option<Instant>,
}

/// Counts one waiting receive for as long as it lives.
struct Waiting(Arc<Waiters>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LongPolls {
    /// Long polls that look again at least every `recheck` even without a
    /// wake-up: the bound on how late a write nobody announced is seen.
    pub fn new(recheck: Duration) -> Self {
        Self {
            waiting: Mutex::new(HashMap::new()),
            recheck,
        }
    }

    fn waiters(&self, queue: &str) -> Arc<Waiters> {
        self.waiting
            .lock()
            .entry(queue_name_from_arn(queue).to_owned())
            .or_default()
            .clone()
    }

    /// Wakes the long polls of `queue` (a name, URL or ARN), if any wait.
    pub fn wake(&self, queue: &str) {
        let waiters = self.waiting.lock().get(queue_name_from_arn(queue)).cloned();
        if let Some(w) = waiters {
            if w.count.load(Ordering::SeqCst) > 0 {
                w.notify.notify_waiters();
            }
        }
    }

    /// Wakes every long poll: after a lost connection, when announcements may have been missed.
    pub fn wake_all(&self) {
        for w in self.waiting.lock().values() {
            w.notify.notify_waiters();
        }
    }

    /// Wakes the long polls of a deleted queue and forgets it.
    pub fn remove(&self, queue: &str) {
        if let Some(w) = self.waiting.lock().remove(queue_name_from_arn(queue)) {
            w.notify.notify_waiters();
        }
    }

    /// Looks at `queue` with `look` until it finds messages or `wait` ends,
    /// sleeping between looks until woken, the next message is due, or
    /// the recheck interval passes.
    pub async fn wait<M, E, F, Fut>(
        &self,
        queue: &str,
        wait: Duration,
        mut look: F,
    ) -> Result<Vec<M>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<M>, E>>,
    {
        let deadline = Instant::now() + wait;
        let waiters = self.waiters(queue);
        // Counted before the first look, so that a write in between wakes this receive.
        let _waiting = (!wait.is_zero()).then(|| {
            waiters.count.fetch_add(1, Ordering::SeqCst);
            Waiting(waiters.clone())
        });
        loop {
            let notified = waiters.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let poll = look().await?;
            let now = Instant::now();
            if !poll.messages.is_empty() || now >= deadline {
                return Ok(poll.messages);
            }
            let wake = poll
                .next_due
                .unwrap_or(deadline)
                .min(deadline)
                .min(now + self.recheck);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}
