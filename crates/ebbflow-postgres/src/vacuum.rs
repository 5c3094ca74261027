//! Vacuuming the messages table as it churns.
//!
//! Each message leaves two dead row versions behind it: its receive updates
//! its row, its delete removes it. Until a vacuum clears them, every receive's
//! index scan steps over them, so a long drain slows as it goes: on a server
//! with autovacuum off, 200,000 messages drained at 9,000 a second in their
//! first tenth and 3,000 in their last. Autovacuum, where it runs, wakes once
//! a minute at most and waits for a fifth of the table to be dead. So each
//! process vacuums the table itself once it has made [`PostgresOptions::vacuum_after`]
//! dead versions, one vacuum at a time, in the background. (A role that does
//! not own the table gets a warning from the server and vacuums nothing: the
//! table is then autovacuum's.)
//!
//! [`PostgresOptions::vacuum_after`]: crate::PostgresOptions::vacuum_after

use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Counts the dead row versions this process made, and vacuums past a threshold.
pub(crate) struct Vacuum {
    /// Dead versions between two vacuums; 0 for never.
    every: u64,
    made: AtomicU64,
    running: Arc<AtomicBool>,
}

impl Vacuum {
    pub(crate) fn new(every: u64) -> Self {
        Self {
            every,
            made: AtomicU64::new(0),
            running: Arc::default(),
        }
    }

    /// Notes `rows` more dead versions; starts a vacuum on `pool` when they
    /// reach the threshold and none is under way.
    pub(crate) fn note(&self, rows: u64, pool: &Pool) {
        if self.every == 0 || rows == 0 {
            return;
        }
        let made = self.made.fetch_add(rows, Ordering::Relaxed) + rows;
        if made < self.every || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.made.store(0, Ordering::Relaxed);
        let (pool, running) = (pool.clone(), self.running.clone());
        tokio::spawn(async move {
            // A failed vacuum (a lost connection, say) is tried again at the next threshold.
            if let Err(e) = vacuum(&pool).await {
                tracing::warn!(error = %e, "could not vacuum ebbflow_messages");
            }
            running.store(false, Ordering::Release);
        });
    }

    #[cfg(test)]
    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

async fn vacuum(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    // VACUUM runs outside a transaction: a simple query of its own.
    client
        .batch_execute("VACUUM ebbflow_messages, ebbflow_queue_counts")
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(took = ?started.elapsed(), "vacuumed ebbflow_messages");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        let mut config = deadpool_postgres::Config::new();
        config.url = Some("postgres://nobody@127.0.0.1:1/none".into());
        match config.create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            tokio_postgres::NoTls,
        ) {
            Ok(pool) => pool,
            Err(e) => panic!("pool: {e}"),
        }
    }

    async fn ended(vacuum: &Vacuum) {
        for _ in 0..1_000 {
            if !vacuum.is_running() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the vacuum never ended");
    }

    #[tokio::test]
    async fn a_vacuum_starts_at_the_threshold_and_a_failed_one_is_tried_at_the_next() {
        let (pool, vacuum) = (pool(), Vacuum::new(100));
        vacuum.note(99, &pool);
        assert!(!vacuum.is_running(), "below the threshold");
        vacuum.note(1, &pool);
        assert!(vacuum.is_running(), "at the threshold");
        vacuum.note(1_000, &pool);
        // The server cannot be reached: the vacuum fails.
        ended(&vacuum).await;
        assert_eq!(
            vacuum.made.load(Ordering::Relaxed),
            1_000,
            "counted while one ran"
        );
        vacuum.note(1, &pool);
        assert!(vacuum.is_running(), "tried again past the next threshold");
        ended(&vacuum).await;
    }

    #[tokio::test]
    async fn zero_never_vacuums() {
        let (pool, vacuum) = (pool(), Vacuum::new(0));
        vacuum.note(u64::MAX / 2, &pool);
        assert!(!vacuum.is_running());
    }
}
