//! The consumers of one queue, as each sees the others: every worker process
//! announces itself each autoscaler tick ([`crate::QueueBackend::announce`])
//! and reads back everyone's report, so that the processes size one fleet
//! instead of N copies of it.

use serde::{Deserialize, Serialize};

/// What one consumer of a queue tells the others at each tick. Counters
/// are cumulative since the consumer started.
///
/// ```
/// use ebbflow_core::ConsumerReport;
/// let me = ConsumerReport { id: "host-a/1234/orders".into(), pool: 4, ..Default::default() };
/// assert_eq!(me.pool, 4);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerReport {
    /// Unique among the queue's consumers (host, process and group, say).
    pub id: String,
    /// Workers now.
    pub pool: u32,
    /// The pool size it aims for.
    pub desired: u32,
    /// The most workers it may run until its next report: its pool, its
    /// aim, or the one worker a message may wake. Under a `fleet_max` a
    /// member claims workers here, and reads the others' claims back, before
    /// it runs them; the others count it by this, so that members deciding
    /// at the same moment cannot together pass the cap. Absent (0) from
    /// consumers that predate it.
    #[serde(default)]
    pub claim: u32,
    /// Workers running a message now.
    pub busy: u32,
    /// Its own bound (`max`): a machine's resource.
    pub max: u32,
    /// Messages received.
    pub received: u64,
    /// Messages that reached an outcome.
    pub completed: u64,
    /// Worker time spent on those messages, in microseconds.
    pub worker_micros: u64,
    /// Successful handler attempts, and their summed duration in microseconds.
    pub attempts_ok: u64,
    /// See `attempts_ok`.
    pub attempts_ok_micros: u64,
    /// Attempts that failed with a throttling error.
    pub throttled: u64,
}

/// A queue's consumers with the time (ms since the Unix epoch) each
/// registration runs out: what an engine keeps for
/// [`crate::QueueBackend::announce`].
pub type Registrations = std::collections::BTreeMap<String, (ConsumerReport, u64)>;

/// Records `me` until `expires_ms`, forgets registrations that ran out by
/// `now_ms`, and returns the live consumers ordered by id.
///
/// ```
/// use ebbflow_core::{fleet::{announce_in, Registrations}, ConsumerReport};
/// let mut members = Registrations::new();
/// let a = ConsumerReport { id: "a".into(), ..Default::default() };
/// let b = ConsumerReport { id: "b".into(), ..Default::default() };
/// announce_in(&mut members, &a, 1_000, 0);
/// assert_eq!(announce_in(&mut members, &b, 2_000, 500).len(), 2);
/// // a's registration ran out at 1,000.
/// assert_eq!(announce_in(&mut members, &b, 3_000, 1_500), vec![b]);
/// ```
pub fn announce_in(
    members: &mut Registrations,
    me: &ConsumerReport,
    expires_ms: u64,
    now_ms: u64,
) -> Vec<ConsumerReport> {
    members.insert(me.id.clone(), (me.clone(), expires_ms));
    members.retain(|_, (_, expires)| *expires > now_ms);
    members.values().map(|(report, _)| report.clone()).collect()
}

/// When a registration made at `now_ms` for `ttl` runs out, in ms since
/// the Unix epoch (as the engines that keep registrations store it).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ebbflow_core::fleet::expires_at(1_000, Duration::from_secs(3)), 4_000);
/// ```
pub fn expires_at(now_ms: i64, ttl: std::time::Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}
