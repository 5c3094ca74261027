//! The worker pool: a semaphore whose permits are workers. It grows by adding
//! permits and shrinks by retiring permits that are free — an idle worker —
//! or, for a busy worker, the moment its message is done. No worker is ever
//! stopped in the middle of a message.

use crate::stats::GroupStats;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A resizable pool of workers.
#[derive(Debug)]
pub(crate) struct Pool {
    permits: Arc<Semaphore>,
    sizes: Mutex<Sizes>,
    stats: Arc<GroupStats>,
    /// Told of every resize and change of `may_wake`, for a poller waiting
    /// on a worker that a shrink to zero means will never come.
    changed: Notify,
}

#[derive(Debug, Default)]
struct Sizes {
    /// The size the pool aims for.
    desired: u32,
    /// Workers that exist now, idle or busy.
    size: u32,
    /// Busy workers to retire when their message is done.
    owed: u32,
    /// Whether a message may wake the pool from zero. A process whose fleet
    /// share is zero while others hold the fleet's workers may not: it would
    /// run the fleet above `fleet_max` (issue 38, path 4).
    may_wake: bool,
}

impl Pool {
    /// A pool of `size` idle workers.
    pub(crate) fn new(size: u32, stats: Arc<GroupStats>) -> Arc<Self> {
        stats.workers.set(u64::from(size));
        stats.desired.set(u64::from(size));
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(size as usize)),
            sizes: Mutex::new(Sizes {
                desired: size,
                size,
                owed: 0,
                may_wake: true,
            }),
            stats,
            changed: Notify::new(),
        })
    }

    fn sizes(&self) -> MutexGuard<'_, Sizes> {
        crate::sync::lock(&self.sizes)
    }

    /// The size the pool aims for.
    pub(crate) fn desired(&self) -> u32 {
        self.sizes().desired
    }

    /// Aims the pool at `desired` workers: adds idle workers at once, or
    /// retires idle ones now and busy ones as they finish. Returns the
    /// previous aim.
    pub(crate) fn resize(&self, desired: u32) -> u32 {
        let mut s = self.sizes();
        let previous = s.desired;
        if desired == previous {
            return previous;
        }
        if desired > previous {
            self.stats.scaled_up.inc();
        } else {
            self.stats.scaled_down.inc();
        }
        s.desired = desired;
        let staying = s.size - s.owed;
        if desired > staying {
            // Keep workers that were due to retire before making new ones.
            let add = desired - staying;
            let kept = add.min(s.owed);
            s.owed -= kept;
            let fresh = add - kept;
            self.permits.add_permits(fresh as usize);
            s.size += fresh;
        } else {
            s.owed += staying - desired;
        }
        self.retire_idle(&mut s);
        self.stats.desired.set(u64::from(desired));
        self.changed.notify_one();
        previous
    }

    /// Resolves at the pool's next resize or change of `may_wake` (or at
    /// once, if one came since the last call: one poller waits on this).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A received message found no free worker. When the pool is scaled to
    /// zero (and may wake), a fresh worker is added for it at once, even if
    /// busy workers are owed to retirement: a kept retiring worker would make
    /// the message wait out a long job, unheartbeated, past its visibility.
    /// Returns whether it added one. A pool aiming above zero adds none: its
    /// busy workers are all it may run (each wake would add one more, without
    /// bound, under long jobs and a trickle of messages).
    pub(crate) fn wake(&self) -> bool {
        let mut s = self.sizes();
        if s.desired != 0 || !s.may_wake {
            return false;
        }
        s.desired = 1;
        self.stats.scaled_up.inc();
        self.stats.desired.set(1);
        self.permits.add_permits(1);
        s.size += 1;
        self.stats.workers.set(u64::from(s.size));
        true
    }

    /// Whether a message received with no worker held for it would find
    /// one at once: an idle worker, or a wake. The poller's watching long
    /// poll waits for this instead: a message held in memory waiting for a
    /// busy worker has no heartbeat and could outlive its visibility.
    pub(crate) fn can_take_one(&self) -> bool {
        let s = self.sizes();
        self.permits.available_permits() > 0 || (s.desired == 0 && s.may_wake)
    }

    /// The most workers this pool may run before the autoscaler's next
    /// decision: those it has (busy retiring ones included), its aim, and the
    /// one a message may wake. What a member claims in the fleet's registry.
    pub(crate) fn claim(&self) -> u32 {
        let s = self.sizes();
        s.size.max(s.desired).max(u32::from(s.may_wake))
    }

    /// Lets a message wake the pool from zero, or not (the fleet's other
    /// members hold every worker `fleet_max` allows).
    pub(crate) fn set_may_wake(&self, may: bool) {
        let mut s = self.sizes();
        if s.may_wake != may {
            s.may_wake = may;
            self.changed.notify_one();
        }
    }

    /// Retires as many idle workers as are owed.
    fn retire_idle(&self, s: &mut Sizes) {
        while s.owed > 0 {
            match self.permits.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    s.owed -= 1;
                    s.size -= 1;
                }
                Err(_) => break,
            }
        }
        self.stats.workers.set(u64::from(s.size));
    }

    /// Waits for an idle worker; `None` only if the pool was closed.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Option<Worker> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        Some(self.worker(permit))
    }

    /// An idle worker, if there is one now.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Worker> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.worker(permit))
    }

    fn worker(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Worker {
        Worker {
            permit: Some(permit),
            pool: self.clone(),
        }
    }

    /// A worker is done: it retires if the pool owes a retirement, else it idles.
    fn give_back(&self, permit: OwnedSemaphorePermit) {
        let mut s = self.sizes();
        if s.owed > 0 {
            permit.forget();
            s.owed -= 1;
            s.size -= 1;
            self.stats.workers.set(u64::from(s.size));
        } else {
            // Returned under the lock, so that a shrink deciding now either
            // sees this worker idle or counts it as owed: none is missed.
            drop(permit);
        }
    }
}

/// One worker of the pool, held while it polls for or processes messages.
/// Dropping it makes it idle again — or retires it, if the pool shrank.
#[derive(Debug)]
pub(crate) struct Worker {
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<Pool>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.pool.give_back(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(size: u32) -> (Arc<Pool>, Arc<GroupStats>) {
        let stats = Arc::new(GroupStats::default());
        (Pool::new(size, stats.clone()), stats)
    }

    #[test]
    fn a_wake_adds_a_fresh_worker_instead_of_keeping_a_busy_retiring_one() {
        // One worker busy with a long job while the pool scales to zero.
        let (pool, stats) = pool(1);
        let busy = pool.try_acquire().expect("the worker");
        pool.resize(0);
        assert!(pool.try_acquire().is_none());
        // A message arrives: a free worker for it now, not the busy one.
        assert!(pool.wake());
        let fresh = pool.try_acquire().expect("a fresh worker for the message");
        assert_eq!(stats.desired.get(), 1);
        // The busy one retires when its job ends; the pool is back at one.
        drop(busy);
        assert_eq!(stats.workers.get(), 1);
        drop(fresh);
        assert!(pool.try_acquire().is_some(), "the fresh worker stays");
    }

    #[test]
    fn a_wake_adds_nothing_to_a_full_busy_pool_owing_no_retirement() {
        let (pool, stats) = pool(2);
        let _busy: Vec<_> = (0..2).filter_map(|_| pool.try_acquire()).collect();
        assert!(!pool.wake());
        assert_eq!(stats.workers.get(), 2);
    }

    /// A pool aiming above zero whose busy workers are owed to retirement
    /// takes no message it has no free worker for: each wake would add one
    /// more worker beside them (seen at 271 in a fleet fault run).
    #[test]
    fn a_busy_pool_owing_retirements_neither_wakes_nor_takes_a_message() {
        let (pool, stats) = pool(2);
        let busy: Vec<_> = (0..2).filter_map(|_| pool.try_acquire()).collect();
        pool.resize(1);
        assert!(!pool.can_take_one());
        for _ in 0..5 {
            assert!(!pool.wake());
        }
        assert_eq!(stats.workers.get(), 2);
        drop(busy);
        assert_eq!(stats.workers.get(), 1);
    }

    #[test]
    fn a_pool_the_fleet_holds_at_zero_does_not_wake() {
        let (pool, stats) = pool(0);
        pool.set_may_wake(false);
        assert!(!pool.can_take_one());
        assert!(!pool.wake());
        assert_eq!((stats.workers.get(), stats.desired.get()), (0, 0));
        pool.set_may_wake(true);
        assert!(pool.can_take_one());
        assert!(pool.wake());
        assert_eq!(stats.workers.get(), 1);
    }

    #[test]
    fn a_busy_pool_owing_nothing_cannot_take_a_message_at_once() {
        let (pool, _) = pool(1);
        assert!(pool.can_take_one());
        let busy = pool.try_acquire().expect("the worker");
        assert!(!pool.can_take_one());
        drop(busy);
        assert!(pool.can_take_one());
    }

    #[test]
    fn growing_adds_idle_workers_at_once() {
        let (pool, stats) = pool(1);
        pool.resize(4);
        let held: Vec<_> = (0..4).filter_map(|_| pool.try_acquire()).collect();
        assert_eq!(held.len(), 4);
        assert!(pool.try_acquire().is_none());
        assert_eq!((stats.workers.get(), stats.desired.get()), (4, 4));
        assert_eq!(stats.scaled_up.get(), 1);
    }

    #[test]
    fn shrinking_retires_idle_workers_now_and_busy_ones_when_done() {
        let (pool, stats) = pool(4);
        let busy: Vec<_> = (0..3).filter_map(|_| pool.try_acquire()).collect();
        pool.resize(1);
        // One idle worker retired at once; three busy ones keep running.
        assert_eq!(stats.workers.get(), 3);
        assert_eq!(stats.desired.get(), 1);
        let mut busy = busy.into_iter();
        drop(busy.next());
        drop(busy.next());
        assert_eq!(stats.workers.get(), 1);
        // The last one stays: it is the pool's one worker.
        drop(busy.next());
        assert_eq!(stats.workers.get(), 1);
        assert!(pool.try_acquire().is_some());
    }

    #[test]
    fn growing_again_keeps_workers_that_were_due_to_retire() {
        let (pool, stats) = pool(2);
        let busy: Vec<_> = (0..2).filter_map(|_| pool.try_acquire()).collect();
        pool.resize(0);
        assert_eq!(stats.workers.get(), 2);
        pool.resize(2);
        drop(busy);
        assert_eq!(stats.workers.get(), 2);
        assert_eq!((stats.scaled_up.get(), stats.scaled_down.get()), (1, 1));
    }
}
