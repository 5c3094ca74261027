//! The checker: what a history must show, decided from the events alone.

use super::{Event, EventKind};
use std::collections::{BTreeMap, HashMap};

/// Which rules apply beyond those every run keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// FIFO: within a group, one message at a time, in send order.
    pub fifo: bool,
    /// The run lets visibility timeouts run out on purpose (handlers that
    /// outlive them with no heartbeat, a stalled worker): such an expiry
    /// explains a redelivery. Kills and outages are declared in the history
    /// itself ([`EventKind::Crashed`], [`EventKind::OutageBegan`]).
    pub expiries: bool,
    /// The engine lets a handle from an earlier receive of a message change
    /// the visibility of a later one (moto does; SQS and ebbflow's engines
    /// do not): such a change, asked while the later receive held the
    /// message, may end its hiding early and explains a redelivery.
    pub stale_changes: bool,
    /// The engine's receive takes no lock (moto's does not): it can hand
    /// one message to two receives at once, or to a receive after its
    /// delete was acknowledged. What shows it — a second receive reporting
    /// the same receive count, one while another receive hid the message,
    /// one asked after an acknowledged delete, a redelivery nothing explains
    /// (an extension it lost) — is counted in
    /// [`Verdict::shared_receives`] instead of judged; every other promise
    /// (nothing lost, each processing ended, FIFO order where kept, dead
    /// letters with their reason) is still checked.
    pub shared_receives: bool,
}

/// Engines keep time in milliseconds; this much slack absorbs their rounding.
const SLACK_MS: u64 = 5;

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Acknowledged sends.
    pub sent: usize,
    /// Messages whose handler succeeded at least once.
    pub processed: usize,
    /// Messages found in the dead-letter queue.
    pub dead_lettered: usize,
    /// Messages whose handler succeeded more than once (each time under a
    /// receive the history justifies: an expired visibility or a dead worker).
    pub processed_twice: usize,
    /// Receives of a message after its first.
    pub redeliveries: usize,
    /// Redeliveries no fault explains: the message was neither released nor
    /// held by a worker that died, and no outage or declared expiry came
    /// between (each is also a violation).
    pub unexplained: usize,
    /// Workers that died.
    pub crashes: usize,
    /// Receives the engine handed out against its own promise (see
    /// [`Rules::shared_receives`]).
    pub shared_receives: usize,
    /// Every broken promise, in words.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Panics with the violations, if there are any.
    pub fn assert_ok(&self) {
        assert!(
            self.violations.is_empty(),
            "{} violations in a history of {} sends; the first ones:\n{}",
            self.violations.len(),
            self.sent,
            self.violations
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

struct Receive<'a> {
    key: &'a str,
    worker: u32,
    receive_count: u32,
    asked_at: u64,
    at: u64,
    visibility_ms: u64,
    /// (recorded at, asked at, timeout, acknowledged)
    changes: Vec<(u64, u64, u64, bool)>,
}

impl Receive<'_> {
    /// When the runtime gave the message back (asked for a change to less
    /// than its visibility timeout: heartbeats extend by a whole timeout or
    /// more), if it did by `t`.
    fn released_by(&self, t: u64) -> Option<u64> {
        self.changes
            .iter()
            .find(|&&(at, _, timeout, _)| at <= t && timeout < self.visibility_ms)
            .map(|&(_, asked_at, _, _)| asked_at)
    }

    /// Whether the runtime asked to give the message back before `t`: the
    /// engine may have applied it before a receive that returned at `t`,
    /// even when its answer came later (the two calls ran side by side).
    fn release_asked_by(&self, t: u64) -> bool {
        self.changes
            .iter()
            .any(|&(_, asked_at, timeout, _)| asked_at <= t && timeout < self.visibility_ms)
    }

    /// The earliest the message could have become visible again for a
    /// receive that returned at `t`, every change being known: a change
    /// answered by then, and acknowledged, set the deadline; one asked by
    /// then but answered later (or not acknowledged) may have been applied
    /// first, so it can only bring the deadline sooner.
    fn earliest_deadline_for(&self, t: u64) -> u64 {
        let mut deadline = self.asked_at + self.visibility_ms;
        for &(at, asked_at, timeout, ok) in &self.changes {
            if asked_at > t {
                continue;
            }
            let new = asked_at + timeout;
            deadline = if ok && at <= t {
                new
            } else {
                deadline.min(new)
            };
        }
        deadline
    }

    /// The earliest the message could have become visible again, as known at
    /// `t` (its visibility counted from the ask).
    fn deadline_as_of(&self, t: u64) -> u64 {
        let mut deadline = self.asked_at + self.visibility_ms;
        for &(at, asked_at, timeout, ok) in &self.changes {
            if at > t {
                break;
            }
            let new = asked_at + timeout;
            // An unacknowledged change may have happened: count it only when
            // it could have made the message visible sooner.
            deadline = if ok { new } else { deadline.min(new) };
        }
        deadline
    }
}

impl Receive<'_> {
    /// The latest the message could have become visible again, as known at
    /// `t`: a long poll may hand a message over as late as it returns, and
    /// its visibility starts then.
    fn latest_deadline_as_of(&self, t: u64) -> u64 {
        let mut deadline = self.at + self.visibility_ms;
        for &(at, asked_at, timeout, ok) in &self.changes {
            if at > t {
                break;
            }
            let new = asked_at + timeout;
            // An unacknowledged change may not have happened.
            deadline = if ok { new } else { deadline.max(new) };
        }
        deadline
    }
}

struct Processing<'a> {
    key: &'a str,
    handle: &'a str,
    worker: u32,
    start: u64,
    end: Option<u64>,
    ok: bool,
}

/// Decides from `events` alone whether a run kept its promises:
///
/// - no acknowledged send is lost: each one's handler succeeded, or it is in
///   the dead-letter queue;
/// - no message whose delete was acknowledged is received again;
/// - no message is received again while an earlier receive still hides it
///   (its visibility, as extended by acknowledged heartbeats, had not run
///   out), so a message is processed twice only after its visibility expired
///   or its worker died; nor is it processed twice under one receive;
/// - every dead-lettered message carries its `ebbflow.reason`;
/// - FIFO ([`Rules::fifo`]): within a group, a message's processing starts only
///   after the previous one's ended, and in send order.
pub fn check(events: &[Event], rules: Rules) -> Verdict {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.at);
    let mut v = Verdict::default();

    let mut sends: Vec<(&str, Option<&str>)> = Vec::new();
    let mut receives: HashMap<&str, Receive> = HashMap::new();
    let mut receives_of: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut deleted_at: HashMap<&str, u64> = HashMap::new();
    let mut processings: Vec<Processing> = Vec::new();
    let mut crashed_at: HashMap<u32, u64> = HashMap::new();
    let mut dead: HashMap<&str, Option<&str>> = HashMap::new();
    // The outages the run caused, as [began, ended) (open until the end).
    let mut outages: Vec<(u64, u64)> = Vec::new();
    // Redeliveries, each with the receive before it, to explain once every
    // event is in.
    let mut redelivered: Vec<(&str, &str, &str, u64)> = Vec::new();

    for e in &events {
        match &e.kind {
            EventKind::Sent { key, group } => sends.push((key, group.as_deref())),
            EventKind::Received {
                key,
                handle,
                asked_at,
                visibility_ms,
                receive_count,
            } => {
                if let Some(&at) = deleted_at.get(key.as_str()) {
                    if *asked_at > at && rules.shared_receives {
                        v.shared_receives += 1;
                    } else if *asked_at > at {
                        v.violations.push(format!(
                            "`{key}` received at {} after its delete was acknowledged at {at}",
                            e.at
                        ));
                    }
                }
                let earlier = receives_of.entry(key).or_default();
                if let Some(h) = earlier.last().filter(|h| receives.contains_key(*h)) {
                    v.redeliveries += 1;
                    // Judged once every event is in: a change asked before
                    // this receive may be answered after it.
                    redelivered.push((key, h, handle.as_str(), e.at));
                }
                earlier.push(handle);
                receives.insert(
                    handle,
                    Receive {
                        key,
                        worker: e.worker,
                        receive_count: *receive_count,
                        asked_at: *asked_at,
                        at: e.at,
                        visibility_ms: *visibility_ms,
                        changes: Vec::new(),
                    },
                );
            }
            EventKind::VisibilityChanged {
                handle,
                asked_at,
                timeout_ms,
                ok,
            } => {
                if let Some(r) = receives.get_mut(handle.as_str()) {
                    if let Some(released) = r.released_by(e.at) {
                        if *asked_at > released && *timeout_ms >= r.visibility_ms {
                            v.violations.push(format!(
                                "`{}` hidden again at {asked_at} after its release at {released}",
                                r.key
                            ));
                        }
                    }
                    r.changes.push((e.at, *asked_at, *timeout_ms, *ok));
                }
            }
            EventKind::Deleted { handle, ok: true } => {
                // As in SQS, a delete by a stale handle may succeed without
                // deleting: only the latest receive's handle counts.
                if let Some(r) = receives.get(handle.as_str()) {
                    let latest = receives_of
                        .get(r.key)
                        .and_then(|hs| hs.last())
                        .is_some_and(|h| *h == handle.as_str());
                    if latest {
                        deleted_at.entry(r.key).or_insert(e.at);
                    }
                }
            }
            EventKind::Deleted { ok: false, .. } => {}
            EventKind::Started { key, handle } => {
                if let Some(r) = receives.get(handle.as_str()) {
                    let hidden_until = r.latest_deadline_as_of(e.at);
                    if e.at > hidden_until + SLACK_MS {
                        v.violations.push(format!(
                            "`{key}` started at {} under a receive whose visibility ran out at {hidden_until}",
                            e.at
                        ));
                    }
                }
                processings.push(Processing {
                    key,
                    handle,
                    worker: e.worker,
                    start: e.at,
                    end: None,
                    ok: false,
                });
            }
            EventKind::Ended { handle, ok, .. } => {
                let open = processings
                    .iter_mut()
                    .rev()
                    .find(|p| p.handle == handle && p.worker == e.worker && p.end.is_none());
                match open {
                    Some(p) => {
                        p.end = Some(e.at);
                        p.ok = *ok;
                    }
                    None => v.violations.push(format!(
                        "an end at {} with no start (handle {handle})",
                        e.at
                    )),
                }
            }
            EventKind::DeadLettered { key, reason } => {
                dead.insert(key, reason.as_deref());
            }
            EventKind::Crashed => {
                crashed_at.entry(e.worker).or_insert(e.at);
            }
            EventKind::OutageBegan => outages.push((e.at, u64::MAX)),
            EventKind::OutageEnded => {
                if let Some(last) = outages.last_mut().filter(|o| o.1 == u64::MAX) {
                    last.1 = e.at;
                }
            }
        }
    }
    for (key, handle, next, at) in redelivered {
        let Some(prev) = receives.get(handle) else {
            continue;
        };
        let again = receives.get(next);
        // A delete acknowledged before this receive was asked that the
        // engine did not keep: the same fault, seen later.
        let deleted_before = again.is_some_and(|r| {
            deleted_at
                .get(key)
                .is_some_and(|&deleted| deleted < r.asked_at)
        });
        if rules.shared_receives
            && (deleted_before || again.is_some_and(|r| r.receive_count <= prev.receive_count))
        {
            v.shared_receives += 1;
            continue;
        }
        let mut hidden_until = prev.earliest_deadline_for(at);
        // Changes asked by earlier handles of this message while `prev`
        // held it, where the engine applies them to `prev`.
        let stale: Vec<(u64, u64)> = if rules.stale_changes {
            receives_of
                .get(key)
                .into_iter()
                .flatten()
                .take_while(|h| **h != handle)
                .filter_map(|h| receives.get(*h))
                .flat_map(|r| r.changes.iter())
                .filter(|&&(_, asked, _, _)| asked >= prev.asked_at && asked <= at)
                .map(|&(_, asked, timeout, _)| (asked, timeout))
                .collect()
        } else {
            Vec::new()
        };
        for &(asked, timeout) in &stale {
            hidden_until = hidden_until.min(asked + timeout);
        }
        if at + SLACK_MS < hidden_until && rules.shared_receives {
            v.shared_receives += 1;
            continue;
        }
        if at + SLACK_MS < hidden_until {
            v.violations.push(format!(
                "`{key}` received again at {at} while the receive at {} hid it until {hidden_until}",
                prev.at
            ));
        }
        let released = prev.release_asked_by(at)
            || stale
                .iter()
                .any(|&(asked, timeout)| asked + timeout <= at + SLACK_MS);
        let crashed = crashed_at
            .get(&prev.worker)
            .is_some_and(|&c| c >= prev.at && c <= at);
        let outage = outages
            .iter()
            .any(|&(from, to)| from <= at && to >= prev.at);
        // An extension asked in time that the engine answered only after the
        // deadline: the engine was too slow for the heartbeat.
        let late_answer = prev.changes.iter().any(|&(done, asked, _, _)| {
            let due = prev.deadline_as_of(asked);
            asked < due && done + SLACK_MS >= due
        });
        let explained = released || crashed || outage || late_answer || rules.expiries;
        if !explained && rules.shared_receives {
            // An engine that loses its own promises under load (moto) also
            // loses an extension now and then: counted apart, as the rest.
            v.shared_receives += 1;
            continue;
        }
        if !explained {
            v.unexplained += 1;
            v.violations.push(format!(
                "`{key}` received again at {at}, unexplained: the receive at {} (worker {}) was neither released nor held by a worker that died, no outage came between, and no extension of it was answered late",
                prev.at, prev.worker
            ));
        }
    }

    v.sent = sends.len();
    v.crashes = crashed_at.len();
    v.dead_lettered = dead.len();
    let mut ok_by_key: HashMap<&str, Vec<&Processing>> = HashMap::new();
    for p in processings.iter().filter(|p| p.ok) {
        ok_by_key.entry(p.key).or_default().push(p);
    }
    v.processed = ok_by_key.len();
    for (key, done) in &ok_by_key {
        if done.len() > 1 {
            v.processed_twice += 1;
        }
        let mut handles: Vec<&str> = done.iter().map(|p| p.handle).collect();
        handles.sort_unstable();
        if handles.windows(2).any(|w| w[0] == w[1]) {
            v.violations.push(format!(
                "`{key}` processed successfully twice under one receive"
            ));
        }
    }
    for (key, _) in &sends {
        if !ok_by_key.contains_key(key) && !dead.contains_key(key) {
            v.violations.push(format!(
                "`{key}`: the send was acknowledged, but it was never processed nor dead-lettered"
            ));
        }
    }
    for (key, reason) in &dead {
        if reason.is_none() {
            v.violations.push(format!(
                "`{key}` is in the dead-letter queue without `ebbflow.reason`"
            ));
        }
    }
    for p in processings.iter().filter(|p| p.end.is_none()) {
        if !crashed_at.contains_key(&p.worker) {
            v.violations.push(format!(
                "`{}`: processing started at {} never ended, and its worker did not die",
                p.key, p.start
            ));
        }
    }
    if rules.fifo {
        check_fifo(&sends, &processings, &receives, &crashed_at, &mut v);
    }
    v
}

/// Within each group: no two processings at once (unless the earlier one's
/// visibility had run out), and no message started before the one sent ahead
/// of it was done.
fn check_fifo(
    sends: &[(&str, Option<&str>)],
    processings: &[Processing],
    receives: &HashMap<&str, Receive>,
    crashed_at: &HashMap<u32, u64>,
    v: &mut Verdict,
) {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut group_of: HashMap<&str, &str> = HashMap::new();
    for &(key, group) in sends {
        let group = group.unwrap_or_default();
        groups.entry(group).or_default().push(key);
        group_of.insert(key, group);
    }
    let mut by_group: HashMap<&str, Vec<&Processing>> = HashMap::new();
    for p in processings {
        if let Some(g) = group_of.get(p.key) {
            by_group.entry(g).or_default().push(p);
        }
    }
    let end_of = |p: &Processing| {
        p.end
            .or_else(|| crashed_at.get(&p.worker).copied())
            .unwrap_or(u64::MAX)
    };
    for (group, mut ps) in by_group {
        ps.sort_by_key(|p| p.start);
        for (i, q) in ps.iter().enumerate() {
            for p in &ps[..i] {
                if q.start >= end_of(p) {
                    continue;
                }
                // Overlap is the queue's doing only if p's message had become visible again.
                let q_received = receives.get(q.handle).map_or(q.start, |r| r.at);
                let expired = receives
                    .get(p.handle)
                    .is_some_and(|r| r.deadline_as_of(q_received) <= q_received + SLACK_MS);
                if !expired {
                    v.violations.push(format!(
                        "group `{group}`: `{}` started at {} while `{}` (started at {}) was still being processed",
                        q.key, q.start, p.key, p.start
                    ));
                }
            }
        }
    }
    for (group, keys) in &groups {
        for pair in keys.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let ends: Vec<&Processing> = processings
                .iter()
                .filter(|p| p.key == before && p.end.is_some())
                .collect();
            let done = ends
                .iter()
                .filter(|p| p.ok)
                .filter_map(|p| p.end)
                .min()
                .or_else(|| ends.iter().filter_map(|p| p.end).max());
            let first_start = processings
                .iter()
                .filter(|p| p.key == after)
                .map(|p| p.start)
                .min();
            if let (Some(done), Some(start)) = (done, first_start) {
                if start < done {
                    v.violations.push(format!(
                        "group `{group}`: `{after}` started at {start}, before `{before}`, sent ahead of it, was done at {done}"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: u64, worker: u32, kind: EventKind) -> Event {
        Event { at, worker, kind }
    }

    fn sent(at: u64, key: &str, group: Option<&str>) -> Event {
        ev(
            at,
            0,
            EventKind::Sent {
                key: key.into(),
                group: group.map(Into::into),
            },
        )
    }

    fn received(at: u64, key: &str, handle: &str, vis: u64) -> Event {
        ev(
            at,
            1,
            EventKind::Received {
                key: key.into(),
                handle: handle.into(),
                receive_count: 1,
                asked_at: at,
                visibility_ms: vis,
            },
        )
    }

    fn run(at: u64, end: u64, key: &str, handle: &str, ok: bool) -> [Event; 2] {
        [
            ev(
                at,
                1,
                EventKind::Started {
                    key: key.into(),
                    handle: handle.into(),
                },
            ),
            ev(
                end,
                1,
                EventKind::Ended {
                    key: key.into(),
                    handle: handle.into(),
                    ok,
                },
            ),
        ]
    }

    fn deleted(at: u64, handle: &str) -> Event {
        ev(
            at,
            1,
            EventKind::Deleted {
                handle: handle.into(),
                ok: true,
            },
        )
    }

    const EXPIRIES: Rules = Rules {
        fifo: false,
        expiries: true,
        stale_changes: false,
        shared_receives: false,
    };

    fn changed(at: u64, handle: &str, timeout_ms: u64) -> Event {
        ev(
            at,
            1,
            EventKind::VisibilityChanged {
                handle: handle.into(),
                asked_at: at,
                timeout_ms,
                ok: true,
            },
        )
    }

    /// A message processed, never deleted nor released, and received again
    /// once its visibility ran out: a duplicate no fault explains. A release,
    /// the holder's death or an outage in between each explain it.
    #[test]
    fn a_redelivery_needs_a_release_a_death_or_an_outage() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 100)];
        h.extend(run(2, 3, "a", "h1", true));
        h.push(received(200, "a", "h2", 100));
        h.extend(run(201, 202, "a", "h2", true));
        h.push(deleted(203, "h2"));
        let v = check(&h, Rules::default());
        assert_eq!(
            (v.unexplained, v.processed_twice),
            (1, 1),
            "{:?}",
            v.violations
        );
        assert!(
            v.violations[0].contains("unexplained"),
            "{:?}",
            v.violations
        );

        let mut released = h.clone();
        released.push(changed(4, "h1", 0));
        check(&released, Rules::default()).assert_ok();

        let mut died = h.clone();
        died.push(ev(50, 1, EventKind::Crashed));
        check(&died, Rules::default()).assert_ok();

        // A heartbeat asked at 60, in time, that the engine answered at 150.
        let mut slow = h.clone();
        slow.push(ev(
            150,
            1,
            EventKind::VisibilityChanged {
                handle: "h1".into(),
                asked_at: 60,
                timeout_ms: 100,
                ok: true,
            },
        ));
        check(&slow, Rules::default()).assert_ok();

        let mut outage = h.clone();
        outage.push(ev(40, 0, EventKind::OutageBegan));
        outage.push(ev(60, 0, EventKind::OutageEnded));
        check(&outage, Rules::default()).assert_ok();

        // An outage over before the message was received explains nothing.
        let mut before = h;
        before.insert(1, ev(0, 0, EventKind::OutageBegan));
        before.insert(2, ev(0, 0, EventKind::OutageEnded));
        assert_eq!(check(&before, Rules::default()).unexplained, 1);
    }

    /// A handler that outlived its receive releases the message by its old
    /// handle while a second receive holds it, and a third receive follows:
    /// a violation where handles are per receive (SQS, ebbflow's engines),
    /// explained where the engine applies a stale handle's change (moto).
    #[test]
    fn a_stale_handles_release_counts_only_where_the_engine_applies_it() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 100)];
        h.push(ev(
            2,
            1,
            EventKind::Started {
                key: "a".into(),
                handle: "h1".into(),
            },
        ));
        h.push(received(120, "a", "h2", 100));
        h.push(ev(
            150,
            1,
            EventKind::Ended {
                key: "a".into(),
                handle: "h1".into(),
                ok: false,
            },
        ));
        h.push(changed(150, "h1", 0));
        h.push(received(160, "a", "h3", 100));
        h.extend(run(161, 162, "a", "h3", true));
        h.push(deleted(163, "h3"));
        // h1's handler outlived its visibility on purpose.
        let v = check(&h, EXPIRIES);
        assert!(
            v.violations.iter().any(|m| m.contains("hid it until 220")),
            "{:?}",
            v.violations
        );
        let moto = Rules {
            stale_changes: true,
            ..EXPIRIES
        };
        check(&h, moto).assert_ok();
    }

    /// Two receives of one message 10 ms apart: the engine handed one
    /// message out twice. A violation where the engine is held to SQS's
    /// promise, counted apart where it is known to do it (moto); a
    /// redelivery after the hiding ended is still judged there.
    #[test]
    fn one_receive_handed_out_twice_is_counted_apart_only_where_allowed() {
        let received_as = |at: u64, handle: &str, count: u32| {
            ev(
                at,
                1,
                EventKind::Received {
                    key: "a".into(),
                    handle: handle.into(),
                    receive_count: count,
                    asked_at: at - 5,
                    visibility_ms: 1000,
                },
            )
        };
        let mut h = vec![sent(0, "a", None), received_as(100, "h1", 1)];
        h.extend(run(101, 102, "a", "h1", false));
        h.push(received_as(110, "h2", 1));
        h.extend(run(111, 112, "a", "h2", true));
        h.push(deleted(113, "h2"));
        let shared = Rules {
            shared_receives: true,
            ..Rules::default()
        };
        assert!(!check(&h, Rules::default()).violations.is_empty());
        let v = check(&h, shared);
        v.assert_ok();
        assert_eq!(v.shared_receives, 1);

        // Within the first receive's hiding, with a higher count: the same
        // race seen from the other side; also counted apart where allowed.
        let mut during = h.clone();
        during[4] = received_as(110, "h2", 2);
        assert!(!check(&during, Rules::default()).violations.is_empty());
        assert_eq!(check(&during, shared).shared_receives, 1);

        // Handed out after its delete was acknowledged.
        let mut after_delete = h.clone();
        after_delete.push(received_as(200, "h3", 3));
        after_delete.extend(run(201, 202, "a", "h3", true));
        assert!(check(&after_delete, Rules::default())
            .violations
            .iter()
            .any(|m| m.contains("after its delete")));
        let v = check(&after_delete, shared);
        assert!(v.shared_receives >= 2, "{v:?}");
        assert!(!v.violations.iter().any(|m| m.contains("after its delete")));
        // …even once the hiding is over (a delete the engine lost).
        let mut lost = h.clone();
        lost.push(received_as(1300, "h3", 3));
        lost.extend(run(1301, 1302, "a", "h3", true));
        assert!(!check(&lost, Rules::default()).violations.is_empty());
        check(&lost, shared).assert_ok();

        // After the hiding, with a higher count and no cause: judged where
        // the engine keeps its promises, counted apart where it does not.
        let mut redelivered = h.clone();
        redelivered[4] = received_as(1200, "h2", 2);
        redelivered[5] = ev(
            1201,
            1,
            EventKind::Started {
                key: "a".into(),
                handle: "h2".into(),
            },
        );
        redelivered[6] = ev(
            1202,
            1,
            EventKind::Ended {
                key: "a".into(),
                handle: "h2".into(),
                ok: true,
            },
        );
        redelivered[7] = deleted(1203, "h2");
        assert_eq!(check(&redelivered, Rules::default()).unexplained, 1);
        let v = check(&redelivered, shared);
        assert_eq!(
            (v.unexplained, v.shared_receives),
            (0, 1),
            "{:?}",
            v.violations
        );
    }

    /// A release asked before a receive returned, answered after it: the
    /// engine may have applied it first (the calls ran side by side), so the
    /// receive is neither a violation nor an unexplained redelivery. A
    /// receive with no release asked before it still is.
    #[test]
    fn a_release_answered_after_a_receive_it_made_possible_explains_it() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 100)];
        h.extend(run(2, 3, "a", "h1", false));
        h.push(changed(50, "h1", 100));
        h.push(received(60, "a", "h2", 100));
        h.push(ev(
            70,
            1,
            EventKind::VisibilityChanged {
                handle: "h1".into(),
                asked_at: 55,
                timeout_ms: 0,
                ok: true,
            },
        ));
        h.extend(run(61, 62, "a", "h2", true));
        h.push(deleted(63, "h2"));
        check(&h, Rules::default()).assert_ok();

        let mut unasked = h.clone();
        unasked.retain(|e| !matches!(&e.kind, EventKind::VisibilityChanged { timeout_ms: 0, .. }));
        let v = check(&unasked, Rules::default());
        assert!(
            v.violations.iter().any(|m| m.contains("while the receive")),
            "{:?}",
            v.violations
        );
    }

    /// A heartbeat asked after the message was released hides it again.
    #[test]
    fn a_message_hidden_again_after_its_release_is_caught() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 100)];
        h.extend(run(2, 3, "a", "h1", false));
        h.push(changed(4, "h1", 0));
        h.push(changed(5, "h1", 100));
        h.push(received(200, "a", "h2", 100));
        h.extend(run(201, 202, "a", "h2", true));
        let v = check(&h, Rules::default());
        assert!(
            v.violations.iter().any(|m| m.contains("hidden again")),
            "{:?}",
            v.violations
        );
    }

    #[test]
    fn a_start_after_the_visibility_ran_out_is_caught() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 100)];
        h.extend(run(500, 501, "a", "h1", true));
        let v = check(&h, Rules::default());
        assert!(
            v.violations
                .iter()
                .any(|m| m.contains("visibility ran out")),
            "{:?}",
            v.violations
        );
    }

    /// A long poll asked at 0 that returned at 6,000 may have handed the
    /// message over then: a start at once is not after its visibility ran out.
    #[test]
    fn a_start_right_after_a_long_poll_is_in_time() {
        let mut h = vec![
            sent(0, "a", None),
            ev(
                6000,
                1,
                EventKind::Received {
                    key: "a".into(),
                    handle: "h1".into(),
                    receive_count: 1,
                    asked_at: 0,
                    visibility_ms: 4000,
                },
            ),
        ];
        h.extend(run(6001, 6002, "a", "h1", true));
        h.push(deleted(6003, "h1"));
        check(&h, Rules::default()).assert_ok();
    }

    #[test]
    fn a_delete_by_a_stale_handle_does_not_count_as_deleted() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 10)];
        h.extend(run(2, 3, "a", "h1", true));
        h.push(received(20, "a", "h2", 10));
        h.push(deleted(21, "h1"));
        h.push(received(40, "a", "h3", 10));
        h.extend(run(41, 42, "a", "h3", true));
        check(&h, EXPIRIES).assert_ok();
    }

    #[test]
    fn a_clean_history_passes() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 1000)];
        h.extend(run(2, 3, "a", "h1", true));
        h.push(deleted(4, "h1"));
        let v = check(&h, Rules::default());
        v.assert_ok();
        assert_eq!((v.sent, v.processed), (1, 1));
    }

    #[test]
    fn an_acknowledged_send_never_processed_is_lost() {
        let v = check(&[sent(0, "a", None)], Rules::default());
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(v.violations[0].contains("never processed"));
    }

    #[test]
    fn a_receive_after_an_acknowledged_delete_is_caught() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 10)];
        h.extend(run(2, 3, "a", "h1", true));
        h.push(deleted(4, "h1"));
        h.push(received(100, "a", "h2", 10));
        let v = check(&h, Rules::default());
        assert!(
            v.violations.iter().any(|m| m.contains("after its delete")),
            "{:?}",
            v.violations
        );
    }

    #[test]
    fn a_redelivery_while_hidden_is_caught_and_one_after_expiry_is_not() {
        // Hidden until 1 + 1000 (and extended to 500 + 1000 by a heartbeat).
        let base = vec![
            sent(0, "a", None),
            received(1, "a", "h1", 1000),
            ev(
                501,
                1,
                EventKind::VisibilityChanged {
                    handle: "h1".into(),
                    asked_at: 500,
                    timeout_ms: 1000,
                    ok: true,
                },
            ),
        ];
        let mut early = base.clone();
        early.push(received(1200, "a", "h2", 1000));
        early.extend(run(1201, 1202, "a", "h2", true));
        let v = check(&early, Rules::default());
        assert!(
            v.violations.iter().any(|m| m.contains("received again")),
            "{:?}",
            v.violations
        );

        let mut late = base;
        late.push(received(1600, "a", "h2", 1000));
        late.extend(run(1601, 1602, "a", "h2", true));
        check(&late, EXPIRIES).assert_ok();
        // Unless the run let it expire on purpose, that one needs a reason.
        let v = check(&late, Rules::default());
        assert_eq!(v.unexplained, 1, "{:?}", v.violations);
    }

    #[test]
    fn fifo_overlap_and_order_are_caught() {
        let mut h = vec![
            sent(0, "a", Some("g")),
            sent(1, "b", Some("g")),
            received(2, "a", "ha", 1000),
            received(2, "b", "hb", 1000),
        ];
        // b runs while a runs, and finishes first.
        h.extend(run(3, 10, "a", "ha", true));
        h.extend(run(4, 5, "b", "hb", true));
        let v = check(
            &h,
            Rules {
                fifo: true,
                ..Rules::default()
            },
        );
        assert!(
            v.violations
                .iter()
                .any(|m| m.contains("still being processed")),
            "{:?}",
            v.violations
        );
        assert!(
            v.violations.iter().any(|m| m.contains("sent ahead")),
            "{:?}",
            v.violations
        );
        // The same without FIFO rules is fine.
        check(&h, Rules::default()).assert_ok();
    }

    #[test]
    fn a_dead_letter_without_reason_and_an_unended_processing_are_caught() {
        let h = vec![
            sent(0, "a", None),
            sent(0, "b", None),
            received(1, "a", "ha", 1000),
            ev(
                2,
                1,
                EventKind::Started {
                    key: "a".into(),
                    handle: "ha".into(),
                },
            ),
            ev(
                9,
                0,
                EventKind::DeadLettered {
                    key: "a".into(),
                    reason: None,
                },
            ),
            ev(
                9,
                0,
                EventKind::DeadLettered {
                    key: "b".into(),
                    reason: Some("permanent".into()),
                },
            ),
        ];
        let v = check(&h, Rules::default());
        assert!(v
            .violations
            .iter()
            .any(|m| m.contains("without `ebbflow.reason`")));
        assert!(v.violations.iter().any(|m| m.contains("never ended")));
        // A dead worker explains the unended processing.
        let mut crashed = h.clone();
        crashed.push(ev(5, 1, EventKind::Crashed));
        let v = check(&crashed, Rules::default());
        assert!(
            !v.violations.iter().any(|m| m.contains("never ended")),
            "{:?}",
            v.violations
        );
    }
}
