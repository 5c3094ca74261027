//! What the pages show, read from the backend: the same figures for the
//! HTML views and the JSON API.

use ebbflow_core::history::{history_queue, is_history_queue, Rollup};
use ebbflow_core::{
    BrowseRequest, BrowsedMessage, MessageState, QueueAttributes, QueueBackend, QueueError,
    QueueStats,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One queue in the overview.
#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    /// Its name.
    pub name: String,
    /// FIFO or standard.
    pub fifo: bool,
    /// Messages waiting.
    pub visible: u64,
    /// Messages received and not yet deleted.
    pub in_flight: u64,
    /// Messages not yet visible.
    pub delayed: u64,
    /// Seconds since the oldest message was sent, when the engine knows.
    pub oldest_age_s: Option<f64>,
    /// Where its dead letters go.
    pub dead_letter_queue: Option<String>,
    /// The queues that dead-letter into it.
    pub dead_letter_sources: Vec<String>,
    /// Set while an operator has paused its consumers.
    pub paused: Option<ebbflow_core::Pause>,
}

/// How many queues the overview reads at once.
const READ_AT_ONCE: usize = 32;

/// Every queue `shown` lets through, each with its counts and dead-letter
/// relations. The queues are read `READ_AT_ONCE` at a time, so a network
/// engine's round trips overlap.
pub async fn queues(
    backend: &Arc<dyn QueueBackend>,
    shown: impl Fn(&str) -> bool,
) -> Result<Vec<QueueRow>, QueueError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let names: Vec<String> = backend
        .list_queues(None)
        .await?
        .into_iter()
        .filter(|n| !is_history_queue(n) && shown(n))
        .collect();
    let read: Vec<Option<QueueRow>> = stream::iter(names)
        .map(|name| async move {
            // A queue deleted between the listing and now is just gone.
            let (attrs, stats) =
                match tokio::join!(backend.get_queue_attributes(&name), backend.stats(&name)) {
                    (Ok(a), Ok(s)) => (a, s),
                    (Err(QueueError::QueueDoesNotExist(_)), _)
                    | (_, Err(QueueError::QueueDoesNotExist(_))) => return Ok(None),
                    (Err(e), _) | (_, Err(e)) => return Err(e),
                };
            Ok(Some(row(name, &attrs, &stats)))
        })
        .buffered(READ_AT_ONCE)
        .try_collect()
        .await?;
    let mut rows: Vec<QueueRow> = read.into_iter().flatten().collect();
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        if let Some(dlq) = &r.dead_letter_queue {
            sources.entry(dlq.clone()).or_default().push(r.name.clone());
        }
    }
    for r in &mut rows {
        r.dead_letter_sources = sources.remove(&r.name).unwrap_or_default();
    }
    Ok(rows)
}

fn row(name: String, attrs: &QueueAttributes, stats: &QueueStats) -> QueueRow {
    QueueRow {
        name,
        fifo: attrs.fifo,
        visible: stats.visible,
        in_flight: stats.in_flight,
        delayed: stats.delayed,
        oldest_age_s: stats.oldest_message_age.map(|d| d.as_secs_f64()),
        dead_letter_queue: attrs
            .redrive_policy
            .as_ref()
            .map(|p| ebbflow_core::queue_name_from_arn(&p.dead_letter_queue).to_owned()),
        dead_letter_sources: Vec::new(),
        paused: attrs.paused.clone(),
    }
}

/// Sorts the overview by a column (`name`, `visible`, `in_flight`,
/// `delayed`, `oldest`), largest first for the counts.
pub fn sort(rows: &mut [QueueRow], by: &str) {
    match by {
        "visible" => rows.sort_by_key(|r| std::cmp::Reverse(r.visible)),
        "in_flight" => rows.sort_by_key(|r| std::cmp::Reverse(r.in_flight)),
        "delayed" => rows.sort_by_key(|r| std::cmp::Reverse(r.delayed)),
        "oldest" => rows.sort_by(|a, b| {
            b.oldest_age_s
                .unwrap_or(0.0)
                .total_cmp(&a.oldest_age_s.unwrap_or(0.0))
        }),
        _ => rows.sort_by(|a, b| a.name.cmp(&b.name)),
    }
}

/// One queue, with its settings.
#[derive(Debug, Clone, Serialize)]
pub struct QueueDetail {
    /// Counts and relations, as in the overview.
    #[serde(flatten)]
    pub row: QueueRow,
    /// Its settings, by SQS's attribute name, as text.
    pub attributes: BTreeMap<&'static str, String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// One queue's counts and settings.
pub async fn queue(backend: &Arc<dyn QueueBackend>, name: &str) -> Result<QueueDetail, QueueError> {
    let attrs = backend.get_queue_attributes(name).await?;
    let stats = backend.stats(name).await?;
    let sources = backend.list_dead_letter_source_queues(name).await?;
    let mut row = row(name.to_owned(), &attrs, &stats);
    row.dead_letter_sources = sources;
    let secs = |d: std::time::Duration| format!("{} s", d.as_secs());
    let mut attributes = BTreeMap::new();
    attributes.insert("VisibilityTimeout", secs(attrs.visibility_timeout));
    attributes.insert(
        "MessageRetentionPeriod",
        secs(attrs.message_retention_period),
    );
    attributes.insert("DelaySeconds", secs(attrs.delay));
    attributes.insert(
        "ReceiveMessageWaitTimeSeconds",
        secs(attrs.receive_wait_time),
    );
    attributes.insert(
        "MaximumMessageSize",
        format!("{} bytes", attrs.maximum_message_size),
    );
    attributes.insert("FifoQueue", attrs.fifo.to_string());
    if attrs.fifo {
        attributes.insert(
            "ContentBasedDeduplication",
            attrs.content_based_deduplication.to_string(),
        );
    }
    if let Some(p) = &attrs.redrive_policy {
        attributes.insert(
            "RedrivePolicy",
            format!(
                "to {} after {} receives",
                ebbflow_core::queue_name_from_arn(&p.dead_letter_queue),
                p.max_receive_count
            ),
        );
    }
    Ok(QueueDetail {
        row,
        attributes,
        tags: attrs.tags,
    })
}

/// One message as a page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    /// Its id.
    pub message_id: String,
    /// `visible`, `in_flight` or `delayed`.
    pub state: &'static str,
    /// When it was sent, ms since the Unix epoch.
    pub sent_timestamp: u64,
    /// Receives so far.
    pub receive_count: u32,
    /// Its FIFO group.
    pub group_id: Option<String>,
    /// The body.
    pub body: String,
    /// Its attributes, as text (binary ones as their size).
    pub attributes: BTreeMap<String, String>,
    /// Where the engine keeps it: what deleting this one message names.
    pub position: Option<String>,
    /// The system attributes it has, by SQS's name, as text.
    pub system: BTreeMap<&'static str, String>,
}

/// A page of a queue's messages.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage {
    /// The messages, in arrival order.
    pub messages: Vec<MessageRow>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
    /// Whether they were received (with a visibility timeout of 0) rather
    /// than browsed: on an engine with no browse verb (Amazon SQS), when
    /// asked for. Their receive counts went up.
    #[serde(default)]
    pub received: bool,
}

/// Messages per page, by default.
pub const PAGE: u32 = 50;

/// A page of `name`'s messages from `after` on, read without receiving
/// them (the browse verb). `Ok(None)` where the engine has no such verb
/// (Amazon SQS): the page says so rather than receive.
pub async fn messages(
    backend: &Arc<dyn QueueBackend>,
    name: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Option<MessagePage>, QueueError> {
    let mut request = BrowseRequest::new(limit.clamp(1, ebbflow_core::MAX_BROWSE_LIMIT));
    if let Some(cursor) = after {
        request = request.after(cursor.to_owned());
    }
    let page = match backend.browse(name, request).await {
        Ok(p) => p,
        Err(QueueError::UnsupportedOperation { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let messages = page.messages.into_iter().map(message_row).collect();
    Ok(Some(MessagePage {
        messages,
        next: page.next,
        received: false,
    }))
}

/// Up to ten of `name`'s messages received with a visibility timeout of 0,
/// so that they stay visible: the only way to look at messages on an engine
/// with no browse verb (Amazon SQS). Each receive counts, and may move a
/// message past its queue's `maxReceiveCount` to the dead-letter queue.
pub async fn receive_to_look(
    backend: &Arc<dyn QueueBackend>,
    name: &str,
) -> Result<MessagePage, QueueError> {
    let request = ebbflow_core::ReceiveRequest::new(ebbflow_core::limits::MAX_BATCH_ENTRIES as u32)
        .visibility_timeout(std::time::Duration::ZERO)
        .wait(std::time::Duration::ZERO);
    let got = backend.receive(name, request).await?;
    Ok(MessagePage {
        messages: got
            .into_iter()
            .map(|m| message_row(BrowsedMessage::from_received(m, MessageState::Visible)))
            .collect(),
        next: None,
        received: true,
    })
}

/// A browsed message as the pages show it.
pub fn message_row(m: BrowsedMessage) -> MessageRow {
    let s = &m.system;
    let mut system = BTreeMap::new();
    system.insert("SentTimestamp", s.sent_timestamp.to_string());
    system.insert(
        "ApproximateReceiveCount",
        s.approximate_receive_count.to_string(),
    );
    if s.approximate_first_receive_timestamp > 0 {
        system.insert(
            "ApproximateFirstReceiveTimestamp",
            s.approximate_first_receive_timestamp.to_string(),
        );
    }
    for (name, value) in [
        ("SequenceNumber", &s.sequence_number),
        ("MessageGroupId", &s.message_group_id),
        ("MessageDeduplicationId", &s.message_deduplication_id),
        ("DeadLetterQueueSourceArn", &s.dead_letter_queue_source_arn),
    ] {
        if let Some(v) = value {
            system.insert(name, v.clone());
        }
    }
    MessageRow {
        system,
        message_id: m.message_id,
        state: match m.state {
            MessageState::Visible => "visible",
            MessageState::InFlight => "in_flight",
            MessageState::Delayed => "delayed",
        },
        sent_timestamp: m.system.sent_timestamp,
        receive_count: m.system.approximate_receive_count,
        group_id: m.system.message_group_id,
        position: m.position,
        body: m.body,
        attributes: m
            .attributes
            .iter()
            .map(|(k, v)| {
                let text = v
                    .as_str()
                    .map_or_else(|| "(binary)".to_owned(), str::to_owned);
                (k.clone(), text)
            })
            .collect(),
    }
}

/// The worker processes consuming `name`, from the engine's consumer
/// registry; `None` where the engine keeps none (Amazon SQS).
///
/// Reading is an announcement that ends at once, with no workers (`max`
/// 0): it leaves no registration behind, and the autoscalers never count a
/// report without workers as a consumer.
pub async fn consumers(
    backend: &Arc<dyn QueueBackend>,
    name: &str,
) -> Result<Option<Vec<ebbflow_core::ConsumerReport>>, QueueError> {
    let reader = ebbflow_core::ConsumerReport {
        id: "~dashboard".to_owned(),
        ..Default::default()
    };
    match backend
        .announce(name, &reader, std::time::Duration::ZERO)
        .await
    {
        Ok(members) => Ok(Some(
            members.into_iter().filter(|m| m.id != reader.id).collect(),
        )),
        Err(QueueError::UnsupportedOperation { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Dead letters sharing a reason (`ebbflow.reason`, or `max_receives` for
/// those the engine moved) and error.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterGroup {
    /// Why they failed.
    pub reason: String,
    /// The handler's error, when the runtime recorded one.
    pub error: String,
    /// The queue they came from, when known.
    pub source: Option<String>,
    /// How many of the messages looked at.
    pub count: u64,
    /// The first one's id.
    pub example: String,
}

/// The most messages a dead-letter summary looks at.
pub const DEAD_LETTER_SCAN: usize = 10_000;

/// `name`'s messages grouped by why they were dead-lettered, largest group
/// first, from up to [`DEAD_LETTER_SCAN`] messages read without receiving
/// them; `None` where the engine has no browse verb. The flag says whether
/// the queue held more than was looked at.
pub async fn dead_letters(
    backend: &Arc<dyn QueueBackend>,
    name: &str,
) -> Result<Option<(Vec<DeadLetterGroup>, bool)>, QueueError> {
    let mut groups: BTreeMap<(String, String, Option<String>), DeadLetterGroup> = BTreeMap::new();
    let mut request = BrowseRequest::new(ebbflow_core::MAX_BROWSE_LIMIT);
    let mut seen = 0;
    loop {
        let page = match backend.browse(name, request.clone()).await {
            Ok(p) => p,
            Err(QueueError::UnsupportedOperation { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        for m in &page.messages {
            let why = ebbflow_redrive::DeadLetter::read(
                |n| m.attributes.get(n).and_then(|v| v.as_str()),
                m.system.dead_letter_queue_source_arn.as_deref(),
            );
            let group = groups
                .entry((why.reason.clone(), why.error.clone(), why.source.clone()))
                .or_insert_with(|| DeadLetterGroup {
                    reason: why.reason,
                    error: why.error,
                    source: why.source,
                    count: 0,
                    example: m.message_id.clone(),
                });
            group.count += 1;
            seen += 1;
        }
        match page.next {
            Some(cursor) if seen < DEAD_LETTER_SCAN => request = request.after(cursor),
            Some(_) => return Ok(Some((sorted(groups), true))),
            None => return Ok(Some((sorted(groups), false))),
        }
    }
}

fn sorted(
    groups: BTreeMap<(String, String, Option<String>), DeadLetterGroup>,
) -> Vec<DeadLetterGroup> {
    let mut v: Vec<DeadLetterGroup> = groups.into_values().collect();
    v.sort_by_key(|g| std::cmp::Reverse(g.count));
    v
}

/// A queue's history over a window: one merged [`Rollup`] a minute, oldest
/// first, from every process that wrote one.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The window's length, in seconds.
    pub window_s: u64,
    /// The minutes with a rollup, oldest first.
    pub minutes: Vec<Rollup>,
    /// The autoscaler's changes in the window, newest first.
    pub decisions: Vec<ebbflow_core::history::ScalingNote>,
    /// Rollups read (the history queue's messages looked at).
    pub scanned: u64,
}

/// The most rollups one history read looks at.
pub const HISTORY_SCAN: u64 = 100_000;

/// `name`'s history over the last `window`; `None` when no process keeps
/// one (`[history] enabled`), or the engine cannot browse.
pub async fn history(
    backend: &Arc<dyn QueueBackend>,
    name: &str,
    window: std::time::Duration,
    now_ms: u64,
) -> Result<Option<History>, QueueError> {
    let Some(queue) = history_queue(name) else {
        return Ok(None);
    };
    let since = now_ms.saturating_sub(window.as_millis() as u64);
    // A process may write twice in a minute (a tick, then its last as it
    // stops): its rollups are followed first, then the processes merged.
    let mut by_process: BTreeMap<(u64, String), Rollup> = BTreeMap::new();
    let mut request = BrowseRequest::new(ebbflow_core::MAX_BROWSE_LIMIT);
    let mut scanned = 0;
    loop {
        let page = match backend.browse(&queue, request.clone()).await {
            Ok(p) => p,
            Err(QueueError::QueueDoesNotExist(_) | QueueError::UnsupportedOperation { .. }) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        for m in &page.messages {
            scanned += 1;
            // A body that is not a rollup (someone sent it by hand) is skipped.
            let Ok(r) = serde_json::from_str::<Rollup>(&m.body) else {
                continue;
            };
            if r.minute_ms < since {
                continue;
            }
            match by_process.get_mut(&(r.minute_ms, r.consumer.clone())) {
                Some(earlier) => earlier.follow(&r),
                None => {
                    by_process.insert((r.minute_ms, r.consumer.clone()), r);
                }
            }
        }
        match page.next {
            Some(cursor) if scanned < HISTORY_SCAN => request = request.after(cursor),
            _ => break,
        }
    }
    let mut by_minute: BTreeMap<u64, Rollup> = BTreeMap::new();
    for r in by_process.into_values() {
        match by_minute.get_mut(&r.minute_ms) {
            Some(minute) => minute.merge(&r),
            None => {
                by_minute.insert(r.minute_ms, r);
            }
        }
    }
    let minutes: Vec<Rollup> = by_minute.into_values().collect();
    let mut decisions: Vec<_> = minutes
        .iter()
        .flat_map(|m| m.decisions.iter().cloned())
        .collect();
    decisions.sort_by_key(|d| std::cmp::Reverse(d.at_ms));
    Ok(Some(History {
        window_s: window.as_secs(),
        minutes,
        decisions,
        scanned,
    }))
}
