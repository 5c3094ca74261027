//! Queue-level types: attributes, dead-letter policies, receive requests and stats.

use crate::limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A queue's configuration, with SQS's defaults.
///
/// ```
/// use ebbflow_core::{QueueAttributes, RedrivePolicy};
/// use std::time::Duration;
///
/// let orders = QueueAttributes::standard()
///     .with_visibility_timeout(Duration::from_secs(60))
///     .with_redrive_policy(RedrivePolicy::new("orders-dlq", 5));
/// assert!(!orders.fifo);
/// assert_eq!(orders.message_retention_period, Duration::from_secs(4 * 24 * 3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueAttributes {
    /// FIFO queue (name must end in `.fifo`) rather than standard.
    pub fifo: bool,
    /// How long a received message stays hidden: 0 – 12 h, default 30 s.
    pub visibility_timeout: Duration,
    /// How long a message is kept: 60 s – 14 d, default 4 d.
    pub message_retention_period: Duration,
    /// Delay before a new message becomes visible: 0 – 15 min, default 0.
    pub delay: Duration,
    /// Largest body plus attributes, in bytes: 1,024 – 1,048,576 (the default).
    pub maximum_message_size: usize,
    /// Default long-poll wait of a receive: 0 – 20 s, default 0.
    pub receive_wait_time: Duration,
    /// FIFO only: derive the deduplication id from the body's SHA-256.
    pub content_based_deduplication: bool,
    /// Where messages go after too many receives.
    pub redrive_policy: Option<RedrivePolicy>,
    /// Which queues may use this queue as their dead-letter queue.
    pub redrive_allow_policy: RedriveAllowPolicy,
    /// Cost-allocation tags (SQS's `TagQueue`): up to 50, kept with the
    /// queue, not settings: creating an existing queue ignores them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// SQS's `Policy` attribute: an access policy document (JSON), which
    /// `ebbflow serve`'s `AddPermission` writes and its access check reads.
    /// Engines keep it as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// When the queue was created, in seconds since the Unix epoch (SQS's
    /// `CreatedTimestamp`). The engine stamps it when it creates the queue
    /// (see [`QueueAttributes::stamped`]); what a caller passes is replaced.
    /// `None` for a queue an older version of ebbflow made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_timestamp: Option<u64>,
    /// When a setting last changed, in seconds since the Unix epoch (SQS's
    /// `LastModifiedTimestamp`): stamped at creation and by every update that
    /// changes more than tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_timestamp: Option<u64>,
    /// SQS's server-side encryption settings (`SqsManagedSseEnabled`,
    /// `KmsMasterKeyId`, `KmsDataKeyReusePeriodSeconds`), kept and described
    /// as set. They describe what an SQS client asked for; whether an engine
    /// encrypts what it stores is the engine's own setting (the README's
    /// "encryption at rest").
    #[serde(default, skip_serializing_if = "ServerSideEncryption::is_default")]
    pub encryption: ServerSideEncryption,
    /// Set while an operator has paused the queue's consumers (`ebbflow
    /// pause`): every runtime consuming the queue stops receiving from it
    /// within a tick. Not a setting: creating the queue again ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<crate::Pause>,
}

/// A queue's server-side encryption as SQS names it.
///
/// ```
/// use ebbflow_core::ServerSideEncryption;
/// assert_eq!(ServerSideEncryption::default(), ServerSideEncryption::SqsManaged);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ServerSideEncryption {
    /// `SqsManagedSseEnabled=true`: SQS's default since 2022.
    #[default]
    SqsManaged,
    /// `SqsManagedSseEnabled=false` and no KMS key.
    Off,
    /// SSE-KMS: `KmsMasterKeyId`, and how long a data key is reused
    /// (`KmsDataKeyReusePeriodSeconds`, 60 s – 24 h, default 5 min).
    Kms {
        /// The KMS key's id, alias or ARN, as given.
        key_id: String,
        /// How long a data key is reused.
        data_key_reuse_period: Duration,
    },
}

impl ServerSideEncryption {
    /// SQS's default period of reuse of a KMS data key.
    pub const DEFAULT_DATA_KEY_REUSE_PERIOD: Duration = Duration::from_secs(300);

    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for QueueAttributes {
    fn default() -> Self {
        Self::standard()
    }
}

impl QueueAttributes {
    /// A standard queue with SQS's defaults.
    pub fn standard() -> Self {
        Self {
            fifo: false,
            visibility_timeout: limits::DEFAULT_VISIBILITY_TIMEOUT,
            message_retention_period: limits::DEFAULT_RETENTION,
            delay: Duration::ZERO,
            maximum_message_size: limits::MAX_MESSAGE_SIZE,
            receive_wait_time: Duration::ZERO,
            content_based_deduplication: false,
            redrive_policy: None,
            redrive_allow_policy: RedriveAllowPolicy::AllowAll,
            tags: BTreeMap::new(),
            policy: None,
            created_timestamp: None,
            last_modified_timestamp: None,
            encryption: ServerSideEncryption::SqsManaged,
            paused: None,
        }
    }

    /// These attributes as a queue created now has them: both timestamps
    /// set to the current time. Every engine's `create_queue` calls it, so
    /// that no caller can date a queue.
    ///
    /// ```
    /// use ebbflow_core::QueueAttributes;
    /// let created = QueueAttributes::standard().stamped();
    /// assert!(created.created_timestamp.is_some());
    /// assert_eq!(created.created_timestamp, created.last_modified_timestamp);
    /// ```
    pub fn stamped(mut self) -> Self {
        let now = unix_seconds();
        self.created_timestamp = Some(now);
        self.last_modified_timestamp = Some(now);
        self
    }

    /// Whether creating a queue with `other` conflicts with this existing
    /// one (`QueueAlreadyExists`): any setting differs. Tags, timestamps and
    /// a pause are not settings.
    ///
    /// ```
    /// use ebbflow_core::QueueAttributes;
    /// let tagged = QueueAttributes::standard().with_tag("team", "orders");
    /// assert!(!tagged.conflicts_with(&QueueAttributes::standard()));
    /// assert!(tagged.conflicts_with(&QueueAttributes::fifo()));
    /// ```
    pub fn conflicts_with(&self, other: &QueueAttributes) -> bool {
        let untagged = |a: &QueueAttributes| QueueAttributes {
            tags: BTreeMap::new(),
            created_timestamp: None,
            last_modified_timestamp: None,
            paused: None,
            ..a.clone()
        };
        untagged(self) != untagged(other)
    }

    /// A FIFO queue with SQS's defaults.
    pub fn fifo() -> Self {
        Self {
            fifo: true,
            ..Self::standard()
        }
    }

    /// Sets the visibility timeout.
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Sets the retention period.
    pub fn with_retention(mut self, period: Duration) -> Self {
        self.message_retention_period = period;
        self
    }

    /// Sets the queue's delivery delay.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the maximum message size in bytes.
    pub fn with_maximum_message_size(mut self, bytes: usize) -> Self {
        self.maximum_message_size = bytes;
        self
    }

    /// Sets the default long-poll wait.
    pub fn with_receive_wait_time(mut self, wait: Duration) -> Self {
        self.receive_wait_time = wait;
        self
    }

    /// Turns content-based deduplication on or off (FIFO only).
    pub fn with_content_based_deduplication(mut self, on: bool) -> Self {
        self.content_based_deduplication = on;
        self
    }

    /// Sets the dead-letter policy.
    pub fn with_redrive_policy(mut self, policy: RedrivePolicy) -> Self {
        self.redrive_policy = Some(policy);
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets which queues may dead-letter into this one.
    pub fn with_redrive_allow_policy(mut self, policy: RedriveAllowPolicy) -> Self {
        self.redrive_allow_policy = policy;
        self
    }
}

/// A change to some of a queue's attributes; `None` leaves one as it is.
/// Whether a queue is FIFO cannot change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueAttributesUpdate {
    /// New visibility timeout.
    pub visibility_timeout: Option<Duration>,
    /// New retention period.
    pub message_retention_period: Option<Duration>,
    /// New delivery delay.
    pub delay: Option<Duration>,
    /// New maximum message size.
    pub maximum_message_size: Option<usize>,
    /// New default long-poll wait.
    pub receive_wait_time: Option<Duration>,
    /// New content-based deduplication setting.
    pub content_based_deduplication: Option<bool>,
    /// `Some(None)` removes the dead-letter policy.
    pub redrive_policy: Option<Option<RedrivePolicy>>,
    /// New redrive allow policy.
    pub redrive_allow_policy: Option<RedriveAllowPolicy>,
    /// Tags to add or overwrite (SQS's `TagQueue`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tag: BTreeMap<String, String>,
    /// Tag keys to remove (SQS's `UntagQueue`); a key not there is no error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untag: Vec<String>,
    /// `Some(None)` removes the access policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Option<String>>,
    /// `SqsManagedSseEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_managed_sse: Option<bool>,
    /// `KmsMasterKeyId`; empty turns SSE-KMS off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
    /// `KmsDataKeyReusePeriodSeconds` (kept with a KMS key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_data_key_reuse_period: Option<Duration>,
    /// `Some(Some(p))` pauses the queue's consumers, `Some(None)` resumes
    /// them (see [`QueueAttributes::paused`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Option<crate::Pause>>,
}

impl QueueAttributesUpdate {
    /// The attributes after this update; `LastModifiedTimestamp` becomes now
    /// unless the update only tags, untags, pauses or resumes.
    pub fn apply(&self, current: &QueueAttributes) -> QueueAttributes {
        let mut next = current.clone();
        let tags_only = QueueAttributesUpdate {
            tag: BTreeMap::new(),
            untag: Vec::new(),
            pause: None,
            ..self.clone()
        } == QueueAttributesUpdate::default();
        if let Some(pause) = &self.pause {
            next.paused = pause.clone();
        }
        if !tags_only {
            next.last_modified_timestamp = Some(unix_seconds());
        }
        if let Some(v) = self.visibility_timeout {
            next.visibility_timeout = v;
        }
        if let Some(v) = self.message_retention_period {
            next.message_retention_period = v;
        }
        if let Some(v) = self.delay {
            next.delay = v;
        }
        if let Some(v) = self.maximum_message_size {
            next.maximum_message_size = v;
        }
        if let Some(v) = self.receive_wait_time {
            next.receive_wait_time = v;
        }
        if let Some(v) = self.content_based_deduplication {
            next.content_based_deduplication = v;
        }
        if let Some(v) = &self.redrive_policy {
            next.redrive_policy = v.clone();
        }
        if let Some(v) = &self.redrive_allow_policy {
            next.redrive_allow_policy = v.clone();
        }
        if let Some(v) = &self.policy {
            next.policy = v.clone();
        }
        next.encryption = self.encryption(&current.encryption);
        for key in &self.untag {
            next.tags.remove(key);
        }
        next.tags
            .extend(self.tag.iter().map(|(k, v)| (k.clone(), v.clone())));
        next
    }

    /// The encryption after this update, from `current`: a KMS key turns
    /// SSE-KMS on (keeping the reuse period unless one is given), an empty
    /// one or `SqsManagedSseEnabled` turns it off; a period alone changes a
    /// KMS queue's and is kept nowhere else, as SQS describes it only with a key.
    /// A key wins over `SqsManagedSseEnabled=true` given with it (`ebbflow
    /// serve` refuses that pair before it gets here, as SQS does).
    fn encryption(&self, current: &ServerSideEncryption) -> ServerSideEncryption {
        let period = |fallback: Duration| self.kms_data_key_reuse_period.unwrap_or(fallback);
        let current_period = match current {
            ServerSideEncryption::Kms {
                data_key_reuse_period,
                ..
            } => *data_key_reuse_period,
            _ => ServerSideEncryption::DEFAULT_DATA_KEY_REUSE_PERIOD,
        };
        match (&self.kms_master_key_id, self.sqs_managed_sse) {
            (Some(key), _) if !key.is_empty() => ServerSideEncryption::Kms {
                key_id: key.clone(),
                data_key_reuse_period: period(current_period),
            },
            (_, Some(true)) => ServerSideEncryption::SqsManaged,
            (_, Some(false)) | (Some(_), None) => ServerSideEncryption::Off,
            (None, None) => match current {
                ServerSideEncryption::Kms { key_id, .. } => ServerSideEncryption::Kms {
                    key_id: key_id.clone(),
                    data_key_reuse_period: period(current_period),
                },
                other => other.clone(),
            },
        }
    }
}

/// Seconds since the Unix epoch by the wall clock (a clock set before 1970 reads 0).
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// SQS's `RedrivePolicy`: after `max_receive_count` receives, a message that
/// comes round again moves to `dead_letter_queue` instead of being delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedrivePolicy {
    /// Name of the dead-letter queue (an SQS ARN is accepted and reduced to its name).
    pub dead_letter_queue: String,
    /// Receives allowed before the move: 1 – 1,000.
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// A policy sending messages to `dead_letter_queue` after `max_receive_count` receives.
    pub fn new(dead_letter_queue: impl Into<String>, max_receive_count: u32) -> Self {
        let dlq: String = dead_letter_queue.into();
        Self {
            dead_letter_queue: queue_name_from_arn(&dlq).to_owned(),
            max_receive_count,
        }
    }
}

/// SQS's `RedriveAllowPolicy`: which source queues may use a queue as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RedriveAllowPolicy {
    /// Any queue (the default).
    #[default]
    AllowAll,
    /// No queue.
    DenyAll,
    /// Only these queues (names), at most ten.
    ByQueue(Vec<String>),
}

impl RedriveAllowPolicy {
    /// Whether `source` may dead-letter into a queue with this policy.
    pub fn allows(&self, source: &str) -> bool {
        match self {
            RedriveAllowPolicy::AllowAll => true,
            RedriveAllowPolicy::DenyAll => false,
            RedriveAllowPolicy::ByQueue(queues) => {
                queues.iter().any(|q| queue_name_from_arn(q) == source)
            }
        }
    }
}

/// The ARN ebbflow's own backends give a queue (`arn:aws:sqs:ebbflow:000000000000:NAME`),
/// used in `DeadLetterQueueSourceArn`.
pub fn local_queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:ebbflow:000000000000:{name}")
}

/// The queue name inside an SQS ARN or queue URL; anything else is returned as is.
///
/// ```
/// use ebbflow_core::queue_name_from_arn;
/// assert_eq!(queue_name_from_arn("arn:aws:sqs:eu-west-1:123456789012:orders-dlq"), "orders-dlq");
/// assert_eq!(queue_name_from_arn("orders-dlq"), "orders-dlq");
/// ```
pub fn queue_name_from_arn(arn_or_name: &str) -> &str {
    if arn_or_name.starts_with("arn:") {
        arn_or_name.rsplit(':').next().unwrap_or(arn_or_name)
    } else if arn_or_name.contains("://") {
        arn_or_name.rsplit('/').next().unwrap_or(arn_or_name)
    } else {
        arn_or_name
    }
}

/// A receive call's parameters.
///
/// ```
/// use ebbflow_core::ReceiveRequest;
/// use std::time::Duration;
/// let req = ReceiveRequest::new(10).wait(Duration::from_secs(20));
/// assert_eq!(req.max_messages, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveRequest {
    /// How many messages at most: 1 – 10.
    pub max_messages: u32,
    /// Overrides the queue's visibility timeout for these messages.
    pub visibility_timeout: Option<Duration>,
    /// Long-poll wait: 0 – 20 s; `None` uses the queue's `receive_wait_time`.
    pub wait_time: Option<Duration>,
    /// FIFO: retrying with the same id within 5 minutes returns the same batch.
    pub receive_request_attempt_id: Option<String>,
}

impl Default for ReceiveRequest {
    fn default() -> Self {
        Self::new(1)
    }
}

impl ReceiveRequest {
    /// Receive up to `max_messages` with the queue's defaults.
    pub fn new(max_messages: u32) -> Self {
        Self {
            max_messages,
            visibility_timeout: None,
            wait_time: None,
            receive_request_attempt_id: None,
        }
    }

    /// Sets the long-poll wait.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait_time = Some(wait);
        self
    }

    /// Sets the visibility timeout for the messages of this receive.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = Some(timeout);
        self
    }

    /// Sets the receive request attempt id (FIFO).
    pub fn attempt_id(mut self, id: impl Into<String>) -> Self {
        self.receive_request_attempt_id = Some(id.into());
        self
    }
}

/// How many messages a queue holds, by state. Cheap enough to read every second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted or released.
    pub in_flight: u64,
    /// Waiting out a delay.
    pub delayed: u64,
    /// Age of the oldest message in the queue, if any.
    pub oldest_message_age: Option<Duration>,
}

impl QueueStats {
    /// Every message the queue holds.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// What a move from a dead-letter queue back to its sources did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MoveResult {
    /// Messages moved.
    pub moved: u64,
    /// Messages left in the dead-letter queue because their destination does not exist.
    pub failed: u64,
}

/// One step of re-sealing a queue's messages with the newest key
/// ([`crate::QueueBackend::rekey`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyPage {
    /// Messages looked at.
    pub looked_at: u64,
    /// Messages sealed again (their body, attributes, or both).
    pub resealed: u64,
    /// Messages that changed or went while being sealed again (received,
    /// deleted): left as they were, for the next run.
    pub skipped: u64,
    /// Where the next step starts; `None` when the queue is done.
    pub next: Option<String>,
}
