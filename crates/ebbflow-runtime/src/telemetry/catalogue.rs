//! Every metric ebbflow exports: name, type, labels, description, buckets.
//! The book's metrics reference (docs/book/src/reference/metrics.md) lists the
//! same, with each one's type and labels (a test checks they agree).

/// What kind of Prometheus metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct MetricInfo {
    /// The full name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its labels, each from a small fixed set (queue names come from the config).
    pub labels: &'static [&'static str],
    /// The `# HELP` text.
    pub help: &'static str,
    /// Bucket upper bounds, for histograms.
    pub buckets: &'static [f64],
}

pub(crate) const RECEIVED: &str = "ebbflow_messages_received_total";
pub(crate) const PROCESSED: &str = "ebbflow_messages_processed_total";
pub(crate) const PROCESS_DURATION: &str = "ebbflow_message_process_duration_seconds";
pub(crate) const QUEUED_DURATION: &str = "ebbflow_message_queued_duration_seconds";
pub(crate) const RETRIES: &str = "ebbflow_message_retries_total";
pub(crate) const DEAD_LETTERED: &str = "ebbflow_messages_dead_lettered_total";
pub(crate) const QUEUE_MESSAGES: &str = "ebbflow_queue_messages";
pub(crate) const QUEUE_OLDEST_AGE: &str = "ebbflow_queue_oldest_message_age_seconds";
pub(crate) const WORKERS: &str = "ebbflow_workers";
pub(crate) const WORKERS_DESIRED: &str = "ebbflow_workers_desired";
pub(crate) const FLEET_DESIRED: &str = "ebbflow_fleet_workers_desired";
pub(crate) const FLEET_CONSUMERS: &str = "ebbflow_fleet_consumers";
pub(crate) const QUEUE_PAUSED: &str = "ebbflow_queue_paused";
pub(crate) const CALLS_IN_FLIGHT: &str = "ebbflow_calls_in_flight";
pub(crate) const AUTOSCALE_DECISIONS: &str = "ebbflow_autoscale_decisions_total";
pub(crate) const BACKEND_DURATION: &str = "ebbflow_backend_operation_duration_seconds";
pub(crate) const BACKEND_ERRORS: &str = "ebbflow_backend_errors_total";
pub(crate) const BUILD_INFO: &str = "ebbflow_build_info";
pub(crate) const TASK_FAILURES: &str = "ebbflow_worker_task_failures_total";

/// The outcomes of `ebbflow_messages_processed_total`; each handling of a
/// message ends in exactly one.
pub(crate) const OUTCOMES: [&str; 5] =
    ["success", "retried", "released", "dead_lettered", "failed"];

/// Handler times: 1 ms to 15 min.
const PROCESS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0,
];

/// Time in the queue: 10 ms to a day (retention reaches 14 days, but an
/// alert fires long before a message waits a day).
const QUEUED_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
    86400.0,
];

/// Backend calls: 100 µs to 20 s, the longest long poll.
const BACKEND_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 20.0,
];

/// The catalogue.
pub const CATALOGUE: &[MetricInfo] = &[
    MetricInfo {
        name: RECEIVED,
        kind: Kind::Counter,
        labels: &["queue"],
        help: "Messages received from the queue.",
        buckets: &[],
    },
    MetricInfo {
        name: PROCESSED,
        kind: Kind::Counter,
        labels: &["queue", "outcome"],
        help: "Handlings of a message by outcome: success (deleted), retried (in process), released (back to the queue for redelivery), dead_lettered, failed (could not be released; returns when its visibility timeout ends).",
        buckets: &[],
    },
    MetricInfo {
        name: PROCESS_DURATION,
        kind: Kind::Histogram,
        labels: &["queue"],
        help: "Time from the start of processing to the message's outcome, in-process retries included.",
        buckets: PROCESS_BUCKETS,
    },
    MetricInfo {
        name: QUEUED_DURATION,
        kind: Kind::Histogram,
        labels: &["queue"],
        help: "Time from the message's send to the start of its processing.",
        buckets: QUEUED_BUCKETS,
    },
    MetricInfo {
        name: RETRIES,
        kind: Kind::Counter,
        labels: &["queue"],
        help: "Retries of failed messages, in process or by redelivery.",
        buckets: &[],
    },
    MetricInfo {
        name: DEAD_LETTERED,
        kind: Kind::Counter,
        labels: &["queue", "reason"],
        help: "Messages sent to the dead-letter queue, by reason: permanent, undecodable, max_receives.",
        buckets: &[],
    },
    MetricInfo {
        name: QUEUE_MESSAGES,
        kind: Kind::Gauge,
        labels: &["queue", "state"],
        help: "Messages in the queue by state: visible, in_flight, delayed (read from the backend at scrape).",
        buckets: &[],
    },
    MetricInfo {
        name: QUEUE_OLDEST_AGE,
        kind: Kind::Gauge,
        labels: &["queue"],
        help: "Age of the oldest message in the queue, 0 when it is empty.",
        buckets: &[],
    },
    MetricInfo {
        name: WORKERS,
        kind: Kind::Gauge,
        labels: &["queue", "state"],
        help: "Workers in the pool by state: busy (running a message) or idle.",
        buckets: &[],
    },
    MetricInfo {
        name: WORKERS_DESIRED,
        kind: Kind::Gauge,
        labels: &["queue"],
        help: "The pool size the runtime is aiming for.",
        buckets: &[],
    },
    MetricInfo {
        name: FLEET_DESIRED,
        kind: Kind::Gauge,
        labels: &["queue"],
        help: "The workers the autoscaler aims for across every process consuming the queue (for KEDA or an HPA sizing the processes).",
        buckets: &[],
    },
    MetricInfo {
        name: FLEET_CONSUMERS,
        kind: Kind::Gauge,
        labels: &["queue"],
        help: "Processes consuming the queue, this one included, as the engine's consumer registry knows them.",
        buckets: &[],
    },
    MetricInfo {
        name: QUEUE_PAUSED,
        kind: Kind::Gauge,
        labels: &["queue"],
        help: "1 while an operator has paused the queue's consumers (ebbflow pause), as this process last read it; 0 otherwise.",
        buckets: &[],
    },
    MetricInfo {
        name: CALLS_IN_FLIGHT,
        kind: Kind::Gauge,
        labels: &["queue", "call"],
        help: "The group's calls to the queue under way at once, by call: receive (up to 4) or delete_batch (up to 4).",
        buckets: &[],
    },
    MetricInfo {
        name: AUTOSCALE_DECISIONS,
        kind: Kind::Counter,
        labels: &["queue", "direction"],
        help: "Changes of the desired pool size, by direction: up or down.",
        buckets: &[],
    },
    MetricInfo {
        name: BACKEND_DURATION,
        kind: Kind::Histogram,
        labels: &["backend", "operation"],
        help: "Duration of calls to the queue backend, long polls included.",
        buckets: BACKEND_BUCKETS,
    },
    MetricInfo {
        name: BACKEND_ERRORS,
        kind: Kind::Counter,
        labels: &["backend", "operation"],
        help: "Calls to the queue backend that failed as a whole.",
        buckets: &[],
    },
    MetricInfo {
        name: TASK_FAILURES,
        kind: Kind::Counter,
        labels: &["queue"],
        help: "Worker tasks that panicked outside the handler's own catch; their messages were released for redelivery.",
        buckets: &[],
    },
    MetricInfo {
        name: BUILD_INFO,
        kind: Kind::Gauge,
        labels: &["version"],
        help: "Always 1; the version label says which ebbflow is running.",
        buckets: &[],
    },
];
