//! The typed schema of `ebbflow.toml`.
//!
//! `config/ebbflow.toml` in the repository is the commented reference of every
//! key. Loading (file plus `EBBFLOW__SECTION__KEY` environment overrides) lives
//! in `ebbflow-runtime`; this module only says what a valid file is. Every
//! struct rejects unknown keys, and [`Config::validate`] checks ranges, naming
//! the key path of each problem.

mod keys;
mod units;

pub use keys::{sections, Section};
pub use units::{parse_duration, parse_size, HumanDuration, HumanSize};

use crate::{limits, QueueAttributes, RedrivePolicy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The whole configuration.
///
/// ```
/// use ebbflow_core::config::Config;
/// let cfg: Config = serde_json::from_str(r#"{"workers": {"orders": {"concurrency": 4}}}"#).unwrap();
/// assert_eq!(cfg.workers["orders"].queue_name("orders"), "orders");
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the queues live.
    #[serde(default)]
    pub backend: BackendConfig,
    /// Process-wide settings.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Queues to create (or check) at start, by name.
    #[serde(default)]
    pub queues: BTreeMap<String, QueueConfig>,
    /// Worker groups by name; each consumes one queue with one handler.
    #[serde(default)]
    pub workers: BTreeMap<String, WorkerConfig>,
    /// The HTTP listener: Prometheus metrics and health endpoints.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// `ebbflow serve`: the SQS wire API over the backend.
    #[serde(default)]
    pub server: ServerConfig,
    /// Per-minute rollups of each worker group, kept in the backend for the
    /// dashboard's charts.
    #[serde(default)]
    pub history: HistoryConfig,
}

/// `[history]`: each worker group writes a rollup of its minute (outcomes,
/// processing times, pool, the queue's counts, the autoscaler's changes)
/// to its queue's history queue ([`crate::history`]), kept for `retention`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Write the rollups. Off by default: it creates a companion queue
    /// (`ebbflow_history__NAME`) beside each queue a group consumes.
    pub enabled: bool,
    /// How long rollups are kept (the history queue's retention: 1 min to 14 d).
    pub retention: HumanDuration,
    /// How often a rollup is written.
    pub interval: HumanDuration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            retention: HumanDuration(std::time::Duration::from_secs(2 * 86_400)),
            interval: HumanDuration(std::time::Duration::from_secs(60)),
        }
    }
}

/// `[server]`: where `ebbflow serve` listens and how it names queues.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; loopback unless you mean to expose it. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The base of queue URLs (`https://sqs.example.com`); by default the request's `Host`.
    pub advertised_url: Option<String>,
    /// A PEM file with the server's certificate chain: with `tls_key`, the
    /// server speaks HTTPS only (as SQS does).
    pub tls_cert: Option<std::path::PathBuf>,
    /// A PEM file with the certificate's private key.
    pub tls_key: Option<std::path::PathBuf>,
    /// The account id in queue URLs and ARNs.
    pub account_id: String,
    /// The region in ARNs.
    pub region: String,
    /// `none` serves every request unsigned; it must be said explicitly.
    /// Unset, requests must be signed (AWS Signature Version 4) with one of `keys`.
    pub auth: Option<ServerAuth>,
    /// Access keys by name; each secret comes from a file or the environment,
    /// never from this file.
    pub keys: BTreeMap<String, KeyConfig>,
    /// Where the web dashboard is served beside the SQS API (`/ui`);
    /// empty for no dashboard. It signs in with the same keys.
    pub dashboard_path: String,
    /// Connections open at once (the SQS API and the dashboard together);
    /// one more waits until another closes.
    pub max_connections: usize,
}

/// `[server.keys.NAME]`: one access key `ebbflow serve` accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// A file holding the secret access key (its first line).
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    /// An environment variable holding the secret access key.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The SQS actions this key may call (`SendMessage` also allows its
    /// batch, as on SQS); `read` stands for the actions that change nothing
    /// ([`READ_ONLY_ACTIONS`]), `*` for all (the default).
    #[serde(default = "everything")]
    pub actions: Vec<String>,
    /// The queues it may use: names, `prefix*` patterns, or `*` (the default).
    #[serde(default = "everything")]
    pub queues: Vec<String>,
}

fn everything() -> Vec<String> {
    vec!["*".to_owned()]
}

/// Every action of the SQS API, as `[server.keys.NAME] actions` names them.
pub const SQS_ACTIONS: [&str; 23] = [
    "AddPermission",
    "CancelMessageMoveTask",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "CreateQueue",
    "DeleteMessage",
    "DeleteMessageBatch",
    "DeleteQueue",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "ListQueueTags",
    "ListQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "RemovePermission",
    "SendMessage",
    "SendMessageBatch",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "TagQueue",
    "UntagQueue",
];

/// The actions that change nothing: what `actions = ["read"]` allows, for
/// dashboards. (`ReceiveMessage` hides messages, so it is not one of them.)
pub const READ_ONLY_ACTIONS: [&str; 6] = [
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "ListQueueTags",
    "ListQueues",
];

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9324)),
            advertised_url: None,
            tls_cert: None,
            tls_key: None,
            account_id: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            auth: None,
            keys: BTreeMap::new(),
            dashboard_path: "/ui".to_owned(),
            max_connections: 1024,
        }
    }
}

/// `[server] auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerAuth {
    /// Every request is served without checking a signature.
    None,
}

/// `[metrics]`: one HTTP listener serving `/metrics`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve the listener and record metrics.
    pub enabled: bool,
    /// Address to listen on; loopback unless you mean to expose it. Port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `pretty` for people, `json` (one object per line) for log pipelines.
    pub format: LogFormat,
    /// A filter such as `info` or `info,ebbflow_runtime=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, with the span fields.
    Json,
}

/// Which backend holds the queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Durable, in one SQLite file at `path`; nothing to install. The default.
    #[default]
    Sqlite,
    /// In-process; nothing survives the process.
    Memory,
    /// Amazon SQS, or an SQS-compatible server (`endpoint_url`).
    Sqs,
    /// A Redis server shared by many workers (`url`).
    Redis,
    /// A PostgreSQL database shared by many workers (`url`).
    Postgres,
}

impl BackendKind {
    /// The kind as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Memory => "memory",
            BackendKind::Sqs => "sqs",
            BackendKind::Redis => "redis",
            BackendKind::Postgres => "postgres",
        }
    }
}

/// Where the Redis backend connects unless `[backend] url` says otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Where the PostgreSQL backend connects unless `[backend] url` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `[backend] synchronous` of the SQLite backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit is fsynced before the call returns.
    #[default]
    Full,
    /// Commits are fsynced at checkpoints.
    Normal,
}

/// Where the SQLite backend keeps its file unless `[backend] path` says otherwise.
pub const DEFAULT_SQLITE_PATH: &str = "data/ebbflow.db";

fn default_sqlite_path() -> std::path::PathBuf {
    DEFAULT_SQLITE_PATH.into()
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `sqlite` (the default), `memory`, `sqs`, `redis` or `postgres`.
    #[serde(default)]
    pub kind: BackendKind,
    /// `sqlite`: the database file, created on first use with its directory.
    #[serde(default = "default_sqlite_path")]
    pub path: std::path::PathBuf,
    /// `sqlite`: `full` (the default: a commit is on disk when a call
    /// returns) or `normal` (a power cut may lose the latest commits).
    #[serde(default)]
    pub synchronous: Synchronous,
    /// `sqlite`, `redis`, `postgres`: encrypt bodies and attributes at rest
    /// with the key in this file (64 hex digits). Redis and PostgreSQL take
    /// several, one per line, the newest last, for rotation. The keys
    /// themselves never go in the TOML.
    #[serde(default)]
    pub encryption_key_file: Option<std::path::PathBuf>,
    /// `sqlite`, `redis`, `postgres`: as `encryption_key_file`, from this
    /// environment variable.
    #[serde(default)]
    pub encryption_key_env: Option<String>,
    /// `sqs`: the endpoint of an SQS-compatible server; else the AWS default
    /// (`AWS_ENDPOINT_URL` is honoured too).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// `sqs`: the AWS region; else the AWS default chain (`AWS_REGION`, profile).
    #[serde(default)]
    pub region: Option<String>,
    /// `redis`, `postgres`: the server's URL; else [`DEFAULT_REDIS_URL`] or
    /// [`DEFAULT_POSTGRES_URL`]. A password is better given here through an
    /// environment override (`EBBFLOW__BACKEND__URL`) than written in the file.
    #[serde(default)]
    pub url: Option<String>,
    /// `postgres`: each process vacuums the messages table after this many
    /// dead row versions it made (two a message), and analyzes it after
    /// sending half as many messages; 0 leaves both to autovacuum. Unset:
    /// the backend's default, 100,000.
    #[serde(default)]
    pub vacuum_after: Option<u64>,
}

impl BackendConfig {
    /// The server URL for `redis` and `postgres`: `url`, or the kind's default.
    ///
    /// ```
    /// use ebbflow_core::config::{BackendConfig, BackendKind};
    /// let redis = BackendConfig { kind: BackendKind::Redis, ..BackendConfig::default() };
    /// assert_eq!(redis.server_url(), "redis://127.0.0.1:6379");
    /// ```
    pub fn server_url(&self) -> &str {
        match (&self.url, self.kind) {
            (Some(url), _) => url,
            (None, BackendKind::Postgres) => DEFAULT_POSTGRES_URL,
            (None, _) => DEFAULT_REDIS_URL,
        }
    }
}

#[cfg(feature = "seal")]
impl BackendConfig {
    /// Where `encryption_key_file` or `encryption_key_env` says the keys
    /// are, if either is set.
    pub fn key_source(&self) -> Option<crate::seal::KeySource> {
        match (&self.encryption_key_file, &self.encryption_key_env) {
            (Some(file), _) => Some(crate::seal::KeySource::File(file.clone())),
            (None, Some(var)) => Some(crate::seal::KeySource::Env(var.clone())),
            (None, None) => None,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            kind: BackendKind::default(),
            path: default_sqlite_path(),
            synchronous: Synchronous::default(),
            encryption_key_file: None,
            encryption_key_env: None,
            endpoint_url: None,
            region: None,
            url: None,
            vacuum_after: None,
        }
    }
}

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// How long in-flight messages may run after a shutdown signal.
    pub shutdown_grace: HumanDuration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            shutdown_grace: HumanDuration(Duration::from_secs(30)),
        }
    }
}

/// `[queues.NAME]`: a queue the runtime creates at start if it is missing.
/// A name ending in `.fifo` makes a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Visibility timeout.
    pub visibility_timeout: HumanDuration,
    /// Retention period.
    pub retention: HumanDuration,
    /// Delivery delay of new messages.
    pub delay: HumanDuration,
    /// Largest message, body plus attributes.
    pub max_message_size: HumanSize,
    /// Default long-poll wait.
    pub receive_wait_time: HumanDuration,
    /// FIFO only: deduplicate by the body's SHA-256.
    pub content_based_deduplication: bool,
    /// Dead-letter queue; receives past `max_receive_count` move there.
    pub dead_letter_queue: Option<String>,
    /// Receives before a message is dead-lettered (needs `dead_letter_queue`).
    pub max_receive_count: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        let d = QueueAttributes::standard();
        Self {
            visibility_timeout: HumanDuration(d.visibility_timeout),
            retention: HumanDuration(d.message_retention_period),
            delay: HumanDuration(d.delay),
            max_message_size: HumanSize(d.maximum_message_size),
            receive_wait_time: HumanDuration(d.receive_wait_time),
            content_based_deduplication: false,
            dead_letter_queue: None,
            max_receive_count: 5,
        }
    }
}

impl QueueConfig {
    /// The queue attributes this entry describes, for a queue called `name`.
    pub fn attributes(&self, name: &str) -> QueueAttributes {
        let base = if name.ends_with(limits::FIFO_SUFFIX) {
            QueueAttributes::fifo()
        } else {
            QueueAttributes::standard()
        };
        let mut attrs = base
            .with_visibility_timeout(self.visibility_timeout.0)
            .with_retention(self.retention.0)
            .with_delay(self.delay.0)
            .with_maximum_message_size(self.max_message_size.0)
            .with_receive_wait_time(self.receive_wait_time.0)
            .with_content_based_deduplication(self.content_based_deduplication);
        if let Some(dlq) = &self.dead_letter_queue {
            attrs = attrs.with_redrive_policy(RedrivePolicy::new(dlq, self.max_receive_count));
        }
        attrs
    }
}

/// `[workers.NAME]`: one worker group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// The queue to consume; defaults to the group's name.
    pub queue: Option<String>,
    /// A fixed pool of this many workers. Unset (the default), the pool
    /// autoscales within `scaling`.
    pub concurrency: Option<u32>,
    /// How the pool grows and shrinks with the backlog (when `concurrency` is unset).
    pub scaling: ScalingConfig,
    /// Messages per receive, 1–10.
    pub batch_size: u32,
    /// Long-poll wait of each receive, 0–20 s.
    pub wait_time: HumanDuration,
    /// Overrides the queue's visibility timeout for the messages this group receives.
    pub visibility_timeout: Option<HumanDuration>,
    /// Longest one attempt of the handler may run; past it the attempt fails and is retried.
    pub handler_timeout: HumanDuration,
    /// Extend visibility while a handler runs past half of it.
    pub heartbeat: bool,
    /// Retries of retryable failures.
    pub retry: RetryConfig,
    /// Where permanently failed and undecodable messages go; defaults to the
    /// queue's dead-letter queue from `[queues]`.
    pub dead_letter_queue: Option<String>,
    /// A handler outside Rust, run by `ebbflow work`: an HTTP endpoint or a
    /// command. A Rust program registers its handlers in code instead.
    pub handler: Option<HandlerConfig>,
}

/// `[workers.NAME] handler = { … }`: a handler `ebbflow work` runs.
///
/// ```
/// use ebbflow_core::config::{CommandMode, HandlerConfig};
/// let http: HandlerConfig = toml_like(r#"{"http": "http://127.0.0.1:8080/orders"}"#);
/// assert_eq!(http.http.as_deref(), Some("http://127.0.0.1:8080/orders"));
/// let cmd: HandlerConfig = toml_like(r#"{"command": ["python3", "orders.py"], "mode": "long_lived"}"#);
/// assert_eq!(cmd.mode, CommandMode::LongLived);
/// # fn toml_like(s: &str) -> HandlerConfig { serde_json::from_str(s).unwrap() }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HandlerConfig {
    /// POST each message to this URL (`http://`), sqsd-style.
    #[serde(default)]
    pub http: Option<String>,
    /// HTTP only: POST a JSON array of up to `batch_size` messages, answered
    /// with Lambda's `batchItemFailures`.
    #[serde(default)]
    pub batch: bool,
    /// Run this program (and its arguments) for messages.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Command only: a process per message, or long-lived processes.
    #[serde(default)]
    pub mode: CommandMode,
    /// Command only: what the processes get of this environment beyond
    /// `PATH`, `HOME`, `LANG`, `LC_*`, `TZ` and the message's `EBBFLOW_*`
    /// variables: `NAME` passes that variable through, `NAME=value` sets it.
    /// Nothing else of ebbflow's environment reaches a handler.
    #[serde(default)]
    pub env: Vec<String>,
}

/// How `ebbflow work` runs a command handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CommandMode {
    /// One process per message: the body on stdin, the exit code the outcome.
    #[default]
    PerMessage,
    /// Processes that stay up, reading one JSON message per line on stdin and
    /// answering one JSON line on stdout; one process per busy worker.
    LongLived,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queue: None,
            concurrency: None,
            scaling: ScalingConfig::default(),
            batch_size: 10,
            wait_time: HumanDuration(limits::MAX_WAIT_TIME),
            visibility_timeout: None,
            handler_timeout: HumanDuration(Duration::from_secs(30)),
            heartbeat: true,
            retry: RetryConfig::default(),
            dead_letter_queue: None,
            handler: None,
        }
    }
}

impl WorkerConfig {
    /// The queue this group consumes, given the group's name.
    pub fn queue_name<'a>(&'a self, group: &'a str) -> &'a str {
        self.queue.as_deref().unwrap_or(group)
    }
}

/// `[workers.NAME.scaling]`: the autoscaler's rules.
///
/// Every tick the pool is sized with Little's law (arrival rate × handler
/// time) plus the workers it takes to drain the backlog within
/// `target_drain_time`, clamped to `min..=max`; see the README's
/// "Autoscaling" section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingConfig {
    /// Fewest workers; 0 scales to zero, keeping one long poll that wakes the pool.
    pub min: u32,
    /// Most workers in this process: a machine's resource.
    pub max: u32,
    /// Most workers across every process consuming the queue (the fleet),
    /// to protect a downstream; unset, only each process's `max` bounds it.
    /// The fleet is known on engines that keep a consumer registry (memory,
    /// SQLite, PostgreSQL, Redis), not on Amazon SQS.
    pub fleet_max: Option<u32>,
    /// How often the autoscaler decides.
    pub tick: HumanDuration,
    /// Size the pool to clear the backlog within this, on top of the arrival rate.
    pub target_drain_time: HumanDuration,
    /// When set, size by backlog alone instead: one worker per this many
    /// backlog messages (as KEDA does).
    pub target_backlog_per_worker: Option<u32>,
    /// Which of the queue's counts make the backlog.
    pub backlog: Vec<BacklogCount>,
    /// Rules for growing; keys left out keep [`ScalePolicy::up`]'s values.
    #[serde(deserialize_with = "ScalePolicy::deserialize_up")]
    pub up: ScalePolicy,
    /// Rules for shrinking; keys left out keep [`ScalePolicy::down`]'s values.
    #[serde(deserialize_with = "ScalePolicy::deserialize_down")]
    pub down: ScalePolicy,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        Self {
            min: 1,
            max: 100,
            fleet_max: None,
            tick: HumanDuration(Duration::from_secs(1)),
            target_drain_time: HumanDuration(Duration::from_secs(30)),
            target_backlog_per_worker: None,
            backlog: vec![BacklogCount::Visible],
            up: ScalePolicy::up(),
            down: ScalePolicy::down(),
        }
    }
}

/// `[workers.NAME.scaling.up]` and `.down`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePolicy {
    /// Most workers added (or retired) in one decision; unset, no limit.
    pub max_step: Option<u32>,
    /// The window whose recommendations are weighed: growing takes the lowest
    /// of the window, shrinking the highest, so short swings do not move the pool.
    pub stabilisation: HumanDuration,
    /// The least time between two changes in this direction.
    pub cooldown: HumanDuration,
}

impl ScalePolicy {
    /// Growing: at once, by as much as the recommendation says.
    pub fn up() -> Self {
        Self {
            max_step: None,
            stabilisation: HumanDuration(Duration::ZERO),
            cooldown: HumanDuration(Duration::ZERO),
        }
    }

    /// Shrinking: only to the highest recommendation of the last 90 s, so a
    /// dip shorter than that keeps the pool.
    pub fn down() -> Self {
        Self {
            stabilisation: HumanDuration(Duration::from_secs(90)),
            ..Self::up()
        }
    }

    fn deserialize_up<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PartialPolicy::deserialize(d).map(|p| p.over(Self::up()))
    }

    fn deserialize_down<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PartialPolicy::deserialize(d).map(|p| p.over(Self::down()))
    }
}

/// A scale policy as written: the keys given replace the direction's defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialPolicy {
    max_step: Option<u32>,
    stabilisation: Option<HumanDuration>,
    cooldown: Option<HumanDuration>,
}

impl PartialPolicy {
    fn over(self, base: ScalePolicy) -> ScalePolicy {
        ScalePolicy {
            max_step: self.max_step.or(base.max_step),
            stabilisation: self.stabilisation.unwrap_or(base.stabilisation),
            cooldown: self.cooldown.unwrap_or(base.cooldown),
        }
    }
}

/// A count of the queue's stats that makes the autoscaler's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BacklogCount {
    /// Messages waiting to be received.
    Visible,
    /// Messages whose delay has not ended yet.
    Delayed,
    /// Messages received and not yet deleted (this pool's own busy workers included).
    InFlight,
}

/// `[workers.NAME.retry]`: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in process, the first included; then the message is released
    /// to the queue for redelivery.
    pub attempts: u32,
    /// Backoff before the second attempt.
    pub initial_delay: HumanDuration,
    /// Longest backoff.
    pub max_delay: HumanDuration,
    /// Growth of the backoff per attempt.
    pub multiplier: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_delay: HumanDuration(Duration::from_millis(100)),
            max_delay: HumanDuration(Duration::from_secs(30)),
            multiplier: 2.0,
        }
    }
}

/// One problem in a configuration: the key path and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path, such as `workers.orders.batch_size`.
    pub key: String,
    /// What was expected there.
    pub expected: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.expected)
    }
}

impl Config {
    /// Checks what the types alone cannot: ranges, names, references between
    /// sections. Returns every problem found, each with its key path.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem =
            |key: String, expected: String| problems.push(ConfigProblem { key, expected });
        if self.backend.encryption_key_file.is_some() && self.backend.encryption_key_env.is_some() {
            problem(
                "backend.encryption_key_env".into(),
                "either encryption_key_file or encryption_key_env, not both".into(),
            );
        }
        // A key of another kind's is a mistake to say out loud, not to ignore.
        let b = &self.backend;
        let misplaced = [
            (
                "encryption_key_file",
                b.encryption_key_file.is_some(),
                "sqlite or redis or postgres",
            ),
            (
                "encryption_key_env",
                b.encryption_key_env.is_some(),
                "sqlite or redis or postgres",
            ),
            ("endpoint_url", b.endpoint_url.is_some(), "sqs"),
            ("region", b.region.is_some(), "sqs"),
            ("url", b.url.is_some(), "redis or postgres"),
            ("vacuum_after", b.vacuum_after.is_some(), "postgres"),
        ];
        for (name, set, kinds) in misplaced {
            if set && !kinds.split(" or ").any(|k| k == b.kind.as_str()) {
                problem(
                    format!("backend.{name}"),
                    format!(
                        "a key of kind = {kinds}; this backend is kind = \"{}\"{} (set backend.kind, or remove the key)",
                        b.kind.as_str(),
                        if b.kind == BackendKind::default() { " by default" } else { "" }
                    ),
                );
            }
        }
        let server = &self.server;
        if server.auth == Some(ServerAuth::None) && !server.keys.is_empty() {
            problem(
                "server.auth".into(),
                "either auth = \"none\" or [server.keys]: with keys, every request must be signed"
                    .into(),
            );
        }
        if server.tls_cert.is_some() != server.tls_key.is_some() {
            problem(
                "server.tls_cert".into(),
                "both tls_cert and tls_key (PEM files), or neither".into(),
            );
        }
        let history = &self.history;
        if !(60..=14 * 86_400).contains(&history.retention.0.as_secs()) {
            problem(
                "history.retention".into(),
                "from 1 min to 14 d (the longest a queue keeps a message)".into(),
            );
        }
        if history.interval.0 < std::time::Duration::from_secs(1) {
            problem("history.interval".into(), "at least 1 s".into());
        }
        if server.max_connections == 0 {
            problem(
                "server.max_connections".into(),
                "at least 1 (1024 by default)".into(),
            );
        }
        let path = &server.dashboard_path;
        let clean = path.starts_with('/')
            && path.len() > 1
            && path[1..]
                .split('/')
                .all(|seg| !seg.is_empty() && !seg.bytes().all(|b| b.is_ascii_digit()));
        if !path.is_empty() && !clean {
            problem(
                "server.dashboard_path".into(),
                format!("`{path}`: a path such as /ui (not all digits, which queue URLs use), or empty for no dashboard"),
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        for (name, key) in &server.keys {
            if key.secret_file.is_some() == key.secret_env.is_some() {
                problem(
                    format!("server.keys.{name}"),
                    "exactly one of secret_file and secret_env (the secret never goes in this file)".into(),
                );
            }
            for action in &key.actions {
                if !(action == "*" || action == "read" || SQS_ACTIONS.contains(&action.as_str())) {
                    problem(
                        format!("server.keys.{name}.actions"),
                        format!("`{action}` is not an SQS action (nor `read` or `*`)"),
                    );
                }
            }
            if key.queues.iter().any(|q| q.is_empty()) {
                problem(
                    format!("server.keys.{name}.queues"),
                    "queue names or `prefix*` patterns, not empty strings".into(),
                );
            }
            if key.access_key_id.is_empty() || !ids.insert(key.access_key_id.as_str()) {
                problem(
                    format!("server.keys.{name}.access_key_id"),
                    "a non-empty access key id no other key has".into(),
                );
            }
        }
        if self.backend.path.as_os_str().is_empty() {
            problem(
                "backend.path".into(),
                "a file path for the SQLite database".into(),
            );
        }
        for (name, q) in &self.queues {
            let key = |k: &str| format!("queues.{name}.{k}");
            if let Err(e) = limits::validate_queue_attributes(name, &q.attributes(name)) {
                let field = match &e {
                    crate::QueueError::InvalidParameterValue { parameter, .. } => {
                        match parameter.as_str() {
                            "VisibilityTimeout" => "visibility_timeout",
                            "MessageRetentionPeriod" => "retention",
                            "DelaySeconds" => "delay",
                            "MaximumMessageSize" => "max_message_size",
                            "ReceiveMessageWaitTimeSeconds" => "receive_wait_time",
                            "ContentBasedDeduplication" => "content_based_deduplication",
                            "RedrivePolicy.maxReceiveCount" => "max_receive_count",
                            "RedrivePolicy.deadLetterTargetArn" => "dead_letter_queue",
                            _ => "",
                        }
                    }
                    _ => "",
                };
                let at = if field.is_empty() {
                    format!("queues.{name}")
                } else {
                    key(field)
                };
                problem(at, e.to_string());
            }
            if let Some(dlq) = &q.dead_letter_queue {
                if let Some(target) = self.queues.get(dlq) {
                    if let Err(e) = limits::validate_dead_letter_target(
                        name,
                        &q.attributes(name),
                        dlq,
                        &target.attributes(dlq),
                    ) {
                        problem(key("dead_letter_queue"), e.to_string());
                    }
                }
            }
        }
        for (name, w) in &self.workers {
            let key = |k: &str| format!("workers.{name}.{k}");
            if let Err(e) = limits::validate_queue_name(w.queue_name(name)) {
                problem(key("queue"), e.to_string());
            }
            match w.concurrency {
                Some(0) => problem(key("concurrency"), "at least 1 worker".into()),
                Some(_) if w.scaling != ScalingConfig::default() => problem(
                    key("scaling"),
                    "no [scaling] rules with a fixed `concurrency`: remove one of them".into(),
                ),
                _ => {}
            }
            if let Some(h) = &w.handler {
                match (&h.http, &h.command) {
                    (Some(_), Some(_)) | (None, None) => problem(
                        key("handler"),
                        "exactly one of `http = \"http://…\"` and `command = [\"program\", …]`"
                            .into(),
                    ),
                    (Some(url), None) if !url.starts_with("http://") => {
                        problem(key("handler.http"), format!("an http:// URL, not `{url}`"))
                    }
                    (None, Some(argv)) if argv.first().is_none_or(|p| p.is_empty()) => problem(
                        key("handler.command"),
                        "a program and its arguments, for example [\"python3\", \"handler.py\"]"
                            .into(),
                    ),
                    _ => {}
                }
                if h.batch && h.http.is_none() {
                    problem(
                        key("handler.batch"),
                        "batch mode is for http handlers only".into(),
                    );
                }
                if h.mode != CommandMode::default() && h.command.is_none() {
                    problem(
                        key("handler.mode"),
                        "mode is for command handlers only".into(),
                    );
                }
                if !h.env.is_empty() && h.command.is_none() {
                    problem(
                        key("handler.env"),
                        "env is for command handlers only".into(),
                    );
                }
                for entry in &h.env {
                    let name = entry.split_once('=').map_or(entry.as_str(), |(n, _)| n);
                    let valid = name
                        .bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !valid {
                        problem(
                            key("handler.env"),
                            format!("`{entry}`: NAME (passed through) or NAME=value, NAME of [A-Za-z_][A-Za-z0-9_]*"),
                        );
                    }
                }
            }
            let s = &w.scaling;
            if s.max == 0 {
                problem(key("scaling.max"), "at least 1 worker".into());
            }
            if s.min > s.max {
                problem(
                    key("scaling.min"),
                    format!("at most scaling.max ({}), not {}", s.max, s.min),
                );
            }
            if s.fleet_max.is_some_and(|f| f < s.min.max(1)) {
                problem(
                    key("scaling.fleet_max"),
                    format!("at least scaling.min ({}) and 1", s.min),
                );
            }
            if s.tick.0 < Duration::from_millis(10) {
                problem(key("scaling.tick"), "at least 10ms".into());
            }
            if s.target_drain_time.0.is_zero() {
                problem(
                    key("scaling.target_drain_time"),
                    "a duration above zero".into(),
                );
            }
            if s.target_backlog_per_worker == Some(0) {
                problem(
                    key("scaling.target_backlog_per_worker"),
                    "at least 1 message".into(),
                );
            }
            if s.backlog.is_empty() {
                problem(
                    key("scaling.backlog"),
                    "one or more of \"visible\", \"delayed\", \"in_flight\"".into(),
                );
            }
            for (dir, policy) in [("up", &s.up), ("down", &s.down)] {
                if policy.max_step == Some(0) {
                    problem(
                        key(&format!("scaling.{dir}.max_step")),
                        "at least 1 worker (leave it unset for no limit)".into(),
                    );
                }
            }
            if !(1..=limits::MAX_RECEIVE_MESSAGES).contains(&w.batch_size) {
                problem(
                    key("batch_size"),
                    format!("1 to 10 messages, not {}", w.batch_size),
                );
            }
            if w.wait_time.0.is_zero() {
                problem(
                    key("wait_time"),
                    "a long poll above zero (1s to 20s): with 0s the poller spins, a paid call each time on SQS".into(),
                );
            }
            if w.wait_time.0 > limits::MAX_WAIT_TIME {
                problem(
                    key("wait_time"),
                    format!("at most 20s, not {:?}", w.wait_time.0),
                );
            }
            if let Some(v) = w.visibility_timeout {
                if v.0.is_zero() {
                    problem(
                        key("visibility_timeout"),
                        "above zero: with 0s every message is visible to other consumers while it runs, and the heartbeat is off".into(),
                    );
                }
                if v.0 > limits::MAX_VISIBILITY_TIMEOUT {
                    problem(
                        key("visibility_timeout"),
                        format!("at most 12h, not {:?}", v.0),
                    );
                }
            }
            if w.handler_timeout.0.is_zero() {
                problem(key("handler_timeout"), "a duration above zero".into());
            }
            if w.retry.attempts == 0 {
                problem(key("retry.attempts"), "at least 1 attempt".into());
            }
            if !(w.retry.multiplier >= 1.0 && w.retry.multiplier.is_finite()) {
                problem(
                    key("retry.multiplier"),
                    format!("a number of at least 1.0, not {}", w.retry.multiplier),
                );
            }
            if w.retry.max_delay < w.retry.initial_delay {
                problem(
                    key("retry.max_delay"),
                    "at least retry.initial_delay".into(),
                );
            }
            if w.retry.max_delay.0 > limits::MAX_VISIBILITY_TIMEOUT {
                problem(
                    key("retry.max_delay"),
                    "at most 12h, the longest a message can be released for".into(),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of the problems `validate` finds in the config `json`.
    fn problem_keys(json: &str) -> Vec<String> {
        match parse(json).validate() {
            Ok(()) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| p.key).collect(),
        }
    }

    fn parse(json: &str) -> Config {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn defaults_are_valid_and_match_sqs() {
        let cfg = parse(r#"{"queues": {"orders": {}}, "workers": {"orders": {}}}"#);
        cfg.validate().unwrap();
        assert_eq!(
            cfg.queues["orders"].attributes("orders"),
            QueueAttributes::standard()
        );
        assert!(cfg.queues["orders"].attributes("orders.fifo").fifo);
    }

    #[test]
    fn a_handler_is_one_http_url_or_one_command_with_its_own_options() {
        let keys = problem_keys;
        assert!(keys(
            r#"{"workers": {"w": {"handler": {"http": "http://127.0.0.1:1/x", "batch": true}}}}"#
        )
        .is_empty());
        assert!(keys(
            r#"{"workers": {"w": {"handler": {"command": ["sh"], "mode": "long_lived"}}}}"#
        )
        .is_empty());
        assert_eq!(
            keys(r#"{"workers": {"w": {"handler": {}}}}"#),
            ["workers.w.handler"]
        );
        assert_eq!(
            keys(r#"{"workers": {"w": {"handler": {"http": "https://x"}}}}"#),
            ["workers.w.handler.http"]
        );
        assert_eq!(
            keys(r#"{"workers": {"w": {"handler": {"command": []}}}}"#),
            ["workers.w.handler.command"]
        );
        assert_eq!(
            keys(r#"{"workers": {"w": {"handler": {"command": ["sh"], "batch": true}}}}"#),
            ["workers.w.handler.batch"]
        );
        assert_eq!(
            keys(r#"{"workers": {"w": {"handler": {"http": "http://x", "mode": "long_lived"}}}}"#),
            ["workers.w.handler.mode"]
        );
        assert!(keys(
            r#"{"workers": {"w": {"handler": {"command": ["sh"], "env": ["DATABASE_URL", "MODE=fast"]}}}}"#
        )
        .is_empty());
        assert_eq!(
            keys(r#"{"workers": {"w": {"handler": {"command": ["sh"], "env": ["1BAD"]}}}}"#),
            ["workers.w.handler.env"]
        );
    }

    #[test]
    fn server_keys_keep_their_secrets_elsewhere_and_exclude_running_open() {
        let keys = problem_keys;
        assert!(
            keys(r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret_env": "S"}}}}"#)
                .is_empty()
        );
        assert_eq!(
            keys(r#"{"server": {"keys": {"a": {"access_key_id": "AK"}}}}"#),
            ["server.keys.a"]
        );
        assert_eq!(
            keys(
                r#"{"server": {"auth": "none", "keys": {"a": {"access_key_id": "AK", "secret_env": "S"}}}}"#
            ),
            ["server.auth"]
        );
        assert_eq!(
            keys(
                r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret_env": "S"}, "b": {"access_key_id": "AK", "secret_env": "T"}}}}"#
            ),
            ["server.keys.b.access_key_id"]
        );
        assert!(serde_json::from_str::<Config>(
            r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret": "x"}}}}"#
        )
        .is_err());
    }

    #[test]
    fn a_fleet_cap_holds_at_least_the_minimum() {
        let problems = |scaling: &str| -> Vec<String> {
            let json = format!(
                r#"{{"queues": {{"q": {{}}}}, "workers": {{"q": {{"scaling": {scaling}}}}}}}"#
            );
            match parse(&json).validate() {
                Ok(()) => Vec::new(),
                Err(problems) => problems.into_iter().map(|p| p.key).collect(),
            }
        };
        assert!(problems(r#"{"min": 2, "max": 10, "fleet_max": 40}"#).is_empty());
        assert_eq!(
            problems(r#"{"min": 2, "max": 10, "fleet_max": 1}"#),
            ["workers.q.scaling.fleet_max"]
        );
    }

    #[test]
    fn tls_needs_both_a_certificate_and_a_key() {
        let problems = problem_keys;
        let open = r#""auth": "none""#;
        assert!(problems(&format!(
            r#"{{"server": {{{open}, "tls_cert": "c.pem", "tls_key": "k.pem"}}}}"#
        ))
        .is_empty());
        assert_eq!(
            problems(&format!(r#"{{"server": {{{open}, "tls_cert": "c.pem"}}}}"#)),
            ["server.tls_cert"]
        );
    }

    #[test]
    fn the_dashboard_path_cannot_look_like_a_queue_url() {
        let problems = problem_keys;
        let with = |path: &str| {
            problems(&format!(
                r#"{{"server": {{"auth": "none", "dashboard_path": "{path}"}}}}"#
            ))
        };
        assert!(with("/ui").is_empty());
        assert!(with("").is_empty(), "empty: no dashboard");
        for bad in ["/000000000000", "ui", "/", "/ui//x"] {
            assert_eq!(with(bad), ["server.dashboard_path"], "{bad}");
        }
    }

    #[test]
    fn a_key_names_real_actions_and_defaults_to_everything() {
        let cfg =
            parse(r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret_env": "S"}}}}"#);
        assert_eq!(
            (
                cfg.server.keys["a"].actions.as_slice(),
                cfg.server.keys["a"].queues.as_slice()
            ),
            (["*".to_owned()].as_slice(), ["*".to_owned()].as_slice())
        );
        let problems = problem_keys;
        assert!(problems(
            r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret_env": "S", "actions": ["read", "SendMessage"], "queues": ["orders-*"]}}}}"#
        )
        .is_empty());
        assert_eq!(
            problems(
                r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret_env": "S", "actions": ["SendMesage"]}}}}"#
            ),
            ["server.keys.a.actions"]
        );
        assert_eq!(
            problems(
                r#"{"server": {"keys": {"a": {"access_key_id": "AK", "secret_env": "S", "queues": [""]}}}}"#
            ),
            ["server.keys.a.queues"]
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err =
            serde_json::from_str::<Config>(r#"{"workers": {"w": {"concurency": 3}}}"#).unwrap_err();
        assert!(err.to_string().contains("concurency"), "{err}");
    }

    #[test]
    fn settings_that_would_silently_misbehave_are_errors_naming_their_key() {
        let cfg = parse(
            r#"{"backend": {"url": "redis://x"},
                "workers": {"w": {"wait_time": "0s", "visibility_timeout": "0s"}}}"#,
        );
        let problems = cfg.validate().unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"backend.url"), "{keys:?}");
        assert!(keys.contains(&"workers.w.wait_time"), "{keys:?}");
        assert!(keys.contains(&"workers.w.visibility_timeout"), "{keys:?}");
        let sqs_url =
            parse(r#"{"backend": {"kind": "sqs", "url": "redis://x", "region": "eu-west-1"}}"#);
        let problems = sqs_url.validate().unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "backend.url");
        let fine =
            parse(r#"{"backend": {"kind": "postgres", "url": "postgres://x", "vacuum_after": 0}}"#);
        assert!(fine.validate().is_ok());
        let sqlite_vacuum = parse(r#"{"backend": {"vacuum_after": 10}}"#);
        let problems = sqlite_vacuum.validate().unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "backend.vacuum_after");
    }

    #[test]
    fn problems_name_their_key_path() {
        let cfg = parse(
            r#"{"queues": {"q": {"retention": "10s"}},
                "workers": {"w": {"batch_size": 11, "retry": {"attempts": 0}}}}"#,
        );
        let keys: Vec<String> = cfg
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(
            keys,
            vec![
                "queues.q.retention",
                "workers.w.batch_size",
                "workers.w.retry.attempts"
            ]
        );
    }

    #[test]
    fn dead_letter_queues_must_match_their_source_type() {
        let cfg = parse(r#"{"queues": {"a.fifo": {"dead_letter_queue": "dlq"}, "dlq": {}}}"#);
        let problems = cfg.validate().unwrap_err();
        assert_eq!(problems[0].key, "queues.a.fifo.dead_letter_queue");
    }
}
