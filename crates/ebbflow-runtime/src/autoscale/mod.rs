//! Autoscaling: each worker group's pool follows its queue's backlog.
//!
//! Every tick ([`ScalingConfig::tick`]) the controller reads the queue's
//! stats and the pool's own figures, announces them to the engine's
//! registry of the queue's consumers and reads the other processes' back
//! ([`fleet`]), asks the [`policy`] for a size for the whole fleet, and
//! resizes the [`pool`] to this process's share, retiring idle workers only.
//! On an engine with no registry (Amazon SQS) the process sizes itself for
//! its share of the backlog, read from its share of the messages in flight. Each change is logged at `info` with the inputs that caused it;
//! holds are logged at `debug`.

pub(crate) mod fleet;
pub(crate) mod policy;
pub(crate) mod pool;

use crate::stats::GroupStats;
use ebbflow_core::config::{BacklogCount, ScalingConfig};
use ebbflow_core::{ConsumerReport, QueueBackend, QueueError, QueueStats};
use fleet::{share, Fleet, View};
use policy::{Autoscaler, Decision, Observation};
use pool::Pool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A registration lasts this many ticks: a process that stops announcing
/// (crashed, stopped) leaves the fleet within them.
const REGISTRATION_TICKS: u32 = 3;

/// An id for this process's group on `queue`, unique among its consumers.
pub(crate) fn consumer_id(queue: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!(
        "{host}/{}/{queue}/{:x}{:04x}",
        std::process::id(),
        fastrand::u32(..),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// This process's group as one member of the queue's fleet.
struct Member {
    queue: Arc<str>,
    id: String,
    backend: Arc<dyn QueueBackend>,
    pool: Arc<Pool>,
    stats: Arc<GroupStats>,
    max: u32,
    /// How long a registration lasts.
    ttl: std::time::Duration,
}

impl Member {
    /// What this process tells the rest of the fleet.
    fn report(&self) -> ConsumerReport {
        let (pool, stats) = (&self.pool, &self.stats);
        ConsumerReport {
            id: self.id.clone(),
            pool: u32::try_from(stats.workers.get()).unwrap_or(u32::MAX),
            desired: pool.desired(),
            busy: u32::try_from(stats.busy.get()).unwrap_or(u32::MAX),
            max: self.max,
            received: stats.received.get(),
            completed: stats.completed(),
            worker_micros: stats.worker_micros.get(),
            attempts_ok: stats.attempts_ok.get(),
            attempts_ok_micros: stats.attempts_ok_micros.get(),
            throttled: stats.throttled.get(),
            claim: pool.claim(),
        }
    }

    async fn announce(&self, report: &ConsumerReport) -> Result<Vec<ConsumerReport>, QueueError> {
        self.backend.announce(&self.queue, report, self.ttl).await
    }

    /// Claims `wanted` workers in the registry and returns the room the
    /// others' claims, read back after this one was written, leave under
    /// `cap`: of two members claiming at once, the later sees the earlier.
    async fn claim(&self, wanted: u32, cap: u32) -> u32 {
        let mut claim = self.report();
        claim.claim = wanted.max(claim.claim);
        match self.announce(&claim).await {
            Ok(members) => cap.saturating_sub(fleet::others_held(&self.id, &members)),
            Err(e) => {
                tracing::debug!(queue = %self.queue, error = %e, "could not claim workers in the fleet's registry; not growing");
                0
            }
        }
    }

    /// Leaves the fleet: a registration that ends now, so that the others
    /// take over this share at their next tick. Under a `fleet_max` the
    /// messages still running keep their claim, renewed each tick, until they
    /// are done, so that the others do not start workers beside them above
    /// the cap.
    async fn leave(&self, capped: bool, tick: std::time::Duration) {
        self.pool.set_may_wake(false);
        loop {
            let busy = u32::try_from(self.stats.busy.get()).unwrap_or(u32::MAX);
            let mut last = self.report();
            if !capped || busy == 0 {
                let _ = self
                    .backend
                    .announce(&self.queue, &last, std::time::Duration::ZERO)
                    .await;
                return;
            }
            // Only the running messages: no pool to grow, nothing to wake.
            (last.claim, last.pool, last.desired) = (busy, busy, 0);
            let _ = self.announce(&last).await;
            tokio::time::sleep(tick).await;
        }
    }
}

/// Resizes `pool` every tick until `shutdown`.
pub(crate) async fn run(
    queue: Arc<str>,
    rules: ScalingConfig,
    backend: Arc<dyn QueueBackend>,
    pool: Arc<Pool>,
    stats: Arc<GroupStats>,
    operator_pause: tokio::sync::watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let rules_tick = rules.tick.0;
    let mut ticks = tokio::time::interval(rules_tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let me = Member {
        id: consumer_id(&queue),
        queue: queue.clone(),
        backend: backend.clone(),
        pool: pool.clone(),
        stats: stats.clone(),
        max: rules.max,
        ttl: rules_tick * REGISTRATION_TICKS,
    };
    // Without a registry, a lone process keeps under the fleet's cap too.
    let alone_max = rules.fleet_max.map_or(rules.max, |f| f.min(rules.max));
    let (min, max, fleet_max) = (rules.min, rules.max, rules.fleet_max);
    let backlog = rules.backlog.clone();
    let mut scaler = Autoscaler::new(rules);
    let mut fleet = Some(Fleet::default());
    // Views of the fleet read so far: a member's first may miss others
    // announcing in the same tick.
    let mut views = 0u32;
    let mut last_seen: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                if fleet.is_some() {
                    me.leave(fleet_max.is_some(), rules_tick).await;
                }
                return;
            }
            _ = ticks.tick() => {}
        }
        // The observation is dated by its tick, not by when its reads came
        // back: ticks are a whole tick apart, while reads that were slow
        // last time would put two observations a sliver apart, and a burst
        // seen over a sliver reads as many times its rate.
        let ticked = Instant::now();
        let queue_stats = match backend.stats(&queue).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(queue = %queue, error = %e, "autoscaler cannot read the queue's stats; keeping the pool as it is");
                continue;
            }
        };
        let mine_now = me.report();
        let mut observation = observe(ticked, &queue_stats, &backlog, &mine_now);
        if *operator_pause.borrow() {
            // Paused by an operator: the pool sits at its minimum, and the
            // idle ticks teach the policy nothing (neither a lull nor a
            // saturated downstream). This member stays in the fleet.
            scaler.hold(observation);
            pool.set_may_wake(false);
            if pool.desired() != min {
                pool.resize(min);
            }
            if fleet.is_some() {
                let mut report = me.report();
                report.desired = min;
                if let Err(e) = me.announce(&report).await {
                    tracing::debug!(queue = %queue, error = %e, "could not report to the fleet's registry while paused");
                }
                last_seen = Some(Instant::now());
            }
            continue;
        }
        let mut view: Option<View> = None;
        // This process's share of the queue where no registry tells.
        let mut fraction = 1.0;
        if let Some(f) = &mut fleet {
            match me.announce(&mine_now).await {
                Ok(members) => {
                    view = Some(f.fold(&me.id, &members));
                    // A registration that may have run out (the registry
                    // unreachable for its lifetime) was not counted by the
                    // others meanwhile: this view is a first one again.
                    let now = Instant::now();
                    let lapsed = last_seen.is_some_and(|t: Instant| now - t >= me.ttl);
                    views = if lapsed { 1 } else { views.saturating_add(1) };
                    last_seen = Some(now);
                }
                Err(QueueError::UnsupportedOperation { .. }) => {
                    tracing::info!(queue = %queue, "the engine keeps no registry of consumers: this process sizes for its share of the messages in flight");
                    fleet = None;
                }
                Err(e) => {
                    tracing::warn!(queue = %queue, error = %e, "autoscaler cannot reach the fleet's registry; keeping the pool as it is");
                    continue;
                }
            }
        }
        let previous = match &view {
            Some(v) => {
                let t = &v.totals;
                observation = observe(ticked, &queue_stats, &backlog, t);
                let members = u32::try_from(v.members).unwrap_or(u32::MAX);
                let cap = fleet_max.map_or(t.max, |f| f.min(t.max));
                scaler.set_bounds(min.saturating_mul(members), cap);
                t.desired
            }
            None => {
                // No registry (Amazon SQS): this process's share of the queue
                // is read as its share of the messages in flight, and it
                // sizes for that share of the backlog rather than for all of it.
                let in_hand = mine_now.received.saturating_sub(mine_now.completed);
                fraction = share_in_flight(in_hand, queue_stats.in_flight);
                observation.backlog = scaled(observation.backlog, fraction);
                observation.visible = scaled(observation.visible, fraction);
                scaler.set_bounds(min, alone_max);
                pool.desired()
            }
        };
        let decision = scaler.decide(observation, previous);
        let (mine, members, fleet_desired) = match &view {
            Some(v) => (
                capped(
                    share(decision.desired, v.members, v.rank).clamp(min, max),
                    v,
                    views,
                    fleet_max,
                    min,
                ),
                v.members,
                u64::from(decision.desired),
            ),
            // Estimates, from the share in flight.
            None => (
                decision.desired,
                (1.0 / fraction).round() as usize,
                (f64::from(decision.desired) / fraction).ceil() as u64,
            ),
        };
        stats.fleet_desired.set(fleet_desired);
        stats.fleet_consumers.set(members as u64);
        log(&queue, &decision, mine, members);
        if decision.desired != decision.previous {
            stats.note_decision(ebbflow_core::history::ScalingNote {
                at_ms: crate::history::now_ms(),
                from: decision.previous,
                to: decision.desired,
                reason: decision.why.as_str().to_owned(),
                backlog: decision.backlog,
            });
        }
        let mut wake = may_wake(view.as_ref(), views, fleet_max, decision.desired);
        let mut mine = mine;
        let cap = fleet_max.filter(|_| view.is_some());
        let mut announced = pool.claim();
        if let Some(cap) = cap {
            let wanted = mine.max(u32::from(wake));
            if wanted > announced {
                // More workers than this member may run now: claimed in the
                // registry before they run, and taken only as far as the
                // others' claims leave room (issue 38, path 4).
                let room = me.claim(wanted, cap).await;
                announced = wanted;
                mine = mine.min(room.max(pool.desired())).max(min);
                wake = wake && room >= 1;
            }
        }
        // A wake is withdrawn before the resize and granted after it, so
        // that the pool never holds both its old wake and its new size.
        if !wake {
            pool.set_may_wake(false);
        }
        if mine != pool.desired() {
            pool.resize(mine);
        }
        pool.set_may_wake(wake);
        if cap.is_some() && pool.claim() != announced {
            // The others' room is read from this report: a changed claim is
            // told now, not a tick later.
            if let Err(e) = me.announce(&me.report()).await {
                tracing::debug!(queue = %queue, error = %e, "could not report the new pool to the fleet's registry");
            }
        }
    }
}

/// This member's pool under a `fleet_max`: no more than the room the other
/// members' pools (as they last reported them, busy retiring workers
/// included) leave under the cap, and only its minimum at its first view of
/// the fleet, which may miss members starting beside it (each would take the
/// whole fleet's share). Shares from views that differ could otherwise add
/// up above the cap (issue 38, path 4).
fn capped(mine: u32, view: &View, views: u32, fleet_max: Option<u32>, min: u32) -> u32 {
    match fleet_max {
        Some(_) if views < 2 => min,
        Some(cap) => mine.min(cap.saturating_sub(view.others_held).max(min)),
        None => mine,
    }
}

/// Whether this member may wake on a message while its share is zero. Under
/// a `fleet_max` and a registry only the first member may, and only while the
/// whole fleet sleeps: one waking beside members already working, or two
/// waking at once, would run the fleet above the cap (issue 38, path 4).
/// Nor before its second view of the fleet (`views`): members starting
/// together each see themselves alone, and first, at their first tick.
/// Without a cap, or a registry to tell, any member may.
fn may_wake(view: Option<&View>, views: u32, fleet_max: Option<u32>, fleet_desired: u32) -> bool {
    match (view, fleet_max) {
        (Some(v), Some(_)) => views >= 2 && fleet_desired == 0 && v.rank == 0,
        _ => true,
    }
}

/// Below this share of the queue's messages in flight, a process without a
/// registry takes it that others consume the queue too. Above it, the rest
/// are its own deletes still on their way (a lone process holds nearly all).
const SHARED_BELOW: f64 = 0.75;

/// This process's share of the queue, from the messages it holds against
/// the queue's messages in flight: 1 when it seems to be alone.
fn share_in_flight(in_hand: u64, in_flight: u64) -> f64 {
    if in_flight == 0 || in_hand == 0 {
        return 1.0;
    }
    let fraction = (in_hand as f64 / in_flight as f64).min(1.0);
    if fraction < SHARED_BELOW {
        fraction
    } else {
        1.0
    }
}

fn scaled(count: u64, fraction: f64) -> u64 {
    (count as f64 * fraction).ceil() as u64
}

/// What the queue shows at the tick `at`, and the pool (this process's, or
/// the fleet's summed) in `pool`.
fn observe(
    at: Instant,
    queue: &QueueStats,
    backlog: &[BacklogCount],
    pool: &ConsumerReport,
) -> Observation {
    let backlog = backlog
        .iter()
        .map(|count| match count {
            BacklogCount::Visible => queue.visible,
            BacklogCount::Delayed => queue.delayed,
            BacklogCount::InFlight => queue.in_flight,
        })
        .sum();
    Observation {
        at,
        backlog,
        visible: queue.visible,
        busy: pool.busy,
        received: pool.received,
        completed: pool.completed,
        worker_micros: pool.worker_micros,
        attempts_ok: pool.attempts_ok,
        attempts_ok_micros: pool.attempts_ok_micros,
        throttled: pool.throttled,
    }
}

/// One decision as a log event at `$level`: the sizes and the inputs behind
/// them. `from`/`to` are the fleet's (this process's alone without a
/// registry); `pool` is this process's share.
macro_rules! decision_event {
    ($level:expr, $queue:expr, $d:expr, $pool:expr, $members:expr, $message:literal) => {
        tracing::event!(
            $level,
            queue = $queue,
            from = $d.previous,
            to = $d.desired,
            pool = $pool,
            processes = $members,
            reason = $d.why.as_str(),
            recommended = $d.recommended,
            backlog = $d.backlog,
            busy = $d.busy,
            arrivals_per_s = ($d.arrival_rate * 10.0).round() / 10.0,
            service_ms = $d.service_time.map(|s| (s * 1e3).round() as u64),
            ceiling = $d.ceiling,
            $message
        )
    };
}

/// Changes at `info`, holds at `debug`.
fn log(queue: &str, d: &Decision, pool: u32, members: usize) {
    if d.desired != d.previous {
        decision_event!(
            tracing::Level::INFO,
            queue,
            d,
            pool,
            members,
            "autoscaler resized the pool"
        );
    } else {
        decision_event!(
            tracing::Level::DEBUG,
            queue,
            d,
            pool,
            members,
            "autoscaler kept the pool"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{may_wake, share_in_flight, Member, Pool, View};
    use crate::stats::GroupStats;
    use ebbflow_core::{ConsumerReport, QueueAttributes, QueueBackend};
    use std::sync::Arc;
    use std::time::Duration;

    fn member(id: &str, backend: &Arc<dyn QueueBackend>) -> Member {
        let stats = Arc::new(GroupStats::default());
        let pool = Pool::new(0, stats.clone());
        // As a group under a `fleet_max` starts: no wake before its first tick.
        pool.set_may_wake(false);
        Member {
            queue: "jobs".into(),
            id: id.to_owned(),
            backend: backend.clone(),
            pool,
            stats,
            max: 4,
            ttl: Duration::from_secs(30),
        }
    }

    /// Two members that read the fleet at the same moment, each seeing the
    /// other idle, and both want the whole cap: the claims they write before
    /// growing leave the later no room beside the earlier (issue 38, path 4).
    #[tokio::test]
    async fn members_claiming_at_the_same_moment_share_the_cap() {
        let backend: Arc<dyn QueueBackend> = Arc::new(ebbflow_memory::MemoryBackend::new());
        backend
            .create_queue("jobs", QueueAttributes::default())
            .await
            .expect("queue");
        let (a, b) = (member("a", &backend), member("b", &backend));
        for m in [&a, &b] {
            let members = m.announce(&m.report()).await.expect("announce");
            assert_eq!(super::fleet::others_held(&m.id, &members), 0);
        }
        let (room_a, room_b) = tokio::join!(a.claim(2, 2), b.claim(2, 2));
        assert_eq!(
            room_a.min(2) + room_b.min(2),
            2,
            "rooms {room_a} and {room_b}"
        );
    }

    fn view(members: usize, rank: usize) -> View {
        View {
            totals: ConsumerReport::default(),
            members,
            rank,
            others_held: 0,
        }
    }

    /// Under a cap only the first member of a sleeping fleet may wake, and
    /// not on its first view: members starting together each see themselves
    /// alone, and first, then (issue 38, path 4).
    #[test]
    fn under_fleet_max_only_the_first_of_a_sleeping_fleet_wakes_after_its_first_view() {
        let cap = Some(2);
        assert!(!may_wake(Some(&view(1, 0)), 1, cap, 0), "first view");
        assert!(may_wake(Some(&view(3, 0)), 2, cap, 0));
        assert!(!may_wake(Some(&view(3, 1)), 2, cap, 0), "not the first");
        assert!(
            !may_wake(Some(&view(3, 0)), 2, cap, 1),
            "the fleet is awake"
        );
        assert!(may_wake(Some(&view(3, 1)), 1, None, 1), "no cap");
        assert!(may_wake(None, 0, cap, 1), "no registry to tell");
    }

    #[test]
    fn a_process_without_a_registry_reads_its_share_from_what_it_holds() {
        assert_eq!(
            share_in_flight(0, 0),
            1.0,
            "idle: alone until shown otherwise"
        );
        assert_eq!(
            share_in_flight(90, 100),
            1.0,
            "the rest are its own deletes"
        );
        assert!(
            (share_in_flight(34, 100) - 0.34).abs() < 1e-9,
            "one of three"
        );
        assert_eq!(share_in_flight(120, 100), 1.0);
    }
}
