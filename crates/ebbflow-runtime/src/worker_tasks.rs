//! Long-lived worker tasks. The poller hands each job (one message, the
//! messages of one FIFO group, or a batch) to a task that is idle, or starts
//! a task when none is; a task idle for [`IDLE_FOR`] ends. Against a task
//! spawned per message this saves, per message, the spawn, the task's
//! allocation and the copy of its future into it, and lets each task keep
//! its own clone of the middleware stack instead of cloning it per message.
//!
//! How many jobs run at once is not decided here: the pool's permits, which
//! travel with the jobs, bound that. This only keeps tasks around to run them.

use crate::sync::lock;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

/// How long a worker task waits for its next job before it ends.
pub(crate) const IDLE_FOR: Duration = Duration::from_secs(10);

/// What a worker task does with a job. Each task owns a clone, so that what
/// it keeps between jobs (a tower service, say) is its own.
pub(crate) trait RunJob: Clone + Send + 'static {
    /// What the poller hands out.
    type Job: Send + 'static;

    /// Runs one job to its end.
    fn run(&mut self, job: Self::Job) -> impl Future<Output = ()> + Send + '_;
}

/// Idle tasks, each waiting on its own one-shot channel; `None` once closed.
type Idle<J> = Arc<Mutex<Option<Vec<oneshot::Sender<J>>>>>;

/// The worker tasks of one group.
pub(crate) struct WorkerTasks<R: RunJob> {
    idle: Idle<R::Job>,
    tasks: JoinSet<()>,
    runner: R,
}

impl<R: RunJob> WorkerTasks<R> {
    /// No tasks yet; each one started runs jobs with a clone of `runner`.
    pub(crate) fn new(runner: R) -> Self {
        Self {
            idle: Arc::new(Mutex::new(Some(Vec::new()))),
            tasks: JoinSet::new(),
            runner,
        }
    }

    /// Runs `job` on an idle task, or on a new one. Never waits.
    pub(crate) fn hand(&mut self, mut job: R::Job) {
        loop {
            let waiting = lock(&self.idle).as_mut().and_then(Vec::pop);
            let Some(task) = waiting else { break };
            match task.send(job) {
                Ok(()) => return,
                // That task has ended (idle too long): try the next one.
                Err(back) => job = back,
            }
        }
        self.tasks
            .spawn(work(job, self.idle.clone(), self.runner.clone()));
    }

    /// Tasks that have ended since the last call, with how each ended.
    pub(crate) fn reap(&mut self) -> impl Iterator<Item = Result<(), JoinError>> + '_ {
        std::iter::from_fn(|| self.tasks.try_join_next())
    }

    /// Idle tasks end now; busy ones at the end of their job.
    pub(crate) fn close(&self) {
        lock(&self.idle).take();
    }

    /// Waits for the next task to end; `None` when none is left.
    pub(crate) async fn join_next(&mut self) -> Option<Result<(), JoinError>> {
        self.tasks.join_next().await
    }

    /// Stops every task now, dropping the jobs they hold, and waits until they have stopped.
    pub(crate) async fn abort(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// One worker task: runs its first job, then each job handed to it while
/// idle, until it has been idle for [`IDLE_FOR`] or the tasks are closed.
async fn work<R: RunJob>(mut job: R::Job, idle: Idle<R::Job>, mut runner: R) {
    // One timer for the task's life, pushed back at each wait: a timer made
    // per job would be registered with the runtime's timer wheel and taken
    // out again for every message.
    let idle_for = tokio::time::sleep(IDLE_FOR);
    tokio::pin!(idle_for);
    loop {
        runner.run(job).await;
        let (tx, mut rx) = oneshot::channel();
        match lock(&idle).as_mut() {
            Some(list) => list.push(tx),
            None => return,
        }
        idle_for.as_mut().reset(Instant::now() + IDLE_FOR);
        job = tokio::select! {
            biased;
            handed = &mut rx => match handed {
                Ok(job) => job,
                // Closed: the sender was dropped with the list.
                Err(_) => return,
            },
            () = &mut idle_for => {
                // A job may have been handed over just now: take it rather
                // than drop it; closing first makes any later hand-off fail.
                rx.close();
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts jobs, and which tasks ran them.
    #[derive(Clone)]
    struct Count {
        done: Arc<AtomicUsize>,
        task: Option<usize>,
        tasks: Arc<AtomicUsize>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl RunJob for Count {
        type Job = ();
        async fn run(&mut self, (): ()) {
            if self.task.is_none() {
                self.task = Some(self.tasks.fetch_add(1, Ordering::SeqCst));
            }
            if let Ok(permit) = self.gate.acquire().await {
                permit.forget();
            }
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn count(gate: usize) -> Count {
        Count {
            done: Arc::default(),
            task: None,
            tasks: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(gate)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_task_takes_the_next_job_instead_of_a_new_one() {
        let c = count(usize::MAX >> 4);
        let mut tasks = WorkerTasks::new(c.clone());
        for _ in 0..100 {
            tasks.hand(());
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(c.done.load(Ordering::SeqCst), 100);
        assert_eq!(c.tasks.load(Ordering::SeqCst), 1, "one task ran them all");
    }

    #[tokio::test(start_paused = true)]
    async fn busy_tasks_get_company_so_no_job_waits() {
        // Jobs block until let through: each one handed must start a task of its own.
        let c = count(0);
        let mut tasks = WorkerTasks::new(c.clone());
        for _ in 0..5 {
            tasks.hand(());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(c.tasks.load(Ordering::SeqCst), 5);
        c.gate.add_permits(5);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(c.done.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_tasks_end_after_a_while_and_a_job_after_that_still_runs() {
        let c = count(usize::MAX >> 4);
        let mut tasks = WorkerTasks::new(c.clone());
        tasks.hand(());
        tokio::time::sleep(IDLE_FOR * 2).await;
        let ended: Vec<_> = tasks.reap().collect();
        assert_eq!(ended.len(), 1, "the idle task ended");
        assert!(ended[0].is_ok());
        tasks.hand(());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(c.done.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn closing_ends_idle_tasks_now_and_busy_ones_after_their_job() {
        let c = count(0);
        let mut tasks = WorkerTasks::new(c.clone());
        tasks.hand(());
        tasks.hand(());
        c.gate.add_permits(1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        tasks.close();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(tasks.reap().count(), 1, "the idle one ended at once");
        c.gate.add_permits(1);
        assert!(tasks.join_next().await.is_some());
        assert!(tasks.join_next().await.is_none());
        assert_eq!(c.done.load(Ordering::SeqCst), 2);
    }
}
