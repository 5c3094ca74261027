//! Many processes on one queue, sized as one fleet. Each tick every process
//! announces its figures to the engine's consumer registry and reads
//! everyone's back; the autoscaler then decides for the whole fleet, from
//! fleet-wide arrivals, service time, busy workers and throttling, and this
//! process takes its share of the decision.

use ebbflow_core::ConsumerReport;
use std::collections::HashMap;

/// The fleet as one autoscaler input: counters summed over the members,
/// each counting only what it did while known (a newcomer adds nothing on
/// its first tick, a member that leaves just stops adding), so that members
/// coming and going never read as a burst or a lull.
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    last: HashMap<String, ConsumerReport>,
    totals: ConsumerReport,
}

/// One tick's view of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// Counters summed over the fleet (cumulative, see [`Fleet`]), with
    /// `busy`, `pool`, `desired` and `max` summed over the members now.
    pub(crate) totals: ConsumerReport,
    /// Members, this process included.
    pub(crate) members: usize,
    /// This process's place among them (they come ordered by id).
    pub(crate) rank: usize,
    /// The workers the other members may run, as they last reported them
    /// ([`held`]).
    pub(crate) others_held: u32,
}

impl Fleet {
    /// Folds this tick's reports (every member, ordered by id) into the view.
    /// A report with `max` 0 is a reader (the dashboard), not a consumer.
    pub(crate) fn fold(&mut self, me: &str, members: &[ConsumerReport]) -> View {
        let consumers: Vec<ConsumerReport> =
            members.iter().filter(|m| m.max > 0).cloned().collect();
        let members = consumers.as_slice();
        let t = &mut self.totals;
        for m in members {
            if let Some(before) = self.last.get(&m.id) {
                t.received += m.received.saturating_sub(before.received);
                t.completed += m.completed.saturating_sub(before.completed);
                t.worker_micros += m.worker_micros.saturating_sub(before.worker_micros);
                t.attempts_ok += m.attempts_ok.saturating_sub(before.attempts_ok);
                t.attempts_ok_micros += m
                    .attempts_ok_micros
                    .saturating_sub(before.attempts_ok_micros);
                t.throttled += m.throttled.saturating_sub(before.throttled);
            }
        }
        self.last = members.iter().map(|m| (m.id.clone(), m.clone())).collect();
        let mut totals = self.totals.clone();
        totals.busy = members.iter().map(|m| m.busy).sum();
        totals.pool = members.iter().map(|m| m.pool).sum();
        totals.desired = members.iter().map(|m| m.desired).sum();
        totals.max = members
            .iter()
            .fold(0u32, |sum, m| sum.saturating_add(m.max));
        View {
            totals,
            members: members.len().max(1),
            rank: members.iter().position(|m| m.id == me).unwrap_or(0),
            others_held: others_held(me, members),
        }
    }
}

/// The workers a member may run by its report: its claim, or (from a
/// consumer that predates claims) its pool or its aim, whichever is more.
pub(crate) fn held(m: &ConsumerReport) -> u32 {
    m.claim.max(m.pool).max(m.desired)
}

/// The workers every consumer but `me` may run, readers left out.
pub(crate) fn others_held(me: &str, members: &[ConsumerReport]) -> u32 {
    members
        .iter()
        .filter(|m| m.id != me && m.max > 0)
        .fold(0u32, |sum, m| sum.saturating_add(held(m)))
}

/// This member's share of `total` workers among `members`: an equal split,
/// the first `total % members` (by id) taking one more, so that the shares
/// add up to `total` exactly.
pub(crate) fn share(total: u32, members: usize, rank: usize) -> u32 {
    let n = u32::try_from(members.max(1)).unwrap_or(u32::MAX);
    let rank = u32::try_from(rank).unwrap_or(u32::MAX);
    total / n + u32::from(rank < total % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, received: u64, busy: u32) -> ConsumerReport {
        ConsumerReport {
            id: id.to_owned(),
            received,
            busy,
            pool: busy,
            desired: busy,
            max: 10,
            ..Default::default()
        }
    }

    #[test]
    fn shares_add_up_to_the_fleet_decision() {
        for total in 0..50 {
            for members in 1..6 {
                let sum: u32 = (0..members).map(|r| share(total, members, r)).sum();
                assert_eq!(sum, total, "{total} over {members}");
            }
        }
        assert_eq!([0, 1, 2].map(|r| share(40, 3, r)), [14, 13, 13]);
    }

    #[test]
    fn counters_sum_what_each_member_did_while_known() {
        let mut fleet = Fleet::default();
        let v = fleet.fold("a", &[report("a", 100, 2)]);
        assert_eq!((v.totals.received, v.members, v.rank), (0, 1, 0));
        // b arrives with a long history: none of it is new work.
        let v = fleet.fold("a", &[report("a", 110, 2), report("b", 5_000, 3)]);
        assert_eq!((v.totals.received, v.totals.busy, v.members), (10, 5, 2));
        let v = fleet.fold("a", &[report("a", 120, 1), report("b", 5_030, 3)]);
        assert_eq!(v.totals.received, 50);
        // b leaves: its history does not leave with it.
        let v = fleet.fold("a", &[report("a", 125, 1)]);
        assert_eq!((v.totals.received, v.totals.busy, v.members), (55, 1, 1));
    }

    #[test]
    fn a_reader_with_no_workers_is_no_member() {
        let mut fleet = Fleet::default();
        let mut reader = report("0-dashboard", 0, 0);
        reader.max = 0;
        let v = fleet.fold("b", &[reader, report("b", 0, 0)]);
        assert_eq!((v.members, v.rank), (1, 0));
    }

    #[test]
    fn a_member_knows_its_rank_among_ids() {
        let mut fleet = Fleet::default();
        let v = fleet.fold(
            "b",
            &[report("a", 0, 0), report("b", 0, 0), report("c", 0, 0)],
        );
        assert_eq!((v.members, v.rank), (3, 1));
    }
}
