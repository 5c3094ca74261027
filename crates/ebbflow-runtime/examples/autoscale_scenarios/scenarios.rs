//! The scenarios of issue 4, each with its figures and its goal.

use crate::sim::{self, Latency, Phase, Sample, Setup, Trace, SAMPLE_EVERY};
use ebbflow_core::config::ScalingConfig;
use std::time::Duration;

/// A scenario's result: its raw figures, and whether its goal was met.
pub struct Outcome {
    pub name: &'static str,
    pub figures: Vec<(&'static str, f64)>,
    pub goal: &'static str,
    pub met: bool,
    pub samples: Vec<Sample>,
}

/// A scenario: runs with a seed.
pub type Scenario = fn(u64) -> Outcome;

/// Every scenario, by name.
pub const ALL: [(&str, Scenario); 12] = [
    ("spike", spike),
    ("step", step),
    ("square_wave", square_wave),
    ("slow_wave", slow_wave),
    ("safe_scale_in", safe_scale_in),
    ("cold_start", cold_start),
    ("throttled", throttled),
    ("fleet_spike", fleet_spike),
    ("fleet_step", fleet_step),
    ("fleet_throttled", fleet_throttled),
    ("fleet_stopped", fleet_stopped),
    ("fleet_step_no_registry", fleet_step_no_registry),
];

/// Processes in the fleet scenarios.
const FLEET: usize = 3;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The shipped defaults (`config/ebbflow.toml`), with another `max`.
fn defaults(max: u32) -> ScalingConfig {
    ScalingConfig {
        max,
        ..ScalingConfig::default()
    }
}

fn setup(scaling: ScalingConfig, latency: Latency, run_for: f64, seed: u64) -> Setup {
    Setup {
        scaling,
        latency,
        throttle_above: None,
        visibility_timeout: Duration::from_secs(30),
        handler_timeout: Duration::from_secs(30),
        phases: Vec::new(),
        bursts: Vec::new(),
        run_for,
        seed,
        processes: 1,
        stop: None,
        registry: true,
    }
}

/// On/off phases of `rate` arrivals per second, `on` then `off` seconds, until `until`.
fn square(on: f64, off: f64, rate: f64, until: f64) -> Vec<Phase> {
    let mut phases = Vec::new();
    let mut t = 0.0;
    while t < until {
        phases.push(Phase { start: t, rate });
        phases.push(Phase {
            start: t + on,
            rate: 0.0,
        });
        t += on + off;
    }
    phases
}

fn tick(s: &Setup) -> f64 {
    s.scaling.tick.0.as_secs_f64()
}

fn stabilisation(s: &Setup) -> f64 {
    s.scaling.down.stabilisation.0.as_secs_f64()
}

/// Worker-seconds from `from` to `to`.
fn worker_seconds(samples: &[Sample], from: f64, to: f64) -> f64 {
    let dt = SAMPLE_EVERY.as_secs_f64();
    samples
        .iter()
        .filter(|s| s.t >= from && s.t < to)
        .map(|s| s.workers as f64 * dt)
        .sum()
}

/// The first sample at or after `from` where `pred` holds.
fn first_at(samples: &[Sample], from: f64, pred: impl Fn(&Sample) -> bool) -> Option<f64> {
    samples.iter().find(|s| s.t >= from && pred(s)).map(|s| s.t)
}

fn outcome(
    name: &'static str,
    trace: Trace,
    figures: Vec<(&'static str, f64)>,
    goal: &'static str,
    met: bool,
) -> Outcome {
    Outcome {
        name,
        figures,
        goal,
        met,
        samples: trace.samples,
    }
}

pub fn spike(seed: u64) -> Outcome {
    const AT: f64 = 10.0;
    let mut s = setup(defaults(100), Latency::Fixed(ms(50)), 40.0, seed);
    s.bursts = vec![(AT, 10_000)];
    let trace = sim::run(s);
    let done = trace.completions.last().copied().unwrap_or(f64::INFINITY);
    let drain = done - AT;
    let (ideal, needed) = (5.0, 500.0);
    let ws = worker_seconds(&trace.samples, AT, done);
    let met = trace.completions.len() == 10_000 && drain <= 1.3 * ideal && ws <= 1.3 * needed;
    let figures = vec![
        ("drain_time_s", drain),
        ("ideal_drain_time_s", ideal),
        ("worker_seconds", ws),
        ("needed_worker_seconds", needed),
    ];
    outcome(
        "spike",
        trace,
        figures,
        "drain <= 1.3 x ideal, worker-s <= 1.3 x needed",
        met,
    )
}

/// 100 a second, then 2,000 a second from [`STEP_AT`] on, of 200 ms: a
/// pool of 400 for the second phase.
fn step_setup(seed: u64) -> Setup {
    let mut s = setup(defaults(500), Latency::Fixed(ms(200)), 120.0, seed);
    s.phases = vec![
        Phase {
            start: 0.0,
            rate: 100.0,
        },
        Phase {
            start: STEP_AT,
            rate: 2_000.0,
        },
    ];
    s
}

/// When the step scenarios step up.
const STEP_AT: f64 = 60.0;

/// Seconds from the step until the pool reaches 90 % of 400, and its peak after.
fn step_response(trace: &Trace) -> (f64, u64) {
    let reached = first_at(&trace.samples, STEP_AT, |x| x.workers >= 360)
        .map_or(f64::INFINITY, |t| t - STEP_AT);
    (reached, peak(&trace.samples, STEP_AT))
}

pub fn step(seed: u64) -> Outcome {
    let s = step_setup(seed);
    let tick = tick(&s);
    let trace = sim::run(s);
    let (reached, peak) = step_response(&trace);
    let overshoot = peak as f64 / 400.0 - 1.0;
    let met = reached <= 3.0 * tick && overshoot <= 0.10;
    let figures = vec![
        ("time_to_90pct_s", reached),
        ("tick_s", tick),
        ("overshoot_ratio", overshoot),
    ];
    outcome(
        "step",
        trace,
        figures,
        "90% within 3 ticks, overshoot <= 10%",
        met,
    )
}

/// Changes of direction of the pool size.
fn reversals(samples: &[Sample]) -> u64 {
    let mut last_dir = 0i8;
    let mut count = 0;
    for pair in samples.windows(2) {
        let dir = match pair[1].workers.cmp(&pair[0].workers) {
            std::cmp::Ordering::Greater => 1,
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => continue,
        };
        if last_dir != 0 && dir != last_dir {
            count += 1;
        }
        last_dir = dir;
    }
    count
}

pub fn square_wave(seed: u64) -> Outcome {
    const HOUR: f64 = 3_600.0;
    let mut s = setup(defaults(150), Latency::Fixed(ms(100)), HOUR, seed);
    s.phases = square(60.0, 60.0, 1_000.0, HOUR);
    let trace = sim::run(s);
    let per_10min = reversals(&trace.samples) as f64 / (HOUR / 600.0);
    let peak = trace.samples.iter().map(|x| x.workers).max().unwrap_or(0) as f64 / 100.0;
    let met = per_10min <= 2.0 && peak <= 1.1;
    let figures = vec![("reversals_per_10min", per_10min), ("peak_ratio", peak)];
    outcome(
        "square_wave",
        trace,
        figures,
        "<= 2 reversals per 10 min, peak <= 1.1",
        met,
    )
}

pub fn slow_wave(seed: u64) -> Outcome {
    const HOUR: f64 = 3_600.0;
    let mut s = setup(defaults(150), Latency::Fixed(ms(100)), HOUR, seed);
    s.phases = square(600.0, 600.0, 1_000.0, HOUR);
    let (tick, stab, min) = (tick(&s), stabilisation(&s), u64::from(s.scaling.min));
    let trace = sim::run(s);
    let all: u64 = trace.samples.iter().map(|x| x.workers).sum();
    let idle: u64 = trace
        .samples
        .iter()
        .map(|x| x.workers.saturating_sub(x.busy))
        .sum();
    let idle_ratio = idle as f64 / all.max(1) as f64;
    let lag = [600.0, 1_800.0, 3_000.0]
        .iter()
        .map(|&off| {
            first_at(&trace.samples, off, |x| x.workers <= min).map_or(f64::INFINITY, |t| t - off)
        })
        .fold(0.0, f64::max);
    let met = idle_ratio <= 0.25 && lag <= stab + tick;
    let figures = vec![
        ("idle_worker_seconds_ratio", idle_ratio),
        ("release_lag_s", lag),
        ("stabilisation_s", stab),
        ("tick_s", tick),
    ];
    outcome(
        "slow_wave",
        trace,
        figures,
        "idle <= 25%, release within stabilisation + 1 tick",
        met,
    )
}

pub fn safe_scale_in(seed: u64) -> Outcome {
    const END: f64 = 600.0;
    let latency = Latency::LogNormal {
        median: 5.0,
        p99: 120.0,
    };
    let mut s = setup(defaults(100), latency, 1_800.0, seed);
    s.phases = vec![
        Phase {
            start: 0.0,
            rate: 5.0,
        },
        Phase {
            start: END,
            rate: 0.0,
        },
    ];
    s.visibility_timeout = Duration::from_secs(60);
    s.handler_timeout = Duration::from_secs(3_600);
    let (tick, stab, min) = (tick(&s), stabilisation(&s), u64::from(s.scaling.min));
    let trace = sim::run(s);
    let lag = first_at(&trace.samples, END, |x| x.workers <= x.busy.max(min))
        .map_or(f64::INFINITY, |t| t - END);
    let met = trace.interrupted == 0 && trace.redelivered == 0 && lag <= stab + tick;
    let figures = vec![
        ("interrupted", trace.interrupted as f64),
        ("redelivered", trace.redelivered as f64),
        ("release_lag_s", lag),
        ("stabilisation_s", stab),
        ("tick_s", tick),
    ];
    outcome(
        "safe_scale_in",
        trace,
        figures,
        "none interrupted or redelivered, idle released within stabilisation + 1 tick",
        met,
    )
}

pub fn cold_start(seed: u64) -> Outcome {
    const AT: f64 = 600.0;
    let scaling = ScalingConfig {
        min: 0,
        ..ScalingConfig::default()
    };
    let mut s = setup(scaling, Latency::Fixed(ms(50)), AT + 20.0, seed);
    s.bursts = vec![(AT, 1)];
    let trace = sim::run(s);
    let cold_ms = trace
        .handler_starts
        .first()
        .map_or(f64::INFINITY, |t| (t - AT) * 1e3);
    let idle_receives = trace.receives.iter().filter(|&&t| t < AT).count() as f64;
    let per_wait = idle_receives / (AT / 20.0);
    let met = cold_ms < 100.0 && per_wait <= 1.0;
    let figures = vec![
        ("cold_start_ms", cold_ms),
        ("idle_receives_per_wait", per_wait),
    ];
    outcome(
        "cold_start",
        trace,
        figures,
        "< 100 ms, <= 1 receive per 20 s idle",
        met,
    )
}

/// Ample load (1,000 a second of 100 ms) on a downstream that throttles
/// above 40 calls at once.
fn throttled_setup(seed: u64) -> Setup {
    let mut s = setup(defaults(100), Latency::Fixed(ms(100)), THROTTLED_RUN, seed);
    s.phases = vec![Phase {
        start: 0.0,
        rate: 1_000.0,
    }];
    s.throttle_above = Some(40);
    s
}

const THROTTLED_RUN: f64 = 120.0;

/// The mean pool over the second half of a throttled run.
fn plateau(samples: &[Sample]) -> f64 {
    let half: Vec<u64> = samples
        .iter()
        .filter(|x| x.t >= THROTTLED_RUN / 2.0)
        .map(|x| x.workers)
        .collect();
    half.iter().sum::<u64>() as f64 / half.len().max(1) as f64
}

pub fn throttled(seed: u64) -> Outcome {
    let s = throttled_setup(seed);
    let tick = tick(&s);
    let trace = sim::run(s);
    let plateau = plateau(&trace.samples);
    let inside = |w: u64| (36..=48).contains(&w);
    let ticks = match trace.first_throttle {
        None => f64::INFINITY,
        Some(t0) => {
            // From the first throttling error until the pool stays within 36–48.
            let settled = trace
                .samples
                .iter()
                .rposition(|x| !inside(x.workers))
                .map_or(0.0, |i| {
                    trace.samples.get(i + 1).map_or(f64::INFINITY, |x| x.t)
                });
            ((settled - t0).max(0.0) / tick).ceil()
        }
    };
    let met = inside(plateau.round() as u64) && ticks <= 5.0 && trace.dead_lettered == 0;
    let figures = vec![
        ("plateau_workers", plateau),
        ("ticks_to_plateau", ticks),
        ("dead_lettered", trace.dead_lettered as f64),
    ];
    outcome(
        "throttled",
        trace,
        figures,
        "plateau within 36-48 within 5 ticks, nothing dead-lettered",
        met,
    )
}

// ---------------------------------------------------------------- fleets
//
// Three processes (runtimes) consume one queue, each with the shipped
// defaults, sizing one fleet through the engine's consumer registry.

fn peak(samples: &[Sample], from: f64) -> u64 {
    samples
        .iter()
        .filter(|x| x.t >= from)
        .map(|x| x.workers)
        .max()
        .unwrap_or(0)
}

fn spike_setup(processes: usize, max: u32, seed: u64) -> Setup {
    let mut s = setup(defaults(max), Latency::Fixed(ms(50)), 40.0, seed);
    s.bursts = vec![(10.0, 10_000)];
    s.processes = processes;
    s
}

fn drain_after(trace: &Trace, at: f64) -> f64 {
    trace.completions.last().copied().unwrap_or(f64::INFINITY) - at
}

/// Three processes of `max` 100 against one process of the same capacity
/// (`max` 300): the fleet should run and drain as that one process would,
/// where three processes each sizing for the whole backlog would run 3x.
pub fn fleet_spike(seed: u64) -> Outcome {
    const AT: f64 = 10.0;
    let one = sim::run(spike_setup(1, 300, seed));
    let (single, single_drain) = (peak(&one.samples, AT), drain_after(&one, AT));
    let trace = sim::run(spike_setup(FLEET, 100, seed));
    let drain = drain_after(&trace, AT);
    let fleet = peak(&trace.samples, AT);
    let ratio = fleet as f64 / single.max(1) as f64;
    let met = trace.completions.len() == 10_000 && drain <= 1.3 * single_drain && ratio <= 1.2;
    let figures = vec![
        ("processes", FLEET as f64),
        ("fleet_peak_workers", fleet as f64),
        ("single_process_peak_workers", single as f64),
        ("peak_ratio", ratio),
        ("fleet_drain_time_s", drain),
        ("single_process_drain_time_s", single_drain),
    ];
    outcome(
        "fleet_spike",
        trace,
        figures,
        "3 processes (max 100 each) against 1 of max 300: summed peak <= 1.2 x, drain <= 1.3 x",
        met,
    )
}

pub fn fleet_step(seed: u64) -> Outcome {
    let mut s = step_setup(seed);
    let (_, single) = step_response(&sim::run(s.clone()));
    s.processes = FLEET;
    let tick = tick(&s);
    let trace = sim::run(s);
    let (reached, fleet) = step_response(&trace);
    let overshoot = fleet as f64 / 400.0 - 1.0;
    let ratio = fleet as f64 / single.max(1) as f64;
    let met = reached <= 3.0 * tick && overshoot <= 0.10 && ratio <= 1.2;
    let figures = vec![
        ("processes", FLEET as f64),
        ("time_to_90pct_s", reached),
        ("tick_s", tick),
        ("overshoot_ratio", overshoot),
        ("fleet_peak_workers", fleet as f64),
        ("single_process_peak_workers", single as f64),
    ];
    outcome(
        "fleet_step",
        trace,
        figures,
        "3 processes: 90% of 400 summed within 3 ticks, overshoot <= 10%, peak <= 1.2 x one process's",
        met,
    )
}

pub fn fleet_throttled(seed: u64) -> Outcome {
    let mut s = throttled_setup(seed);
    // One downstream for the whole fleet: 40 calls at once, in total.
    s.processes = FLEET;
    let trace = sim::run(s);
    let plateau = plateau(&trace.samples);
    let met = (36.0..=48.0).contains(&plateau) && trace.dead_lettered == 0;
    let figures = vec![
        ("processes", FLEET as f64),
        ("plateau_fleet_workers", plateau),
        ("dead_lettered", trace.dead_lettered as f64),
    ];
    outcome(
        "fleet_throttled",
        trace,
        figures,
        "3 processes, one downstream of 40: the summed pool settles within 36-48, nothing dead-lettered",
        met,
    )
}

pub fn fleet_stopped(seed: u64) -> Outcome {
    const STOP: f64 = 60.0;
    let mut s = setup(defaults(100), Latency::Fixed(ms(100)), 120.0, seed);
    // 1,000 a second of 100 ms: about 100 workers for the fleet.
    s.phases = vec![Phase {
        start: 0.0,
        rate: 1_000.0,
    }];
    s.processes = FLEET;
    s.stop = Some((0, STOP));
    let tick = tick(&s);
    let trace = sim::run(s);
    let before = trace
        .samples
        .iter()
        .rfind(|x| x.t < STOP)
        .map_or(0, |x| x.workers);
    let recovered = first_at(&trace.samples, STOP + 0.05, |x| {
        x.workers as f64 >= 0.9 * before as f64
    })
    .map_or(f64::INFINITY, |t| t - STOP);
    let ticks = (recovered / tick).ceil();
    let after = peak(&trace.samples, STOP + 10.0) as f64 / before.max(1) as f64;
    let met = ticks <= 5.0 && after <= 1.2 && trace.dead_lettered == 0;
    let figures = vec![
        ("processes", FLEET as f64),
        ("fleet_workers_before_stop", before as f64),
        ("ticks_to_take_over", ticks),
        ("later_peak_ratio", after),
    ];
    outcome(
        "fleet_stopped",
        trace,
        figures,
        "one of 3 processes stops: the other two hold 90% of the fleet's pool again within 5 ticks",
        met,
    )
}

/// The step on 3 processes of an engine with no registry of consumers (as
/// Amazon SQS): each sizes for its share of the backlog, read from its share
/// of the messages in flight, instead of for all of it.
pub fn fleet_step_no_registry(seed: u64) -> Outcome {
    let mut s = step_setup(seed);
    let (_, single) = step_response(&sim::run(s.clone()));
    s.processes = FLEET;
    s.registry = false;
    let tick = tick(&s);
    let trace = sim::run(s);
    let (reached, fleet) = step_response(&trace);
    let ratio = fleet as f64 / single.max(1) as f64;
    let met = reached <= 3.0 * tick && ratio <= 1.5;
    let figures = vec![
        ("processes", FLEET as f64),
        ("time_to_90pct_s", reached),
        ("fleet_peak_workers", fleet as f64),
        ("single_process_peak_workers", single as f64),
        ("peak_ratio", ratio),
    ];
    outcome(
        "fleet_step_no_registry",
        trace,
        figures,
        "3 processes, no registry (SQS): 90% of 400 within 3 ticks, summed peak <= 1.5 x one process's",
        met,
    )
}
