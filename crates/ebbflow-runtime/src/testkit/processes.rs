//! Fault runs with real worker processes, killed with SIGKILL under load.
//!
//! The test binary runs itself again as each worker process: the parent
//! test calls [`kill_run`], naming an ignored test of the same binary that
//! connects to the engine and calls [`kill_child`]. Each process (the
//! parent included) appends its history to a file of its own, which a
//! SIGKILL cannot take back; the parent merges them for the checker.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn workers_killed_under_load_lose_nothing() {
//!     let backend = connect(URL).await;
//!     kill_run(backend, URL, "kills", KillPlan::default(), "kill_worker", |_| {})
//!         .await
//!         .assert_ok();
//! }
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! #[ignore = "a worker process of workers_killed_under_load_lose_nothing"]
//! async fn kill_worker() {
//!     let Some(target) = kill_child_target() else { return };
//!     kill_child(connect(&target).await).await;
//! }
//! ```

use super::{fault_config, handler, judge, quiet_deliberate_panics, FaultPlan, Queues};
use crate::Runtime;
use ebbflow_core::testkit::history::{History, Recorded, Rules, Verdict};
use ebbflow_core::QueueBackend;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// The environment variable that tells a child what to run (JSON).
const SPEC_VAR: &str = "EBBFLOW_TEST_KILL_RUN";

/// The shape of a kill run.
#[derive(Debug, Clone)]
pub struct KillPlan {
    /// Messages sent before the workers start.
    pub messages: usize,
    /// `Some(n)`: a FIFO queue with `n` message groups; `None`: a standard queue.
    pub fifo_groups: Option<usize>,
    /// Worker processes running at once.
    pub processes: usize,
    /// The fixed pool of each process.
    pub workers: usize,
    /// SIGKILLs in all; each killed process is replaced by a new one.
    pub kills: usize,
    /// The queue's visibility timeout; the time between kills is a fraction of it.
    pub visibility: Duration,
    /// How long a well-behaved handler takes.
    pub quick: Duration,
    /// Seeds which messages misbehave and when kills strike.
    pub seed: u64,
    /// How long the processes may take to settle everything after the last kill.
    pub limit: Duration,
    /// Why the engine cannot keep a FIFO group in order under kills, if it
    /// cannot: the checker then waives that one rule and checks the rest.
    pub order_waived: Option<&'static str>,
    /// Issue 38's situations a process run can show: pools scaled to zero
    /// and woken, long polls longer than the visibility timeout.
    pub second_pass: bool,
    /// Why the engine lets a stale receipt handle change a later receive's
    /// visibility, if it does: the checker then counts such changes.
    pub stale_changes: Option<&'static str>,
    /// Why the engine can hand one receive to two concurrent receives, if
    /// it can: the checker then counts such pairs apart (see
    /// `Rules::shared_receives`) instead of judging them.
    pub shared_receives: Option<&'static str>,
}

impl Default for KillPlan {
    fn default() -> Self {
        Self {
            messages: 400,
            fifo_groups: None,
            processes: 2,
            workers: 4,
            kills: 4,
            visibility: Duration::from_secs(2),
            quick: Duration::from_millis(30),
            seed: 1,
            limit: Duration::from_secs(120),
            order_waived: None,
            second_pass: false,
            stale_changes: None,
            shared_receives: None,
        }
    }
}

impl KillPlan {
    /// A FIFO run: six groups, each process's pool (five) nearly as large
    /// as their number, so that the whole fleet could run every group at once.
    pub fn fifo() -> Self {
        Self {
            messages: 240,
            fifo_groups: Some(6),
            workers: 5,
            ..Self::default()
        }
    }

    /// The same run as the in-process fault runs describe it (the kills
    /// stand in for their incarnations and outages).
    fn fault_plan(&self) -> FaultPlan {
        FaultPlan {
            messages: self.messages,
            fifo_groups: self.fifo_groups,
            workers: self.workers,
            incarnations: 1,
            outages: 0,
            visibility: self.visibility,
            seed: self.seed,
            limit: self.limit,
            quick: self.quick,
            scale_to_zero: self.second_pass,
            long_polls: self.second_pass,
            ..FaultPlan::default()
        }
    }
}

/// What the parent tells a worker process.
#[derive(Debug, Serialize, Deserialize)]
struct Spec {
    target: String,
    queue: String,
    dlq: String,
    dir: PathBuf,
    worker: u32,
    plan: FaultPlan,
}

impl Spec {
    fn stop_file(dir: &Path) -> PathBuf {
        dir.join("stop")
    }
}

/// In a worker process of a kill run: what the parent asked it to connect
/// to (the `target` given to [`kill_run`]); `None` in any other process.
pub fn kill_child_target() -> Option<String> {
    spec().map(|s| s.target)
}

fn spec() -> Option<Spec> {
    let json = std::env::var(SPEC_VAR).ok()?;
    match serde_json::from_str(&json) {
        Ok(spec) => Some(spec),
        Err(e) => panic!("{SPEC_VAR}: {e}"),
    }
}

/// The body of a kill run's worker process: runs the runtime with the run's
/// misbehaving handler on `backend` until the parent asks it to stop (then
/// shuts down gracefully) or kills it. Does nothing outside a kill run.
pub async fn kill_child(backend: Arc<dyn QueueBackend>) {
    let Some(spec) = spec() else { return };
    quiet_deliberate_panics();
    let path = spec.dir.join(format!("worker-{}.jsonl", spec.worker));
    let history = match History::to_file(&path, spec.worker) {
        Ok(h) => h,
        Err(e) => panic!("history file {}: {e}", path.display()),
    };
    let recorded = Recorded::wrap(backend, history.clone(), &spec.queue);
    let config = fault_config(&spec.queue, &spec.dlq, &spec.plan);
    // A real process is never told it is dead: it just stops.
    let dead = Arc::new(AtomicBool::new(false));
    let end = Instant::now() + spec.plan.limit;
    // The server may be restarting: start again until it lets us.
    let running = loop {
        let runtime = Runtime::new(config.clone(), recorded.clone())
            .handler(
                &spec.queue,
                handler(history.clone(), dead.clone(), spec.plan.clone()),
            )
            .start()
            .await;
        match runtime {
            Ok(r) => break r,
            Err(e) if Instant::now() < end => {
                eprintln!("worker {} could not start ({e}); again", spec.worker);
                sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("worker {}: {e}", spec.worker),
        }
    };
    while !Spec::stop_file(&spec.dir).exists() {
        sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
}

/// One worker process and where its stderr goes.
struct Worker {
    id: u32,
    child: Child,
    stderr: PathBuf,
}

impl Worker {
    fn spawn(spec: &Spec, child_test: &str) -> Self {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => panic!("the test binary: {e}"),
        };
        let json = match serde_json::to_string(spec) {
            Ok(json) => json,
            Err(e) => panic!("the worker's spec: {e}"),
        };
        let stderr = spec.dir.join(format!("worker-{}.stderr", spec.worker));
        let file = match std::fs::File::create(&stderr) {
            Ok(f) => f,
            Err(e) => panic!("{}: {e}", stderr.display()),
        };
        let child = super::spawn_child(&exe, child_test, SPEC_VAR, &json, Stdio::from(file));
        match child {
            Ok(child) => Self {
                id: spec.worker,
                child,
                stderr,
            },
            Err(e) => panic!("starting worker {}: {e}", spec.worker),
        }
    }

    /// Panics with the worker's stderr if it has ended on its own, or (when
    /// `must_succeed`) ended in failure.
    fn exited(&mut self, must_succeed: bool) -> bool {
        match self.child.try_wait() {
            Ok(None) => false,
            Ok(Some(status)) if must_succeed && status.success() => true,
            Ok(Some(status)) => panic!(
                "worker {} ended by itself ({status}):\n{}",
                self.id,
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            ),
            Err(e) => panic!("worker {}: {e}", self.id),
        }
    }

    fn kill(mut self) {
        self.exited(false);
        // `Child::kill` is SIGKILL on Unix.
        if let Err(e) = self.child.kill() {
            panic!("killing worker {}: {e}", self.id);
        }
        let _ = self.child.wait();
    }
}

/// Runs `plan` with real worker processes on queues named after `prefix`
/// (created here, deleted at the end) and returns the checker's verdict,
/// after the expectations every fault run asserts.
///
/// `plan.processes` workers (the test binary running `child_test`, which
/// connects to `target` and calls [`kill_child`]) consume the queue; every
/// so often one of them, picked at random, is killed with SIGKILL, and
/// `between_kills(k)` runs before a new one replaces it (to restart the
/// engine's server, for example). After the last kill, once the queue has
/// settled, the workers are asked to stop and must shut down cleanly.
pub async fn kill_run(
    backend: Arc<dyn QueueBackend>,
    target: &str,
    prefix: &str,
    plan: KillPlan,
    child_test: &str,
    mut between_kills: impl FnMut(usize),
) -> Verdict {
    let fault_plan = plan.fault_plan();
    let queues = Queues::new(prefix, &fault_plan);
    let config = fault_config(&queues.queue, &queues.dlq, &fault_plan);
    // One folder per run: runs of one test binary share its process id and may share a prefix.
    let dir = std::env::temp_dir().join(format!(
        "ebbflow-kills-{}-{}-{:016x}",
        std::process::id(),
        prefix.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        fastrand::u64(..)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    let parent = match History::to_file(&dir.join("parent.jsonl"), 0) {
        Ok(h) => h,
        Err(e) => panic!("history file: {e}"),
    };
    queues.create(backend.as_ref(), &config).await;
    let recorded = Recorded::wrap(backend.clone(), parent.clone(), &queues.queue);
    queues.fill(recorded.as_ref(), &fault_plan).await;

    let mut next_id = 0;
    let mut spawn = |child_test: &str| {
        next_id += 1;
        let spec = Spec {
            target: target.to_owned(),
            queue: queues.queue.clone(),
            dlq: queues.dlq.clone(),
            dir: dir.clone(),
            worker: next_id,
            plan: fault_plan.clone(),
        };
        Worker::spawn(&spec, child_test)
    };
    let mut workers: Vec<Worker> = (0..plan.processes.max(1))
        .map(|_| spawn(child_test))
        .collect();
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    for k in 0..plan.kills {
        sleep(plan.visibility.mul_f64(0.3 + 0.7 * rng.f64())).await;
        let victim = workers.swap_remove(rng.usize(..workers.len()));
        let id = victim.id;
        let held = backend.stats(&queues.queue).await.ok();
        victim.kill();
        parent.worker(id).crashed();
        println!(
            "kill {}: worker {id} killed with SIGKILL; the queue then: {held:?}",
            k + 1
        );
        // What happens between kills (an engine's restart) is an outage.
        parent.outage_began();
        between_kills(k);
        parent.outage_ended();
        workers.push(spawn(child_test));
    }

    // Settled: nothing left in the queue, every worker still up. Empty for a
    // whole second, not at one reading: moto has answered empty counts while
    // a message moved between its states (seen once under load).
    let end = Instant::now() + plan.limit;
    let mut empty_since: Option<Instant> = None;
    loop {
        for w in &mut workers {
            w.exited(false);
        }
        let stats = backend.stats(&queues.queue).await;
        if stats.as_ref().is_ok_and(|s| s.total() == 0) {
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(1) {
                break;
            }
        } else {
            empty_since = None;
        }
        assert!(
            Instant::now() < end,
            "{}: not settled within {:?}: {stats:?}",
            queues.queue,
            plan.limit
        );
        sleep(Duration::from_millis(100)).await;
    }
    if let Err(e) = std::fs::write(Spec::stop_file(&dir), b"") {
        panic!("the stop file: {e}");
    }
    for mut w in workers {
        while !w.exited(true) {
            assert!(
                Instant::now() < end + plan.visibility * 4,
                "worker {} did not shut down",
                w.id
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    let dead_letters = queues.drain_dead_letters(backend.as_ref(), &parent).await;
    let files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let events = History::read_files(&files);
    if let (Some(why), Some(_)) = (plan.order_waived, plan.fifo_groups) {
        println!("FIFO order is not checked: {why}");
    }
    if let Some(why) = plan.stale_changes {
        println!("stale handles' visibility changes are counted: {why}");
    }
    if let Some(why) = plan.shared_receives {
        println!("receives handed out twice are counted apart: {why}");
    }
    // Kills and the engine's restarts are in the history; nothing expires on purpose.
    let rules = Rules {
        fifo: plan.fifo_groups.is_some() && plan.order_waived.is_none(),
        expiries: false,
        stale_changes: plan.stale_changes.is_some(),
        shared_receives: plan.shared_receives.is_some(),
    };
    let verdict = judge(
        &queues.queue,
        &events,
        rules,
        &fault_plan,
        plan.kills,
        &dead_letters,
    );
    queues.remove(backend.as_ref()).await;
    if verdict.violations.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("the histories are kept in {}", dir.display());
    }
    verdict
}
