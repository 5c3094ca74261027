//! Prometheus metrics: one registry per runtime, handles made once per label
//! set, the catalogue in [`catalogue`].
//!
//! Workers only bump the atomics of [`GroupStats`] and record two histogram
//! samples into per-thread shards (`histogram`); the counters and gauges are
//! copied into the registry when it is scraped, so metrics cost the message
//! path almost nothing.

mod backend;
pub mod catalogue;
mod histogram;

pub(crate) use backend::BackendMetrics;
pub(crate) use histogram::Histogram;

use crate::stats::{GroupStats, Histograms, DEAD_LETTER_REASONS};
use catalogue::{Kind, CATALOGUE};
use ebbflow_core::QueueStats;
use histogram::Buckets;
use metrics::{Counter, Gauge, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::sync::{Arc, Mutex, PoisonError};

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The metrics registry of one runtime, rendered as Prometheus text.
///
/// ```
/// use ebbflow_runtime::Telemetry;
///
/// let telemetry = Telemetry::new();
/// assert!(telemetry.render().contains("ebbflow_build_info{version="));
/// ```
#[derive(Clone)]
pub struct Telemetry {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    groups: Arc<Mutex<Vec<Published>>>,
    histograms: Arc<Mutex<Vec<Series>>>,
}

/// One series of a catalogue histogram.
struct Series {
    name: &'static str,
    /// Rendered already: `queue="orders"`.
    labels: String,
    buckets: Arc<Buckets>,
}

/// A group whose figures are copied into the registry at each scrape.
struct Published {
    queue: Arc<str>,
    stats: Arc<GroupStats>,
    handles: GroupHandles,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A registry holding the whole catalogue's descriptions and buckets.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        for metric in CATALOGUE {
            let name = KeyName::from_const_str(metric.name);
            let help = SharedString::const_str(metric.help);
            match metric.kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                // Rendered by `render` from our own buckets.
                Kind::Histogram => {}
            }
        }
        let telemetry = Self {
            handle: recorder.handle(),
            recorder: Arc::new(recorder),
            groups: Arc::default(),
            histograms: Arc::default(),
        };
        telemetry
            .gauge(
                catalogue::BUILD_INFO,
                &[("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);
        telemetry
    }

    /// Installs this registry as the process's `metrics` recorder, so that a
    /// handler's own `metrics::counter!` calls appear on `/metrics` too. Returns
    /// false (and changes nothing) when another recorder is installed already.
    pub fn install_global(&self) -> bool {
        metrics::set_global_recorder(Shared(self.recorder.clone())).is_ok()
    }

    /// The registry as Prometheus text, after copying in every group's figures.
    pub fn render(&self) -> String {
        for group in self
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            group.handles.publish(&group.stats);
        }
        let mut text = self.handle.render();
        let series = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for metric in CATALOGUE.iter().filter(|m| m.kind == Kind::Histogram) {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} histogram\n",
                name = metric.name,
                help = metric.help
            ));
            for s in series.iter().filter(|s| s.name == metric.name) {
                s.buckets.render(s.name, &s.labels, &mut text);
            }
            text.push('\n');
        }
        text
    }

    /// Folds buffered histogram samples into their buckets; run it now and then
    /// so that an unscraped process does not buffer samples forever.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The figures of a new group consuming `queue`, exported from now on.
    pub(crate) fn group(&self, queue: &str) -> Arc<GroupStats> {
        let label = [("queue", queue)];
        let stats = Arc::new(GroupStats::with_histograms(Histograms {
            process: self.histogram(catalogue::PROCESS_DURATION, &label),
            queued: self.histogram(catalogue::QUEUED_DURATION, &label),
        }));
        let handles = GroupHandles::new(self, queue);
        self.groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Published {
                queue: Arc::from(queue),
                stats: stats.clone(),
                handles,
            });
        stats
    }

    /// The queues the registered groups consume, each once.
    pub(crate) fn queues(&self) -> Vec<Arc<str>> {
        let mut queues: Vec<Arc<str>> = self
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|g| g.queue.clone())
            .collect();
        queues.sort();
        queues.dedup();
        queues
    }

    /// The queues of the groups whose poller is not running.
    pub(crate) fn stopped_pollers(&self) -> Vec<Arc<str>> {
        self.groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|g| g.stats.polling.get() == 0)
            .map(|g| g.queue.clone())
            .collect()
    }

    /// Records a queue's own figures, read from the backend.
    pub(crate) fn publish_queue(&self, queue: &str, stats: &QueueStats) {
        let groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(group) = groups.iter().find(|g| &*g.queue == queue) {
            group.handles.publish_queue(stats);
        }
    }

    pub(crate) fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
    }

    pub(crate) fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &METADATA)
    }

    /// A histogram series of the catalogue, with the catalogue's buckets.
    pub(crate) fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Histogram {
        let bounds = CATALOGUE
            .iter()
            .find(|m| m.name == name)
            .map_or(&[][..], |m| m.buckets);
        let buckets = Arc::new(Buckets::new(bounds));
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect::<Vec<_>>()
            .join(",");
        self.histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Series {
                name,
                labels,
                buckets: buckets.clone(),
            });
        Histogram::new(buckets)
    }
}

/// A label value as the text format wants it.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, (*v).to_owned()))
        .collect();
    Key::from_parts(name, labels)
}

/// The handles of one group's counters and gauges, made once.
struct GroupHandles {
    received: Counter,
    /// In the order of [`catalogue::OUTCOMES`].
    processed: [Counter; 5],
    retries: Counter,
    dead_lettered: [Counter; 3],
    busy: Gauge,
    idle: Gauge,
    desired: Gauge,
    fleet_desired: Gauge,
    fleet_consumers: Gauge,
    paused: Gauge,
    receives: Gauge,
    delete_batches: Gauge,
    scaled_up: Counter,
    scaled_down: Counter,
    task_failures: Counter,
    /// Visible, in flight, delayed.
    messages: [Gauge; 3],
    oldest_age: Gauge,
}

impl GroupHandles {
    fn new(t: &Telemetry, queue: &str) -> Self {
        let q = [("queue", queue)];
        let with = |key: &'static str, value: &'static str| [("queue", queue), (key, value)];
        Self {
            received: t.counter(catalogue::RECEIVED, &q),
            processed: catalogue::OUTCOMES
                .map(|outcome| t.counter(catalogue::PROCESSED, &with("outcome", outcome))),
            retries: t.counter(catalogue::RETRIES, &q),
            dead_lettered: DEAD_LETTER_REASONS
                .map(|reason| t.counter(catalogue::DEAD_LETTERED, &with("reason", reason))),
            busy: t.gauge(catalogue::WORKERS, &with("state", "busy")),
            idle: t.gauge(catalogue::WORKERS, &with("state", "idle")),
            desired: t.gauge(catalogue::WORKERS_DESIRED, &q),
            fleet_desired: t.gauge(catalogue::FLEET_DESIRED, &q),
            fleet_consumers: t.gauge(catalogue::FLEET_CONSUMERS, &q),
            paused: t.gauge(catalogue::QUEUE_PAUSED, &q),
            receives: t.gauge(catalogue::CALLS_IN_FLIGHT, &with("call", "receive")),
            delete_batches: t.gauge(catalogue::CALLS_IN_FLIGHT, &with("call", "delete_batch")),
            scaled_up: t.counter(catalogue::AUTOSCALE_DECISIONS, &with("direction", "up")),
            scaled_down: t.counter(catalogue::AUTOSCALE_DECISIONS, &with("direction", "down")),
            task_failures: t.counter(catalogue::TASK_FAILURES, &q),
            messages: ["visible", "in_flight", "delayed"]
                .map(|state| t.gauge(catalogue::QUEUE_MESSAGES, &with("state", state))),
            oldest_age: t.gauge(catalogue::QUEUE_OLDEST_AGE, &q),
        }
    }

    fn publish_queue(&self, q: &QueueStats) {
        for (handle, count) in self
            .messages
            .iter()
            .zip([q.visible, q.in_flight, q.delayed])
        {
            handle.set(count as f64);
        }
        self.oldest_age
            .set(q.oldest_message_age.unwrap_or_default().as_secs_f64());
    }

    fn publish(&self, s: &GroupStats) {
        self.received.absolute(s.received.get());
        let outcomes = [
            &s.succeeded,
            &s.retried,
            &s.released,
            &s.dead_lettered,
            &s.failed,
        ];
        for (handle, count) in self.processed.iter().zip(outcomes) {
            handle.absolute(count.get());
        }
        self.retries.absolute(s.retried.get() + s.released.get());
        for (handle, count) in self.dead_lettered.iter().zip(&s.dead_lettered_by_reason) {
            handle.absolute(count.get());
        }
        let (workers, busy) = (s.workers.get(), s.busy.get());
        self.busy.set(busy as f64);
        self.idle.set(workers.saturating_sub(busy) as f64);
        self.desired.set(s.desired.get() as f64);
        self.fleet_desired.set(s.fleet_desired.get() as f64);
        self.fleet_consumers.set(s.fleet_consumers.get() as f64);
        self.paused.set(s.paused.get() as f64);
        self.receives.set(s.receives_in_flight.get() as f64);
        self.delete_batches
            .set(s.delete_batches_in_flight.get() as f64);
        self.scaled_up.absolute(s.scaled_up.get());
        self.scaled_down.absolute(s.scaled_down.get());
        self.task_failures.absolute(s.task_failures.get());
    }
}

/// Lets the process-wide `metrics` macros write into a runtime's registry.
struct Shared(Arc<PrometheusRecorder>);

impl Recorder for Shared {
    fn describe_counter(&self, key: KeyName, unit: Option<metrics::Unit>, help: SharedString) {
        self.0.describe_counter(key, unit, help)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, help: SharedString) {
        self.0.describe_gauge(key, unit, help)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<metrics::Unit>, help: SharedString) {
        self.0.describe_histogram(key, unit, help)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Histogram {
        self.0.register_histogram(key, metadata)
    }
}
