//! The checker: what a history must show, decided from the events alone.

use super::{Event, EventKind};
use std::collections::{BTreeMap, HashMap};

/// Which rules apply beyond those every run keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// FIFO: within a group, one message at a time, in send order.
    pub fifo: bool,
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
    /// Workers that died.
    pub crashes: usize,
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
    asked_at: u64,
    at: u64,
    visibility_ms: u64,
    /// (recorded at, asked at, timeout, acknowledged)
    changes: Vec<(u64, u64, u64, bool)>,
}

impl Receive<'_> {
    /// The earliest the message could have become visible again, as known at `t`.
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

    for e in &events {
        match &e.kind {
            EventKind::Sent { key, group } => sends.push((key, group.as_deref())),
            EventKind::Received {
                key,
                handle,
                asked_at,
                visibility_ms,
                ..
            } => {
                if let Some(&at) = deleted_at.get(key.as_str()) {
                    if *asked_at > at {
                        v.violations.push(format!(
                            "`{key}` received at {} after its delete was acknowledged at {at}",
                            e.at
                        ));
                    }
                }
                let earlier = receives_of.entry(key).or_default();
                if let Some(prev) = earlier.last().and_then(|h| receives.get(h)) {
                    v.redeliveries += 1;
                    let hidden_until = prev.deadline_as_of(e.at);
                    if e.at + SLACK_MS < hidden_until {
                        v.violations.push(format!(
                            "`{key}` received again at {} while the receive at {} hid it until {hidden_until}",
                            e.at, prev.at
                        ));
                    }
                }
                earlier.push(handle);
                receives.insert(
                    handle,
                    Receive {
                        key,
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
                    let hidden_until = r.deadline_as_of(e.at);
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

    #[test]
    fn a_delete_by_a_stale_handle_does_not_count_as_deleted() {
        let mut h = vec![sent(0, "a", None), received(1, "a", "h1", 10)];
        h.extend(run(2, 3, "a", "h1", true));
        h.push(received(20, "a", "h2", 10));
        h.push(deleted(21, "h1"));
        h.push(received(40, "a", "h3", 10));
        h.extend(run(41, 42, "a", "h3", true));
        check(&h, Rules::default()).assert_ok();
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
        check(&late, Rules::default()).assert_ok();
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
        let v = check(&h, Rules { fifo: true });
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
