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
/// A growth counts as wasted when throughput rose by less than this share of
/// what the added workers should have brought.
const MIN_GAIN_SHARE: f64 = 0.25;
/// Weight of the newest tick in the service-time average.
const SERVICE_TIME_WEIGHT: f64 = 0.5;

/// The autoscaler of one worker group.
#[derive(Debug)]
pub(crate) struct Autoscaler {
    rules: ScalingConfig,
    desired: u32,
    last: Option<Observation>,
    service_time: Option<f64>,
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
    /// An autoscaler following `rules`, for a pool now aiming at `desired`.
    pub(crate) fn new(rules: ScalingConfig, desired: u32) -> Self {
        Self {
            rules,
            desired,
            last: None,
            service_time: None,
            history: VecDeque::new(),
            last_up: None,
            last_down: None,
            ceiling: None,
            trial: None,
        }
    }

    /// Decides the pool size after observing `now`. `desired` is the pool's
    /// aim now, which a message arriving at an empty pool may have raised.
    pub(crate) fn decide(&mut self, now: Observation, desired: u32) -> Decision {
        self.desired = desired;
        let previous = desired;
        let Some(last) = self.last.replace(now) else {
            return self.decision(now, previous, previous, previous, Why::Measuring, 0.0);
        };
        let dt = now
            .at
            .saturating_duration_since(last.at)
            .as_secs_f64()
            .max(1e-3);
        let received_rate = now.received.saturating_sub(last.received) as f64 / dt;
        let visible_change = (now.visible as f64 - last.visible as f64) / dt;
        // What came in is what we took plus what piled up.
        let arrival_rate = (received_rate + visible_change).max(0.0);
        let completed = now.completed.saturating_sub(last.completed);
        let throughput = completed as f64 / dt;
        if completed > 0 {
            let tick = now.worker_micros.saturating_sub(last.worker_micros) as f64
                / completed as f64
                / 1e6;
            self.service_time = Some(match self.service_time {
                Some(s) => s + SERVICE_TIME_WEIGHT * (tick - s),
                None => tick,
            });
        }

        let mut recommended = self.recommend(now, arrival_rate);
        let saturated = self.check_saturation(now, last, dt, throughput);
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
        self.desired = target;
        self.decision(now, previous, target, recommended, why, arrival_rate)
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
        throughput: f64,
    ) -> bool {
        let throttled = now.throttled.saturating_sub(last.throttled);
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
                self.desired / 2
            };
            self.ceiling = Some(Ceiling {
                workers: sustained.max(1),
                quiet_ticks: 0,
            });
            self.trial = None;
            return true;
        }
        if let Some(trial) = self.trial {
            if now.at >= trial.judge_at {
                self.trial = None;
                let expected = trial.throughput_before * f64::from(trial.to - trial.from)
                    / f64::from(trial.from);
                let still_loaded = now.backlog > 0 && now.busy * 10 >= self.desired * 9;
                if still_loaded && throughput - trial.throughput_before < MIN_GAIN_SHARE * expected
                {
                    self.ceiling = Some(Ceiling {
                        workers: trial.from,
                        quiet_ticks: 0,
                    });
                    return true;
                }
            }
        }
        if let Some(c) = &mut self.ceiling {
            c.quiet_ticks += 1;
            if c.quiet_ticks >= PROBE_AFTER_TICKS && self.desired >= c.workers {
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
