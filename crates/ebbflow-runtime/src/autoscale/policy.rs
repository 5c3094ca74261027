//! The sizing rule: from what the queue and the pool show at each tick to
//! the pool size to aim for. Pure arithmetic over [`Observation`]s, so every
//! rule is tested without a runtime.

use ebbflow_core::config::ScalingConfig;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// What the autoscaler sees at one tick. Counters are cumulative since start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    pub(crate) at: Instant,
    /// The configured backlog counts of the queue, summed.
    pub(crate) backlog: u64,
    /// Messages waiting to be received.
    pub(crate) visible: u64,
    /// Workers running a message.
    pub(crate) busy: u32,
    /// Messages received by this pool.
    pub(crate) received: u64,
    /// Messages that reached an outcome.
    pub(crate) completed: u64,
    /// Worker time spent on those messages, in microseconds.
    pub(crate) worker_micros: u64,
    /// Successful handler attempts, and their summed duration in microseconds.
    pub(crate) attempts_ok: u64,
    pub(crate) attempts_ok_micros: u64,
    /// Attempts that failed with a throttling error.
    pub(crate) throttled: u64,
}

/// Why the pool size is what it is after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// The first tick only takes a baseline.
    Measuring,
    /// Grown to the recommendation.
    Demand,
    /// Shrunk to the highest recommendation of the stabilisation window.
    Lull,
    /// Unchanged: the recommendation equals the pool.
    Steady,
    /// Unchanged: shrinking waits for the stabilisation window.
    Stabilising,
    /// Unchanged: a change in this direction happened within the cooldown.
    Cooldown,
    /// Held at or cut to what the downstream sustains (throttling errors, or
    /// more workers that did not add throughput).
    Saturated,
}

impl Why {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Why::Measuring => "measuring",
            Why::Demand => "demand",
            Why::Lull => "lull",
            Why::Steady => "steady",
            Why::Stabilising => "stabilising",
            Why::Cooldown => "cooldown",
            Why::Saturated => "saturated",
        }
    }
}

/// One tick's decision with the inputs that caused it, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    pub(crate) previous: u32,
    pub(crate) desired: u32,
    /// What this tick's figures alone ask for, before stabilisation.
    pub(crate) recommended: u32,
    pub(crate) why: Why,
    pub(crate) backlog: u64,
    pub(crate) busy: u32,
    /// Estimated arrivals per second.
    pub(crate) arrival_rate: f64,
    /// Estimated worker seconds per message, once measured.
    pub(crate) service_time: Option<f64>,
    /// The most workers the downstream sustains, once saturation was seen.
    pub(crate) ceiling: Option<u32>,
}

/// After a saturation cut, ticks without throttling before the ceiling is
/// raised by a tenth to probe whether the downstream recovered.
const PROBE_AFTER_TICKS: u32 = 10;
/// After a saturation cut, ticks whose throttling does not cut again. The
/// messages that were throttled before the cut are still retrying, and the
/// workers the cut retired still finishing: throttling from them says
/// nothing new of the downstream, and the successful attempts they crowd out
/// would read as a downstream that sustains far less than it does.
const HOLD_AFTER_CUT_TICKS: u32 = 3;
/// A growth counts as wasted when throughput rose by less than this share of
/// what the added workers should have brought.
const MIN_GAIN_SHARE: f64 = 0.25;
/// The handler time is averaged over the latest ticks that finished at
/// least this many messages: one tick for fast handlers, longer for slow or
/// heavy-tailed ones, whose per-tick averages swing with every straggler.
const SERVICE_TIME_MESSAGES: u64 = 200;
/// The longest such window, in ticks.
const SERVICE_TIME_TICKS: usize = 120;

/// The autoscaler of one worker group.
#[derive(Debug)]
pub(crate) struct Autoscaler {
    rules: ScalingConfig,
    last: Option<Observation>,
    service_time: Option<f64>,
    /// Per tick: worker microseconds and messages finished.
    finished: VecDeque<(u64, u64)>,
    /// Recent recommendations, for the stabilisation windows.
    history: VecDeque<(Instant, u32)>,
    last_up: Option<Instant>,
    last_down: Option<Instant>,
    ceiling: Option<Ceiling>,
    trial: Option<Trial>,
}

/// What the downstream was seen to sustain.
#[derive(Debug, Clone, Copy)]
struct Ceiling {
    workers: u32,
    quiet_ticks: u32,
    /// Ticks left in which throttling holds the ceiling instead of cutting it.
    hold_ticks: u32,
}

/// A growth under test: did throughput follow the workers?
#[derive(Debug, Clone, Copy)]
struct Trial {
    from: u32,
    to: u32,
    throughput_before: f64,
    judge_at: Instant,
}

impl Autoscaler {
    /// An autoscaler following `rules`.
    pub(crate) fn new(rules: ScalingConfig) -> Self {
        Self {
            rules,
            last: None,
            service_time: None,
            finished: VecDeque::new(),
            history: VecDeque::new(),
            last_up: None,
            last_down: None,
            ceiling: None,
            trial: None,
        }
    }

    /// Sets the sizes decisions stay within: a process's own `min..=max`,
    /// or, deciding for a fleet, the members' summed bounds.
    pub(crate) fn set_bounds(&mut self, min: u32, max: u32) {
        self.rules.min = min;
        self.rules.max = max.max(min);
    }

    /// Takes `now` as the baseline of the next decision without deciding:
    /// a tick whose figures say nothing of demand (the queue is paused).
    /// A growth under test is dropped, since its throughput was cut short.
    pub(crate) fn hold(&mut self, now: Observation) {
        self.last = Some(now);
        self.trial = None;
    }

    /// Decides the pool size after observing `now`. `desired` is the pool's
    /// aim now, which a message arriving at an empty pool may have raised.
    pub(crate) fn decide(&mut self, now: Observation, desired: u32) -> Decision {
        let previous = desired;
        let Some(last) = self.last.replace(now) else {
            return self.decision(now, previous, previous, previous, Why::Measuring, 0.0);
        };
        // Rates over at least half a tick: when the last tick's reads were
        // slow (a loaded machine), this one comes soon after them, and a
        // burst seen over that sliver would read as tens of thousands a
        // second (a process of a three-process fleet ran 3,243 workers
        // where one process alone ran 493).
        let dt = now
            .at
            .saturating_duration_since(last.at)
            .as_secs_f64()
            .max(self.rules.tick.0.as_secs_f64() / 2.0)
            .max(1e-3);
        let received_rate = now.received.saturating_sub(last.received) as f64 / dt;
        let visible_change = (now.visible as f64 - last.visible as f64) / dt;
        // What came in is what we took plus what piled up.
        let arrival_rate = (received_rate + visible_change).max(0.0);
        let completed = now.completed.saturating_sub(last.completed);
        let throughput = completed as f64 / dt;
        self.measure_service_time(
            now.worker_micros.saturating_sub(last.worker_micros),
            completed,
        );

        let mut recommended = self.recommend(now, arrival_rate);
        let saturated = self.check_saturation(now, last, dt, previous, throughput);
        if let Some(c) = self.ceiling {
            recommended = recommended.min(c.workers.max(self.rules.min));
        }
        self.remember(now.at, recommended);

        let (target, why) = if saturated && recommended < previous {
            // A downstream that is already overloaded gets relief now, not
            // after the stabilisation window.
            (recommended, Why::Saturated)
        } else {
            self.stabilised(now.at, recommended, previous)
        };
        if target > previous {
            self.last_up = Some(now.at);
            if let Some(trial) = self.trial_for(previous, target, now, throughput) {
                self.trial = Some(trial);
            }
        } else if target < previous {
            self.last_down = Some(now.at);
        }
        let why = match why {
            Why::Demand | Why::Steady if self.ceiling.is_some_and(|c| target >= c.workers) => {
                Why::Saturated
            }
            other => other,
        };
        self.decision(now, previous, target, recommended, why, arrival_rate)
    }

    /// Worker time per finished message over the latest ticks that finished
    /// [`SERVICE_TIME_MESSAGES`] (or over [`SERVICE_TIME_TICKS`]).
    fn measure_service_time(&mut self, worker_micros: u64, completed: u64) {
        self.finished.push_front((worker_micros, completed));
        self.finished.truncate(SERVICE_TIME_TICKS);
        let (mut micros, mut count) = (0u64, 0u64);
        for &(m, c) in &self.finished {
            micros += m;
            count += c;
            if count >= SERVICE_TIME_MESSAGES {
                break;
            }
        }
        if count > 0 {
            self.service_time = Some(micros as f64 / count as f64 / 1e6);
        }
    }

    /// The pool size this tick's figures ask for, clamped to `min..=max`.
    fn recommend(&self, now: Observation, arrival_rate: f64) -> u32 {
        let backlog = now.backlog as f64;
        let raw = match (self.rules.target_backlog_per_worker, self.service_time) {
            (Some(per_worker), _) => backlog / f64::from(per_worker),
            // Little's law for the arrivals, plus the workers that clear
            // the backlog within the target drain time.
            (None, Some(s)) => {
                arrival_rate * s + backlog * s / self.rules.target_drain_time.0.as_secs_f64()
            }
            // Nothing measured yet: one worker per message in hand or waiting.
            (None, None) => f64::from(now.busy) + backlog,
        };
        let workers = (raw - 1e-6).ceil().clamp(0.0, f64::from(u32::MAX)) as u32;
        workers.clamp(self.rules.min, self.rules.max)
    }

    /// Updates the saturation ceiling; true when this tick saw saturation.
    fn check_saturation(
        &mut self,
        now: Observation,
        last: Observation,
        dt: f64,
        current: u32,
        throughput: f64,
    ) -> bool {
        let throttled = now.throttled.saturating_sub(last.throttled);
        if let Some(c) = self
            .ceiling
            .as_mut()
            .filter(|c| throttled > 0 && c.hold_ticks > 0)
        {
            c.hold_ticks -= 1;
            c.quiet_ticks = 0;
            self.trial = None;
            return true;
        }
        if throttled > 0 {
            // Little's law again: the concurrency the downstream actually
            // served is successful attempts per second × their duration.
            let ok = now.attempts_ok.saturating_sub(last.attempts_ok);
            let sustained = if ok > 0 {
                let ok_time = now
                    .attempts_ok_micros
                    .saturating_sub(last.attempts_ok_micros) as f64
                    / 1e6;
                (ok_time / dt).round() as u32
            } else {
                current / 2
            };
            self.ceiling = Some(Ceiling {
                workers: sustained.max(1),
                quiet_ticks: 0,
                hold_ticks: HOLD_AFTER_CUT_TICKS,
            });
            self.trial = None;
            return true;
        }
        if let Some(trial) = self.trial {
            if now.at >= trial.judge_at {
                self.trial = None;
                let expected = trial.throughput_before * f64::from(trial.to - trial.from)
                    / f64::from(trial.from);
                let still_loaded = now.backlog > 0 && now.busy * 10 >= current * 9;
                if still_loaded && throughput - trial.throughput_before < MIN_GAIN_SHARE * expected
                {
                    self.ceiling = Some(Ceiling {
                        workers: trial.from,
                        quiet_ticks: 0,
                        hold_ticks: 0,
                    });
                    return true;
                }
            }
        }
        if let Some(c) = &mut self.ceiling {
            c.quiet_ticks += 1;
            c.hold_ticks = c.hold_ticks.saturating_sub(1);
            if c.quiet_ticks >= PROBE_AFTER_TICKS && current >= c.workers {
                c.workers += (c.workers / 10).max(1);
                c.quiet_ticks = 0;
            }
            if c.workers >= self.rules.max {
                self.ceiling = None;
            }
        }
        false
    }

    /// A growth worth checking for wasted workers: from a fully busy pool
    /// with a backlog, judged once the new workers have had time to work.
    fn trial_for(&self, from: u32, to: u32, now: Observation, throughput: f64) -> Option<Trial> {
        let s = self.service_time?;
        let fully_busy = from > 0 && now.busy >= from && now.backlog > 0;
        (fully_busy && to >= from + from / 5 && throughput > 0.0).then(|| Trial {
            from,
            to,
            throughput_before: throughput,
            judge_at: now.at + self.rules.tick.0 * 2 + Duration::from_secs_f64(s.min(60.0)),
        })
    }

    fn remember(&mut self, at: Instant, recommended: u32) {
        self.history.push_back((at, recommended));
        let keep = self
            .rules
            .up
            .stabilisation
            .0
            .max(self.rules.down.stabilisation.0);
        while let Some(&(t, _)) = self.history.front() {
            if at.saturating_duration_since(t) >= keep {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }

    /// Applies the stabilisation windows, steps and cooldowns: growing takes
    /// the lowest recommendation of the up window, shrinking the highest of
    /// the down window.
    fn stabilised(&self, at: Instant, recommended: u32, current: u32) -> (u32, Why) {
        let window = |d: Duration| {
            self.history
                .iter()
                .filter(move |(t, _)| at.saturating_duration_since(*t) < d || *t == at)
                .map(|&(_, r)| r)
        };
        let up = window(self.rules.up.stabilisation.0)
            .min()
            .unwrap_or(recommended);
        let down = window(self.rules.down.stabilisation.0)
            .max()
            .unwrap_or(recommended);
        let cooling = |last: Option<Instant>, cooldown: Duration| {
            last.is_some_and(|t| at.saturating_duration_since(t) < cooldown)
        };
        if up > current {
            if cooling(self.last_up, self.rules.up.cooldown.0) {
                return (current, Why::Cooldown);
            }
            let step = self.rules.up.max_step.unwrap_or(u32::MAX);
            (up.min(current.saturating_add(step)), Why::Demand)
        } else if down < current {
            if cooling(self.last_down, self.rules.down.cooldown.0) {
                return (current, Why::Cooldown);
            }
            let step = self.rules.down.max_step.unwrap_or(u32::MAX);
            (down.max(current.saturating_sub(step)), Why::Lull)
        } else if recommended < current {
            (current, Why::Stabilising)
        } else {
            (current, Why::Steady)
        }
    }

    fn decision(
        &self,
        now: Observation,
        previous: u32,
        desired: u32,
        recommended: u32,
        why: Why,
        arrival_rate: f64,
    ) -> Decision {
        Decision {
            previous,
            desired,
            recommended,
            why,
            backlog: now.backlog,
            busy: now.busy,
            arrival_rate,
            service_time: self.service_time,
            ceiling: self.ceiling.map(|c| c.workers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebbflow_core::config::HumanDuration;

    /// Feeds an autoscaler one tick at a time, as the controller does.
    struct Ticks {
        scaler: Autoscaler,
        now: Observation,
        desired: u32,
    }

    impl Ticks {
        fn new(rules: ScalingConfig) -> Self {
            let desired = rules.min;
            let now = Observation {
                at: Instant::now(),
                backlog: 0,
                visible: 0,
                busy: 0,
                received: 0,
                completed: 0,
                worker_micros: 0,
                attempts_ok: 0,
                attempts_ok_micros: 0,
                throttled: 0,
            };
            let mut scaler = Autoscaler::new(rules);
            assert_eq!(scaler.decide(now, desired).why, Why::Measuring);
            Self {
                scaler,
                now,
                desired,
            }
        }

        /// One second passes; `change` updates what the queue and pool show.
        fn tick(&mut self, change: impl FnOnce(&mut Observation)) -> Decision {
            self.now.at += Duration::from_secs(1);
            change(&mut self.now);
            let d = self.scaler.decide(self.now, self.desired);
            self.desired = d.desired;
            d
        }

        /// A steady second: `rate` messages of `service` seconds each, all
        /// handled, with `backlog` waiting.
        fn steady(&mut self, rate: u64, service: f64, backlog: u64) -> Decision {
            self.tick(|o| {
                o.received += rate;
                o.completed += rate;
                o.worker_micros += (rate as f64 * service * 1e6) as u64;
                o.attempts_ok += rate;
                o.attempts_ok_micros += (rate as f64 * service * 1e6) as u64;
                o.busy = (rate as f64 * service).round() as u32;
                o.visible = backlog;
                o.backlog = backlog;
            })
        }
    }

    fn rules(min: u32, max: u32) -> ScalingConfig {
        ScalingConfig {
            min,
            max,
            ..ScalingConfig::default()
        }
    }

    #[test]
    fn the_pool_is_sized_by_littles_law_plus_the_backlog_drain() {
        let mut t = Ticks::new(rules(1, 1000));
        t.steady(200, 0.5, 3_000);
        // 200 msg/s of 0.5 s need 100 workers; 3,000 waiting over a 30 s target need 50 more.
        let d = t.steady(200, 0.5, 3_000);
        assert_eq!(d.arrival_rate, 200.0);
        assert_eq!(d.recommended, 100 + 50, "{d:?}");
    }

    /// A tick that comes a tenth of a second after the last one (whose
    /// reads were slow) sees a burst: sized as over half a tick, not as
    /// ten times the rate.
    #[test]
    fn a_tick_close_after_a_slow_one_does_not_multiply_the_rates() {
        let burst = |o: &mut Observation| {
            o.visible = 10_000;
            o.backlog = 10_000;
        };
        let mut normal = Ticks::new(rules(1, 100_000));
        normal.steady(100, 0.05, 0);
        let on_time = normal.tick(burst);
        let mut late = Ticks::new(rules(1, 100_000));
        late.steady(100, 0.05, 0);
        late.now.at += Duration::from_millis(900);
        late.scaler.hold(late.now);
        late.now.at -= Duration::from_millis(800);
        let soon = late.tick(burst);
        assert!(
            soon.arrival_rate <= 2.0 * on_time.arrival_rate + 1.0,
            "{} a second against {} on time",
            soon.arrival_rate,
            on_time.arrival_rate
        );
    }

    #[test]
    fn recommendations_are_clamped_to_min_and_max() {
        let mut t = Ticks::new(rules(3, 20));
        assert_eq!(t.steady(1_000, 1.0, 50_000).desired, 20);
        let mut t = Ticks::new(rules(3, 20));
        let d = t.steady(0, 0.1, 0);
        assert_eq!((d.recommended, d.desired), (3, 3));
    }

    #[test]
    fn a_spike_is_met_within_one_tick_even_before_any_handler_time_is_known() {
        let mut t = Ticks::new(rules(1, 100));
        let d = t.tick(|o| {
            o.visible = 10_000;
            o.backlog = 10_000;
        });
        assert_eq!(d.service_time, None);
        assert_eq!(d.desired, 100);
    }

    #[test]
    fn shrinking_waits_for_the_stabilisation_window_then_takes_its_highest_recommendation() {
        let mut t = Ticks::new(rules(1, 1000));
        assert_eq!(t.steady(100, 1.0, 0).desired, 100);
        // Load falls to a tenth; the window (90 s) still remembers 100.
        for _ in 0..89 {
            let d = t.steady(10, 1.0, 0);
            assert_eq!((d.desired, d.why), (100, Why::Stabilising));
        }
        let d = t.steady(10, 1.0, 0);
        assert_eq!((d.desired, d.why), (10, Why::Lull), "{d:?}");
    }

    #[test]
    fn a_dip_shorter_than_the_window_keeps_the_pool() {
        let mut t = Ticks::new(rules(1, 1000));
        for cycle in 0..5 {
            for _ in 0..60 {
                assert_eq!(t.steady(100, 1.0, 0).desired, 100, "cycle {cycle}");
            }
            for _ in 0..60 {
                assert_eq!(t.steady(0, 1.0, 0).desired, 100, "cycle {cycle}");
            }
        }
    }

    #[test]
    fn steps_and_cooldowns_limit_each_change() {
        let mut r = rules(1, 1000);
        r.up.max_step = Some(10);
        r.up.cooldown = HumanDuration(Duration::from_secs(3));
        let mut t = Ticks::new(r);
        assert_eq!(t.steady(100, 1.0, 0).desired, 11);
        assert_eq!(t.steady(100, 1.0, 0).why, Why::Cooldown);
        assert_eq!(t.steady(100, 1.0, 0).desired, 11);
        assert_eq!(t.steady(100, 1.0, 0).desired, 21);
    }

    #[test]
    fn an_idle_queue_scales_to_zero_when_min_is_zero() {
        let mut t = Ticks::new(rules(0, 10));
        t.desired = 4;
        let d = t.steady(0, 0.2, 0);
        assert_eq!(d.recommended, 0);
        for _ in 0..90 {
            t.steady(0, 0.2, 0);
        }
        assert_eq!(t.desired, 0);
    }

    #[test]
    fn throttling_cuts_the_pool_to_what_the_downstream_sustains_at_once() {
        let mut t = Ticks::new(rules(1, 100));
        assert_eq!(t.steady(1_000, 0.1, 50_000).desired, 100);
        // 40 attempts of 100 ms run at a time; the rest are throttled.
        let d = t.tick(|o| {
            o.received += 1_000;
            o.attempts_ok += 400;
            o.attempts_ok_micros += 400 * 100_000;
            o.completed += 400;
            o.worker_micros += 400 * 100_000;
            o.throttled += 600;
            o.busy = 100;
            o.visible = 60_000;
            o.backlog = 60_000;
        });
        assert_eq!(
            (d.desired, d.why, d.ceiling),
            (40, Why::Saturated, Some(40)),
            "{d:?}"
        );
        // The backlog keeps growing, yet the pool stays at the ceiling…
        for _ in 0..9 {
            let d = t.steady(400, 0.1, 70_000);
            assert_eq!((d.desired, d.why), (40, Why::Saturated), "{d:?}");
        }
        // …until quiet ticks probe a tenth higher.
        assert_eq!(t.steady(400, 0.1, 70_000).desired, 44);
    }

    #[test]
    fn throttling_just_after_a_cut_holds_the_ceiling_rather_than_cutting_again() {
        let mut t = Ticks::new(rules(1, 100));
        t.steady(1_000, 0.1, 50_000);
        let throttled_tick = |ok: u64| {
            move |o: &mut Observation| {
                o.received += 1_000;
                o.attempts_ok += ok;
                o.attempts_ok_micros += ok * 100_000;
                o.completed += ok;
                o.worker_micros += ok * 100_000;
                o.throttled += 600;
                o.busy = 100;
                o.visible = 60_000;
                o.backlog = 60_000;
            }
        };
        assert_eq!(t.tick(throttled_tick(400)).ceiling, Some(40));
        // The retired workers and the messages throttled before the cut are
        // still retrying: few attempts succeed, and that is no new measure.
        assert_eq!(HOLD_AFTER_CUT_TICKS, 3);
        for _ in 0..3 {
            let d = t.tick(throttled_tick(50));
            assert_eq!((d.desired, d.ceiling), (40, Some(40)), "{d:?}");
        }
        // Throttling that goes on past the hold is measured again.
        assert_eq!(t.tick(throttled_tick(50)).ceiling, Some(5));
    }

    #[test]
    fn workers_that_add_no_throughput_stop_the_growth() {
        let mut t = Ticks::new(rules(1, 1000));
        t.desired = 20;
        // 20 busy workers finish 100 msg/s with a growing backlog: grow.
        let d = t.steady(100, 0.2, 5_000);
        assert!(d.desired > 40, "{d:?}");
        let grown = d.desired;
        // The new workers all run, yet throughput stays at 100/s (a shared
        // bottleneck: each message now takes longer). Once they have had
        // time to show it, the pool goes back to what did the work.
        let last = (0..30)
            .map(|_| {
                let pool = t.desired;
                t.tick(|o| {
                    o.received += 100;
                    o.completed += 100;
                    o.worker_micros += u64::from(o.busy) * 1_000_000;
                    o.busy = pool;
                    o.visible = 5_000;
                    o.backlog = 5_000;
                })
            })
            .find(|d| d.why == Why::Saturated);
        let last = last.expect("saturation is detected");
        assert_eq!(
            (last.previous, last.desired, last.ceiling),
            (grown, 20, Some(20)),
            "{last:?}"
        );
    }

    #[test]
    fn backlog_per_worker_targets_size_by_backlog_alone() {
        let mut r = rules(1, 1000);
        r.target_backlog_per_worker = Some(10);
        let mut t = Ticks::new(r);
        assert_eq!(t.steady(1_000, 1.0, 250).desired, 25);
    }
}
