//! Vacuuming and analyzing the messages table as it churns.
//!
//! Each message leaves two dead row versions behind it: its receive updates
//! its row, its delete removes it. Until a vacuum clears them, every receive's
//! index scan steps over them, so a long drain slows as it goes: on a server
//! with autovacuum off, 200,000 messages drained at 9,000 a second in their
//! first tenth and 3,000 in their last. And the planner's idea of the table's
//! size comes from the last vacuum or analyze: a table last seen empty and
//! filled since by a million sends gets plans made for an empty table, which
//! read the whole queue for each receive and delete (1.5 s a statement, seen
//! here). Autovacuum, where it runs, wakes once a minute at most and waits
//! for a fifth of the table to change.
//!
//! So each process looks after the table itself: `VACUUM (ANALYZE)` once it
//! has made [`PostgresOptions::vacuum_after`] dead versions, and `ANALYZE`
//! as its sends grow the table: after its first [`FIRST_ANALYZE`] messages,
//! then after twice as many as the time before, up to half of
//! `vacuum_after` between two, the ladder starting again after each vacuum
//! (which analyzes the table at its size then, often near empty after a
//! drain) — so that a table the planner last saw empty
//! is seen again before a burst of sends has made it large, at a cost that
//! grows with the logarithm of what was sent. (A burst of 20,000 sends into
//! a table last analyzed as empty drained at 1,535 a second, a fresh
//! database at 25,553: the receive's plan was made for an empty table.) One
//! at a time, in the background. (A role that does not own the table gets a
//! warning from the server and vacuums nothing: the table is then
//! autovacuum's.)
//!
//! [`PostgresOptions::vacuum_after`]: crate::PostgresOptions::vacuum_after

use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Messages a process sends before its first analyze of the table.
pub(crate) const FIRST_ANALYZE: u64 = 1_000;

/// Counts the rows this process added and the dead versions it made, and
/// analyzes or vacuums past a threshold.
pub(crate) struct Vacuum {
    /// Dead versions between two vacuums (at most half as many added rows
    /// between two analyzes); 0 for never.
    every: u64,
    made: AtomicU64,
    added: AtomicU64,
    /// Added rows that start the next analyze: doubles after each one, up
    /// to `every / 2`.
    analyze_at: AtomicU64,
    running: Arc<AtomicBool>,
}

impl Vacuum {
    pub(crate) fn new(every: u64) -> Self {
        Self {
            every,
            made: AtomicU64::new(0),
            added: AtomicU64::new(0),
            analyze_at: AtomicU64::new(first_mark(every)),
            running: Arc::default(),
        }
    }

    /// Notes `rows` more dead versions; starts a vacuum on `pool` when they
    /// reach the threshold and none is under way.
    pub(crate) fn dead(&self, rows: u64, pool: &Pool) {
        if self.every == 0 || rows == 0 {
            return;
        }
        let made = self.made.fetch_add(rows, Ordering::Relaxed) + rows;
        if made >= self.every {
            self.start(
                pool,
                "VACUUM (ANALYZE) ebbflow_messages, ebbflow_queue_counts",
            );
        }
    }

    /// Notes `rows` more rows added; starts an analyze on `pool` when they
    /// reach the next analyze's mark and nothing is under way.
    pub(crate) fn added(&self, rows: u64, pool: &Pool) {
        if self.every == 0 || rows == 0 {
            return;
        }
        let added = self.added.fetch_add(rows, Ordering::Relaxed) + rows;
        if added >= self.analyze_at.load(Ordering::Relaxed) {
            self.start(pool, "ANALYZE ebbflow_messages");
        }
    }

    /// Runs `command` in the background unless one is under way. A failed
    /// one (a lost connection, say) is tried again at the next threshold.
    fn start(&self, pool: &Pool, command: &'static str) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        // A vacuum analyzes too: it restarts both counts, and the ladder of
        // analyzes, since the planner now sees the table as it is (often
        // near empty after a drain). Otherwise each analyze waits for twice
        // the sends the last one did, up to half a vacuum's.
        let next = if command.starts_with("VACUUM") {
            self.made.store(0, Ordering::Relaxed);
            first_mark(self.every)
        } else {
            self.analyze_at
                .load(Ordering::Relaxed)
                .saturating_mul(2)
                .min(self.every / 2)
                .max(1)
        };
        self.added.store(0, Ordering::Relaxed);
        self.analyze_at.store(next, Ordering::Relaxed);
        let (pool, running) = (pool.clone(), self.running.clone());
        tokio::spawn(async move {
            if let Err(e) = run(&pool, command).await {
                tracing::warn!(error = %e, command, "could not look after ebbflow_messages");
            }
            running.store(false, Ordering::Release);
        });
    }

    #[cfg(test)]
    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

/// The sends before the first analyze of a ladder.
fn first_mark(every: u64) -> u64 {
    FIRST_ANALYZE.min(every / 2).max(1)
}

async fn run(pool: &Pool, command: &str) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    // VACUUM runs outside a transaction: a simple query of its own.
    client
        .batch_execute(command)
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(took = ?started.elapsed(), command, "looked after ebbflow_messages");
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
        vacuum.dead(99, &pool);
        assert!(!vacuum.is_running(), "below the threshold");
        vacuum.dead(1, &pool);
        assert!(vacuum.is_running(), "at the threshold");
        vacuum.dead(1_000, &pool);
        // The server cannot be reached: the vacuum fails.
        ended(&vacuum).await;
        let made = vacuum.made.load(Ordering::Relaxed);
        assert_eq!(made, 1_000, "counted while one ran");
        vacuum.dead(1, &pool);
        assert!(vacuum.is_running(), "tried again past the next threshold");
        ended(&vacuum).await;
    }

    #[tokio::test]
    async fn analyzes_follow_a_growing_table_at_doubling_intervals_up_to_half_the_threshold() {
        let (pool, vacuum) = (pool(), Vacuum::new(100_000));
        // The first after FIRST_ANALYZE sends, then after twice as many as
        // the time before: 1,000, 2,000, 4,000, … up to 50,000.
        let mut marks = Vec::new();
        for _ in 0..9 {
            let mut sent = 0;
            while !vacuum.is_running() {
                vacuum.added(100, &pool);
                sent += 100;
            }
            marks.push(sent);
            ended(&vacuum).await;
            assert_eq!(vacuum.added.load(Ordering::Relaxed), 0);
        }
        assert_eq!(
            marks,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 50_000, 50_000, 50_000]
        );
    }

    #[tokio::test]
    async fn a_vacuum_starts_the_ladder_of_analyzes_again() {
        let (pool, vacuum) = (pool(), Vacuum::new(100_000));
        for _ in 0..3 {
            vacuum.added(FIRST_ANALYZE * 8, &pool);
            ended(&vacuum).await;
        }
        assert_eq!(vacuum.analyze_at.load(Ordering::Relaxed), 8_000);
        // A vacuum analyzes the table at its size now (a drain just made
        // the dead versions): the next burst is looked at after 1,000 sends.
        vacuum.dead(100_000, &pool);
        assert!(vacuum.is_running());
        ended(&vacuum).await;
        vacuum.added(FIRST_ANALYZE - 1, &pool);
        assert!(!vacuum.is_running());
        vacuum.added(1, &pool);
        assert!(vacuum.is_running(), "analyzed after FIRST_ANALYZE sends");
        ended(&vacuum).await;
    }

    #[tokio::test]
    async fn a_small_threshold_analyzes_after_half_of_it() {
        let (pool, vacuum) = (pool(), Vacuum::new(100));
        vacuum.added(49, &pool);
        assert!(!vacuum.is_running());
        vacuum.added(1, &pool);
        assert!(vacuum.is_running());
        ended(&vacuum).await;
        assert_eq!(vacuum.added.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn zero_never_vacuums() {
        let (pool, vacuum) = (pool(), Vacuum::new(0));
        vacuum.dead(u64::MAX / 2, &pool);
        vacuum.added(u64::MAX / 2, &pool);
        assert!(!vacuum.is_running());
    }
}
