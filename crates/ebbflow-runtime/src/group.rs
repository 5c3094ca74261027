//! One worker group: a poller that receives only what idle workers can take,
//! hands what it receives to long-lived worker tasks running the middleware
//! stack (`worker_tasks`), and the acker.
//!
//! A job holds messages from one receive: one message of a standard
//! queue, the messages of one FIFO group (run one at a time, in order), or a
//! whole batch for a batch handler. Until each of its messages is settled
//! (deleted, released or dead-lettered) the task running it keeps it hidden
//! with the heartbeat, so no received message is ever left to time out
//! unnoticed; a job stopped at a forced shutdown leaves its unsettled
//! messages to be released at once.

use crate::acker::Acker;
use crate::autoscale::{self, pool::Pool, pool::Worker as PoolWorker};
use crate::batch::{BatchPlan, RunBatch};
use crate::handler::{panic_text, CatchPanic, HandlerService};
use crate::layers::{
    keep_hidden, DeadLetterLayer, DeadLetterRoute, RetryLayer, TimeoutLayer, TraceLayer,
};
use crate::stats::GroupStats;
use crate::sync::lock;
use crate::worker_tasks::{RunJob, WorkerTasks};
use crate::{Context, Delivery, Handler, HandlerError, Outcome, RetryPolicy};
use ebbflow_core::config::WorkerConfig;
use ebbflow_core::{ChangeVisibilityBatchEntry, QueueBackend, ReceiveRequest, ReceivedMessage};
use futures_util::FutureExt as _;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt as _};
use tracing::Instrument as _;

/// The handler with the user's own layers around it.
pub type HandlerStack = BoxCloneService<Delivery, (), HandlerError>;

type MessageService = BoxCloneService<Delivery, Outcome, Infallible>;

/// A handler for one worker group, with any tower layers of the user's own.
///
/// ```
/// use ebbflow_runtime::{handler_fn, Context, HandlerError, WorkerGroup};
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// let group = WorkerGroup::new(handler_fn(|body: String, _ctx: Context| async move {
///     Ok::<_, HandlerError>(())
/// }))
/// // Any tower layer over `Service<Delivery, Response = (), Error = HandlerError>`.
/// .layer(tower::limit::ConcurrencyLimitLayer::new(4));
/// # let _ = group;
/// ```
pub struct WorkerGroup {
    pub(crate) handler: HandlerStack,
}

impl WorkerGroup {
    /// A group running `handler`.
    pub fn new<H: Handler>(handler: H) -> Self {
        Self {
            handler: BoxCloneService::new(HandlerService::new(handler)),
        }
    }

    /// Wraps the handler in a tower layer. Layers run inside the runtime's own
    /// (after decoding's caller, within the timeout and retries), once per attempt.
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: Layer<HandlerStack>,
        L::Service: Service<Delivery, Response = (), Error = HandlerError> + Clone + Send + 'static,
        <L::Service as Service<Delivery>>::Future: Send + 'static,
    {
        Self {
            handler: BoxCloneService::new(layer.layer(self.handler)),
        }
    }
}

/// What a group runs: a per-message stack, or a batch handler.
pub(crate) enum GroupKind {
    Single(HandlerStack),
    Batch(Arc<dyn RunBatch>),
}

impl From<WorkerGroup> for GroupKind {
    fn from(group: WorkerGroup) -> Self {
        GroupKind::Single(group.handler)
    }
}

/// Everything a running group needs, resolved at start.
pub(crate) struct GroupPlan {
    pub(crate) name: String,
    pub(crate) queue: Arc<str>,
    pub(crate) config: WorkerConfig,
    pub(crate) visibility_timeout: Duration,
    pub(crate) route: DeadLetterRoute,
    pub(crate) kind: GroupKind,
    pub(crate) stats: Arc<GroupStats>,
    /// Whether the queue is FIFO: a group's messages then run one at a time, in order.
    pub(crate) fifo: bool,
    /// Where and how long per-minute rollups are kept; `None` for none.
    pub(crate) history: Option<ebbflow_core::config::HistoryConfig>,
}

/// How a group's worker tasks process what the poller hands them.
#[derive(Clone)]
enum Work {
    Single(MessageService),
    Batch(Arc<BatchPlan>),
}

impl GroupPlan {
    fn work(&self) -> Work {
        match &self.kind {
            GroupKind::Single(handler) => Work::Single(self.service(handler.clone())),
            GroupKind::Batch(handler) => Work::Batch(Arc::new(BatchPlan {
                handler: handler.clone(),
                policy: RetryPolicy::from_config(&self.config.retry),
                timeout: self.config.handler_timeout.0,
                route: self.route.clone(),
                stats: self.stats.clone(),
                fifo: self.fifo,
            })),
        }
    }

    /// The runtime's layers around the user's stack. The heartbeat is not
    /// among them: the worker task keeps its messages hidden from receive to
    /// settlement, the time before and after the stack included.
    fn service(&self, handler: HandlerStack) -> MessageService {
        let policy = RetryPolicy::from_config(&self.config.retry);
        let stack = ServiceBuilder::new()
            .layer(TraceLayer::default())
            .layer(DeadLetterLayer::new(self.route.clone()))
            .layer(RetryLayer::new(policy, self.stats.clone()))
            .layer(TimeoutLayer::new(self.config.handler_timeout.0))
            .service(CatchPanic { inner: handler });
        BoxCloneService::new(stack)
    }
}

/// Receipt handles of messages whose job was dropped before it settled them
/// (its task was stopped at a forced shutdown): the unprocessed to release at
/// once, the processed whose delete was not yet handed over to delete.
type Orphans = Arc<Mutex<Left>>;

#[derive(Default)]
struct Left {
    release: Vec<String>,
    delete: Vec<String>,
}

impl Left {
    /// Sorts the unsettled of `deliveries`: held ones to release, processed
    /// ones not yet handed to the acker to delete. Those the acker holds are
    /// its own.
    fn take(&mut self, deliveries: &[Delivery]) {
        for d in deliveries {
            let handle = || d.message.receipt_handle.clone();
            if d.ctx.is_held() {
                self.release.push(handle());
            } else if d.ctx.is_deleting() {
                self.delete.push(handle());
            }
        }
    }

    /// Deletes and releases what was taken.
    async fn settle(self, backend: &dyn QueueBackend, queue: &str) {
        for chunk in self.delete.chunks(10) {
            crate::acker::flush(backend, queue, chunk.to_vec()).await;
        }
        release_now(backend, queue, self.release, Seen::Maybe).await;
    }
}

/// Receives one group may have under way at once. One receive at a time caps
/// a group at one batch per round trip to the engine, whatever its pool; a
/// few at once lift that cap while each still asks only for what idle
/// workers can take.
pub(crate) const RECEIVES_IN_FLIGHT: usize = 4;

/// How long before a receive returned its messages' visibility is taken to
/// have started, at the earliest (and never before the receive was asked).
pub(crate) const RECEIVE_SLACK: Duration = Duration::from_secs(2);

/// A receive that has ended, with the workers it was made for.
struct Received {
    permits: Vec<PoolWorker>,
    /// When the messages' visibility is taken to have started: the ask, or
    /// [`RECEIVE_SLACK`] before the return of a long poll, whichever is later.
    asked: Instant,
    wanted: u32,
    result: ebbflow_core::Result<Vec<ReceivedMessage>>,
}

/// Runs a group until `shutdown` is cancelled, then drains it within `grace`.
pub(crate) async fn run(
    plan: GroupPlan,
    backend: Arc<dyn QueueBackend>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let work = plan.work();
    // A single-message group takes one worker per message; a batch group one worker per batch.
    let (permits_per_receive, messages_per_permit) = match work {
        Work::Single(_) => (plan.config.batch_size as usize, 1),
        Work::Batch(_) => (1, plan.config.batch_size),
    };
    let acker = Acker::spawn(
        backend.clone(),
        plan.queue.clone(),
        plan.stats.clone(),
        plan.config.heartbeat,
    );
    // The watch ends with the group: the poller below stops on the same token.
    let mut operator_pause = crate::pause::watch(
        plan.queue.clone(),
        backend.clone(),
        plan.config.scaling.tick.0,
        plan.stats.clone(),
        shutdown.clone(),
    );
    let pool = match plan.config.concurrency {
        Some(fixed) => Pool::new(fixed, plan.stats.clone()),
        None => {
            let pool = Pool::new(plan.config.scaling.min, plan.stats.clone());
            // Under a `fleet_max`, no wake before the first tick says whether
            // this member may (it comes at once).
            pool.set_may_wake(plan.config.scaling.fleet_max.is_none());
            tokio::spawn(autoscale::run(
                plan.queue.clone(),
                plan.config.scaling.clone(),
                backend.clone(),
                pool.clone(),
                plan.stats.clone(),
                operator_pause.clone(),
                shutdown.clone(),
            ));
            pool
        }
    };
    // The writer stops after the drain below, so its last rollup has every outcome.
    let history_done = CancellationToken::new();
    let history = plan.history.clone().map(|config| {
        tokio::spawn(crate::history::run(
            plan.queue.clone(),
            backend.clone(),
            plan.stats.clone(),
            config,
            history_done.clone(),
        ))
    });
    plan.stats.polling.set(1);
    let orphans: Orphans = Arc::default();
    let shared = Arc::new(Shared {
        backend: backend.clone(),
        queue: plan.queue.clone(),
        visibility_timeout: plan.visibility_timeout,
        heartbeat: plan.config.heartbeat,
        fifo: plan.fifo,
        acks: acker.sender(),
        stats: plan.stats.clone(),
    });
    let mut tasks = WorkerTasks::new(Runner {
        shared: shared.clone(),
        work: work.clone(),
    });
    let mut receiving: JoinSet<Received> = JoinSet::new();
    let mut backoff = PollBackoff::default();
    // No new receive before this, after a failed one.
    let mut paused_until: Option<Instant> = None;
    // After an empty receive the queue is idle: the next long poll asks for
    // one message and holds no worker (see below).
    let mut idle = true;
    // The last receive came back full: there is a backlog worth more than one
    // receive at once. Otherwise (and always on an idle queue) one at a time,
    // so that on SQS, where each receive is paid for, the receives follow
    // the backlog and not the pool alone.
    let mut backlog = false;
    // A worker acquired while waiting, for the next receive.
    let mut carried: Option<PoolWorker> = None;
    let receive = |permits: Vec<PoolWorker>| {
        let wanted = permits.len().max(1) as u32 * messages_per_permit;
        let mut request = ReceiveRequest::new(wanted).wait(plan.config.wait_time.0);
        // The heartbeat counts on this timeout: ask for it, rather than
        // trust that the queue's own has not changed since the start.
        request.visibility_timeout = Some(plan.visibility_timeout);
        let (backend, queue) = (backend.clone(), plan.queue.clone());
        async move {
            let asked = Instant::now();
            let result = backend.receive(&queue, request).await;
            // A long poll hands its messages out as they arrive and returns at
            // once: their visibility started near the return, not at the
            // ask (a message arriving 15 s into a 20 s poll on a 10 s
            // timeout is not expired). The slack covers the engine's answer
            // on its way back; a quick receive keeps the ask.
            let returned = Instant::now();
            let asked = asked.max(returned.checked_sub(RECEIVE_SLACK).unwrap_or(asked));
            Received {
                permits,
                asked,
                wanted,
                result,
            }
        }
    };

    'poll: loop {
        let paused = paused_until.is_some_and(|t| Instant::now() < t);
        // An operator's pause: no new receive until it is lifted.
        let held = *operator_pause.borrow_and_update();
        let watching = idle || pool.desired() == 0;
        if !shutdown.is_cancelled()
            && !paused
            && !held
            && receiving.len() < RECEIVES_IN_FLIGHT
            && (receiving.is_empty() || (backlog && !watching))
            // A worker carried from the wait below is one that can take it.
            && (!watching || carried.is_some() || pool.can_take_one())
        {
            let permits = if watching {
                // An idle queue is watched by one long poll that holds no worker,
                // so idle workers can retire at once (down to zero); a message
                // then takes a free worker, or wakes the pool.
                carried = None;
                Some(Vec::new())
            } else {
                // Receive only as many messages as there are idle workers to take
                // them: a message waiting in memory would be invisible to every
                // other consumer. A receive beside others only for a full batch.
                let mut permits: Vec<PoolWorker> = carried.take().into_iter().collect();
                while permits.len() < permits_per_receive {
                    match pool.try_acquire() {
                        Some(w) => permits.push(w),
                        None => break,
                    }
                }
                let enough = if receiving.is_empty() {
                    !permits.is_empty()
                } else {
                    permits.len() == permits_per_receive
                };
                enough.then_some(permits)
            };
            if let Some(permits) = permits {
                // A receive is not cancelled by shutdown: the engine may already
                // have handed its messages over (receive counts spent). It ends
                // within the wait time, and what it brings is released below.
                receiving.spawn(receive(permits));
                plan.stats.receives_in_flight.set(receiving.len() as u64);
                continue 'poll;
            }
        }
        let done = tokio::select! {
            done = receiving.join_next(), if !receiving.is_empty() => done,
            // Receives still out are not waited for here: the grace starts
            // now, and what they bring goes back after.
            _ = shutdown.cancelled() => break 'poll,
            _ = tokio::time::sleep_until(paused_until.unwrap_or_else(Instant::now)), if paused && receiving.is_empty() => continue 'poll,
            Ok(()) = operator_pause.changed(), if held => continue 'poll,
            // A shrink to zero (or a wake allowed again) means the worker
            // waited for may never come: look again.
            _ = pool.changed(), if receiving.is_empty() => continue 'poll,
            worker = pool.acquire(), if !paused && !held && receiving.is_empty() => match worker {
                Some(w) => {
                    carried = Some(w);
                    continue 'poll;
                }
                None => break 'poll,
            },
        };
        plan.stats.receives_in_flight.set(receiving.len() as u64);
        for ended in tasks.reap() {
            log_task_end(ended, &plan.queue, &plan.stats);
        }
        let Received {
            mut permits,
            asked,
            wanted,
            result,
        } = match done {
            Some(Ok(received)) => received,
            Some(Err(e)) => {
                // A receive that panicked backs off as a failed one does: at
                // once again, it would spin a core against a broken engine.
                let wait = backoff.next();
                tracing::error!(queue = %plan.queue, error = %e, ?wait, "a receive task failed; backing off");
                paused_until = Some(Instant::now() + wait);
                backlog = false;
                continue 'poll;
            }
            None => continue 'poll,
        };
        let messages = match result {
            Ok(m) => {
                backoff.reset();
                m
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(queue = %plan.queue, error = %e, ?wait, "receive failed; backing off");
                paused_until = Some(Instant::now() + wait);
                backlog = false;
                continue 'poll;
            }
        };
        if *operator_pause.borrow() && !messages.is_empty() {
            // Paused while the poll was out: what it brought goes back unrun
            // (its receive not counted), and the workers it holds are free.
            give_back_unrun(backend.as_ref(), &plan.queue, &messages).await;
            drop(permits);
            continue 'poll;
        }
        idle = messages.is_empty();
        // A watching receive asks for one message: its one says nothing of a backlog.
        backlog = !permits.is_empty() && messages.len() as u32 >= wanted;
        if permits.is_empty() && !messages.is_empty() {
            if let Some(w) = pool.try_acquire() {
                permits.push(w);
            } else {
                let from = pool.desired();
                // A fresh worker, not a busy one kept from retiring: the
                // message must not wait out someone else's long job.
                if pool.wake() {
                    if from == 0 {
                        tracing::info!(queue = %plan.queue, from = 0, to = 1, reason = "woken", "a message woke the pool");
                    }
                    permits.extend(pool.try_acquire());
                } else {
                    // The pool changed while the poll was out (the fleet took
                    // this process's share): back at once, not held unheartbeated.
                    give_back_unrun(backend.as_ref(), &plan.queue, &messages).await;
                    continue 'poll;
                }
            }
        }
        if shutdown.is_cancelled() || (permits.is_empty() && !messages.is_empty()) {
            give_back_unrun(backend.as_ref(), &plan.queue, &messages).await;
            break 'poll;
        }
        plan.stats.received.add(messages.len() as u64);
        let held = |messages: Vec<ReceivedMessage>| Held {
            deliveries: messages
                .into_iter()
                .map(|m| shared.deliver(m, asked))
                .collect(),
            orphans: orphans.clone(),
        };
        match &work {
            Work::Single(_) if plan.fifo => {
                // One job per message group, holding one worker per message.
                for (group, permits) in fifo_groups(messages, &mut permits) {
                    tasks.hand(Job {
                        held: held(group),
                        permits,
                    });
                }
            }
            Work::Single(_) => {
                // A wake from zero brings one worker for a one-message receive.
                for (message, permit) in messages.into_iter().zip(permits.drain(..)) {
                    tasks.hand(Job {
                        held: held(vec![message]),
                        permits: vec![permit],
                    });
                }
            }
            Work::Batch(_) => {
                if let (Some(permit), false) = (permits.pop(), messages.is_empty()) {
                    tasks.hand(Job {
                        held: held(messages),
                        permits: vec![permit],
                    });
                }
            }
        }
    }
    drop(carried);
    // The grace counts from the stop, not from the end of the long polls
    // still out (up to 20 s): a supervisor's kill after its own grace would
    // otherwise come before the forced release (issue 38, path 8).
    let grace_ends = Instant::now() + grace;
    // Receives still under way at shutdown end within their wait time; what
    // they bring goes back at once.
    let receives_end = async {
        while let Some(joined) = receiving.join_next().await {
            if let Ok(Received {
                result: Ok(messages),
                ..
            }) = joined
            {
                give_back_unrun(backend.as_ref(), &plan.queue, &messages).await;
            }
        }
        plan.stats.receives_in_flight.set(0);
    };
    // Meanwhile, in-flight work gets the grace period; what is still
    // running after it is stopped and its messages released at once.
    tasks.close();
    let workers_end = async {
        let drained = tokio::time::timeout_at(grace_ends, async {
            while let Some(ended) = tasks.join_next().await {
                log_task_end(ended, &plan.queue, &plan.stats);
            }
        })
        .await;
        if drained.is_err() {
            // Stopping a task drops its job, which records what it had not settled.
            tasks.abort().await;
        }
        let left = std::mem::take(&mut *lock(&orphans));
        if !left.release.is_empty() || !left.delete.is_empty() {
            tracing::warn!(queue = %plan.queue, unfinished = left.release.len(), processed = left.delete.len(), ?grace, "grace period over; releasing unfinished messages and deleting processed ones");
            left.settle(backend.as_ref(), &plan.queue).await;
        }
    };
    tokio::join!(receives_end, workers_end);
    plan.stats.polling.set(0);
    // The tasks' runners and `shared` hold the acker's sender: it closes once they are gone.
    drop((tasks, shared));
    acker.close().await;
    plan.stats.workers.set(0);
    history_done.cancel();
    if let Some(writer) = history {
        let _ = writer.await;
    }
}

/// What every worker task of a group shares.
struct Shared {
    backend: Arc<dyn QueueBackend>,
    queue: Arc<str>,
    visibility_timeout: Duration,
    heartbeat: bool,
    /// Whether the queue is FIFO: its jobs are a group's messages, run in order.
    fifo: bool,
    acks: tokio::sync::mpsc::Sender<Context>,
    stats: Arc<GroupStats>,
}

/// What the poller hands a worker task: the messages of one receive that
/// belong together, and the pool's workers they hold.
struct Job {
    held: Held,
    permits: Vec<PoolWorker>,
}

/// A job's messages. Any still unsettled when it is dropped — its task was
/// stopped at a forced shutdown — are recorded as orphans, to be released.
struct Held {
    deliveries: Vec<Delivery>,
    orphans: Orphans,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.deliveries.iter().any(|d| !d.ctx.is_settled()) {
            lock(&self.orphans).take(&self.deliveries);
        }
    }
}

/// A worker task's own: the group's shared parts and its clone of the stack.
#[derive(Clone)]
struct Runner {
    shared: Arc<Shared>,
    work: Work,
}

impl RunJob for Runner {
    type Job = Job;

    async fn run(&mut self, job: Job) {
        let shared = &*self.shared;
        let Job { held, permits } = job;
        match &mut self.work {
            Work::Single(service) if !shared.fifo => {
                for delivery in &held.deliveries {
                    shared.run_one(service, delivery).await;
                }
            }
            Work::Single(service) => shared.run_group(service, &held.deliveries, permits).await,
            Work::Batch(plan) => shared.run_batch(plan.clone(), &held.deliveries).await,
        }
        // Settled by now: dropping it records nothing. Its workers return after.
        drop(held);
    }
}

impl Shared {
    /// One message's trip through the stack, while its job holds one worker.
    async fn run_one(&self, service: &mut MessageService, delivery: &Delivery) {
        let work = async {
            let _busy = Busy::new(&self.stats);
            self.process(service, delivery).await;
        };
        self.guard(std::slice::from_ref(delivery), work).await;
    }

    /// The messages of one FIFO group from one receive, one at a time in
    /// order. When one is given back to the queue, the rest are released
    /// unprocessed: none may overtake it. Each permit returns as its message is settled.
    async fn run_group(
        &self,
        service: &mut MessageService,
        held: &[Delivery],
        mut permits: Vec<PoolWorker>,
    ) {
        let this = self;
        let work = async move {
            for (n, delivery) in held.iter().enumerate() {
                if delivery.ctx.is_expired() {
                    // The heartbeat could not hold the group (an outage): the
                    // queue may have handed these to someone else by now.
                    tracing::warn!(queue = %this.queue, left = held.len() - n, "a FIFO group's visibility ran out before its turn; giving the rest back");
                    this.give_back_after_expiry(&held[n..]).await;
                    break;
                }
                let outcome = {
                    let _busy = Busy::new(&this.stats);
                    this.process(service, delivery).await
                };
                permits.pop();
                match outcome {
                    Outcome::Release { .. } => {
                        this.release_unprocessed(&held[n + 1..]).await;
                        break;
                    }
                    Outcome::Expired => {
                        this.give_back_after_expiry(&held[n + 1..]).await;
                        break;
                    }
                    Outcome::Done | Outcome::DeadLettered { .. } => {}
                }
            }
        };
        self.guard(held, work).await;
    }

    /// A whole receive through a batch handler, holding one worker permit.
    async fn run_batch(&self, plan: Arc<BatchPlan>, deliveries: &[Delivery]) {
        let work = async {
            let _busy = Busy::new(&self.stats);
            let started = Instant::now();
            for delivery in deliveries {
                self.record_queued(&delivery.message);
            }
            let span = tracing::info_span!("batch", queue = %self.queue, size = deliveries.len());
            let mut run = plan.start(deliveries.to_vec());
            // Each round's decisions are settled before the next attempt:
            // a success is deleted while the failures beside it wait out their retries.
            while let Some(decided) = run.round().instrument(span.clone()).await {
                for (i, outcome) in decided {
                    self.settle(&deliveries[i], outcome).await;
                }
            }
            let took = started.elapsed();
            self.stats
                .histograms
                .process
                .record_many(took.as_secs_f64(), deliveries.len());
            self.stats.worker_micros.add(took.as_micros() as u64);
        };
        self.guard(deliveries, work).await;
    }

    /// Runs a task's `work` while keeping its unsettled messages hidden, and
    /// catches a panic that escaped every inner catch (a user layer's
    /// `poll_ready`, say): the task's unsettled messages are then released at
    /// once, and the failure logged and counted.
    async fn guard(&self, deliveries: &[Delivery], work: impl std::future::Future<Output = ()>) {
        let contexts = || deliveries.iter().map(|d| d.ctx.clone()).collect();
        let work = AssertUnwindSafe(work).catch_unwind();
        let ended = if self.heartbeat {
            keep_hidden(contexts(), work).await
        } else {
            work.await
        };
        if let Err(panic) = ended {
            self.stats.task_failures.inc();
            let mut left = Left::default();
            left.take(deliveries);
            tracing::error!(queue = %self.queue, panic = %panic_text(panic.as_ref()), unsettled = left.release.len(), "a worker task panicked; releasing its messages");
            self.stats.released.add(left.release.len() as u64);
            left.settle(self.backend.as_ref(), &self.queue).await;
            for d in deliveries
                .iter()
                .filter(|d| d.ctx.is_held() || d.ctx.is_deleting())
            {
                self.forget(d);
            }
        }
    }

    /// One message through the stack, then settled as its outcome says.
    async fn process(&self, service: &mut MessageService, delivery: &Delivery) -> Outcome {
        let started = Instant::now();
        self.record_queued(&delivery.message);
        let outcome = match service.ready().await {
            Ok(ready) => match ready.call(delivery.clone()).await {
                Ok(outcome) => outcome,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        };
        let took = started.elapsed();
        self.stats.histograms.process.record(took.as_secs_f64());
        self.settle(delivery, outcome.clone()).await;
        self.stats.worker_micros.add(took.as_micros() as u64);
        outcome
    }

    /// Gives `deliveries` back to the queue at once, unprocessed.
    async fn release_unprocessed(&self, deliveries: &[Delivery]) {
        if deliveries.is_empty() {
            return;
        }
        let handles = deliveries
            .iter()
            .map(|d| d.message.receipt_handle.clone())
            .collect();
        release_now(
            self.backend.as_ref(),
            &self.queue,
            handles,
            Seen::Unprocessed,
        )
        .await;
        self.stats.released.add(deliveries.len() as u64);
        for d in deliveries {
            self.forget(d);
        }
    }

    /// The rest of a FIFO group whose visibility ran out ahead of them (issue
    /// 38, path 6) goes back at once: kept, it would lock its group until its
    /// own deadline. One whose own visibility ran out too may be someone
    /// else's by now: the engine refuses the release by its stale receipt.
    async fn give_back_after_expiry(&self, rest: &[Delivery]) {
        self.release_unprocessed(rest).await;
    }

    /// Records how long `message` waited in the queue before its processing started.
    fn record_queued(&self, message: &ReceivedMessage) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let waited_ms = now_ms.saturating_sub(message.system.sent_timestamp);
        self.stats
            .histograms
            .queued
            .record(waited_ms as f64 / 1000.0);
    }

    /// Wraps a message received by a receive asked for at `asked` for the stack.
    fn deliver(&self, message: ReceivedMessage, asked: Instant) -> Delivery {
        let message = Arc::new(message);
        let ctx = Context::new(
            self.queue.clone(),
            self.backend.clone(),
            message.clone(),
            self.visibility_timeout,
            asked,
        );
        Delivery { message, ctx }
    }

    /// The message is settled: nothing holds it any more.
    fn forget(&self, delivery: &Delivery) {
        delivery.ctx.settle();
    }

    /// Deletes, releases or leaves a message as its outcome says, and forgets it.
    async fn settle(&self, delivery: &Delivery, outcome: Outcome) {
        let id = &delivery.message.message_id;
        let handle = delivery.message.receipt_handle.clone();
        match outcome {
            Outcome::Done | Outcome::DeadLettered { .. } => {
                // Kept hidden until the delete lands: by this task's heartbeat
                // while it waits to hand it over, then by the acker.
                delivery.ctx.deleting();
                match outcome {
                    Outcome::DeadLettered { reason } => self.stats.count_dead_lettered(reason),
                    _ => self.stats.succeeded.inc(),
                }
                if self.acks.send(delivery.ctx.clone()).await.is_err() {
                    self.forget(delivery);
                    tracing::error!(message_id = %id, "the acker has stopped; the message will be redelivered");
                } else {
                    delivery.ctx.queued();
                }
            }
            Outcome::Release { delay } => {
                // Marked before the engine hears of it: a heartbeat due while
                // the release is on its way must not hide the message again.
                self.forget(delivery);
                let released = self
                    .backend
                    .change_visibility(&self.queue, &handle, delay)
                    .await;
                if let Err(e) = released {
                    self.stats.failed.inc();
                    tracing::warn!(message_id = %id, error = %e, "release failed; the message returns when its visibility timeout ends");
                } else {
                    self.stats.released.inc();
                }
            }
            Outcome::Expired => {
                self.forget(delivery);
                self.stats.failed.inc();
                // Run out as far as this worker can tell; but an extension
                // that landed late (an engine slow to answer) may still hide
                // it under this receive. A release by this receipt gives it
                // back now if so, and is refused by the engine if someone
                // else has received it since.
                if let Err(e) = self
                    .backend
                    .change_visibility(&self.queue, &handle, Duration::ZERO)
                    .await
                {
                    tracing::debug!(message_id = %id, error = %e, "an expired message is no longer held by this receive");
                }
            }
        }
    }
}

/// Counts a worker as busy while it lives, so that a panic cannot leave the count high.
struct Busy<'a>(&'a GroupStats);

impl<'a> Busy<'a> {
    fn new(stats: &'a GroupStats) -> Self {
        stats.busy.inc();
        Self(stats)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.dec();
    }
}

/// Splits a FIFO receive into its message groups, in the order the queue
/// gave them, each with one worker permit per message.
fn fifo_groups(
    messages: Vec<ReceivedMessage>,
    permits: &mut Vec<PoolWorker>,
) -> Vec<(Vec<ReceivedMessage>, Vec<PoolWorker>)> {
    let mut groups: Vec<(Vec<ReceivedMessage>, Vec<PoolWorker>)> = Vec::new();
    for message in messages {
        let group = message.system.message_group_id.clone();
        let at = match groups
            .iter()
            .position(|(g, _)| g[0].system.message_group_id == group)
        {
            Some(at) => at,
            None => {
                groups.push((Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[at].0.push(message);
        groups[at].1.extend(permits.pop());
    }
    groups
}

/// Logs and counts a worker task that did not end normally.
fn log_task_end(ended: Result<(), tokio::task::JoinError>, queue: &str, stats: &GroupStats) {
    if let Err(e) = ended {
        if !e.is_cancelled() {
            stats.task_failures.inc();
            tracing::error!(queue, error = %e, "a worker task failed");
        }
    }
}

/// Whether messages given back were seen by a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Never handed to a handler: their receive is undone where the engine
    /// can ([`QueueBackend::undo_receive_batch`]), so that giving them back
    /// does not spend their dead-letter queue's `maxReceiveCount` (issue 38,
    /// path 8: FIFO followers behind a failing head).
    Unprocessed,
    /// Perhaps processed in part (a task that panicked or was stopped).
    Maybe,
}

/// Makes messages visible again at once: received, but not to be processed here.
/// Gives back at once, uncounted, messages a receive brought that no
/// handler will see.
async fn give_back_unrun(backend: &dyn QueueBackend, queue: &str, messages: &[ReceivedMessage]) {
    let handles = messages.iter().map(|m| m.receipt_handle.clone()).collect();
    release_now(backend, queue, handles, Seen::Unprocessed).await;
}

async fn release_now(backend: &dyn QueueBackend, queue: &str, handles: Vec<String>, seen: Seen) {
    for chunk in handles.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| ChangeVisibilityBatchEntry {
                id: i.to_string(),
                receipt_handle: h.clone(),
                visibility_timeout: Duration::ZERO,
            })
            .collect();
        let given_back = match seen {
            Seen::Unprocessed => backend.undo_receive_batch(queue, entries).await,
            Seen::Maybe => backend.change_visibility_batch(queue, entries).await,
        };
        if let Err(e) = given_back {
            tracing::warn!(queue, error = %e, "could not release messages; they return when their visibility timeout ends");
        }
    }
}

/// The poller's wait after failed receives: exponential from 100 ms to 10 s, full jitter.
#[derive(Debug, Default)]
struct PollBackoff {
    failures: u32,
}

impl PollBackoff {
    fn next(&mut self) -> Duration {
        self.failures += 1;
        RetryPolicy::new(
            u32::MAX,
            Duration::from_millis(100),
            Duration::from_secs(10),
            2.0,
        )
        .backoff(self.failures)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow_core::SystemAttributes;

    fn delivery(handle: &str) -> Delivery {
        let backend: Arc<dyn QueueBackend> = Arc::new(ebbflow_memory::MemoryBackend::new());
        let message = Arc::new(ReceivedMessage {
            message_id: handle.to_owned(),
            receipt_handle: handle.to_owned(),
            body: String::new(),
            md5_of_body: String::new(),
            attributes: Default::default(),
            system: SystemAttributes::default(),
        });
        let ctx = Context::new(
            "q".into(),
            backend,
            message.clone(),
            Duration::from_secs(30),
            Instant::now(),
        );
        Delivery { message, ctx }
    }

    /// A job stopped at a forced shutdown: its unprocessed messages are
    /// released, a processed one whose delete it had not yet handed over is
    /// deleted, not released to run again, and one the acker holds is left to
    /// it (issue 38, path 7).
    #[tokio::test]
    async fn a_stopped_job_deletes_what_it_processed_and_releases_the_rest() {
        let [held, deleting, queued, settled] =
            ["held", "deleting", "queued", "settled"].map(delivery);
        deleting.ctx.deleting();
        queued.ctx.deleting();
        queued.ctx.queued();
        settled.ctx.settle();
        let mut left = Left::default();
        left.take(&[held, deleting, queued, settled]);
        assert_eq!(left.release, vec!["held"]);
        assert_eq!(left.delete, vec!["deleting"]);
    }
}
