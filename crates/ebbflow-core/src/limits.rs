//! SQS's limits, and the validation every backend runs before it stores anything.
//!
//! Each check returns the [`QueueError`] SQS would. Backends call these rather
//! than repeat them, so that a limit is written down exactly once.

use crate::{
    message::AttributeValue, QueueAttributes, QueueError, ReceiveRequest, RedriveAllowPolicy,
    Result, SendMessage,
};
use std::collections::HashSet;
use std::time::Duration;

/// Longest queue name.
pub const MAX_QUEUE_NAME_LEN: usize = 80;
/// Suffix every FIFO queue name carries.
pub const FIFO_SUFFIX: &str = ".fifo";
/// Smallest `MaximumMessageSize`.
pub const MIN_MESSAGE_SIZE_LIMIT: usize = 1_024;
/// Largest (and default) `MaximumMessageSize`.
pub const MAX_MESSAGE_SIZE: usize = 1_048_576;
/// Message attributes per message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Longest attribute name.
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 256;

/// The prefix of the attribute names the runtime writes (why a message was
/// dead-lettered, and where from), reserved as SQS reserves `AWS.`.
pub const RESERVED_PREFIX: &str = "ebbflow.";

/// Refuses a producer's message that sets an attribute in the runtime's
/// [`RESERVED_PREFIX`] namespace (in any case): `ebbflow serve`, the CLI and
/// the dashboard call it on what a person or program sends, so that nobody
/// can forge the runtime's record of a dead letter.
///
/// ```
/// use ebbflow_core::{limits, MessageAttributeValue, SendMessage};
/// let forged = SendMessage::new("x")
///     .attribute("ebbflow.source_queue", MessageAttributeValue::string("billing"));
/// assert!(limits::check_producer_attributes(&forged).is_err());
/// assert!(limits::check_producer_attributes(&SendMessage::new("x")).is_ok());
/// ```
pub fn check_producer_attributes(msg: &SendMessage) -> Result<()> {
    match msg
        .attributes
        .keys()
        .find(|name| name.to_ascii_lowercase().starts_with(RESERVED_PREFIX))
    {
        Some(name) => Err(QueueError::InvalidAttributeName {
            name: name.clone(),
            reason: format!("names starting with `{RESERVED_PREFIX}` are reserved for the runtime"),
        }),
        None => Ok(()),
    }
}
/// Entries per batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Longest batch entry id.
pub const MAX_BATCH_ID_LEN: usize = 80;
/// Shortest retention period.
pub const MIN_RETENTION: Duration = Duration::from_secs(60);
/// Longest retention period.
pub const MAX_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// Default retention period.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(4 * 24 * 3600);
/// Longest delay, per queue or per message.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// Longest visibility timeout, and the longest a message may stay in flight
/// from one receive.
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// Default visibility timeout.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest long-poll wait.
pub const MAX_WAIT_TIME: Duration = Duration::from_secs(20);
/// Messages per receive.
pub const MAX_RECEIVE_MESSAGES: u32 = 10;
/// Window in which FIFO deduplication ids and receive attempt ids are remembered.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);
/// Time between two purges of one queue.
pub const PURGE_COOLDOWN: Duration = Duration::from_secs(60);
/// Messages in flight per queue.
pub const MAX_IN_FLIGHT: u64 = 120_000;
/// Smallest and largest `maxReceiveCount`.
pub const MAX_RECEIVE_COUNT_RANGE: (u32, u32) = (1, 1_000);
/// Source queues a `byQueue` redrive allow policy may name.
pub const MAX_REDRIVE_ALLOW_SOURCES: usize = 10;

/// Tags on one queue, at most.
pub const MAX_TAGS: usize = 50;

/// A tag key's length in characters, at most (and at least 1).
pub const MAX_TAG_KEY: usize = 128;

/// A tag value's length in characters, at most.
pub const MAX_TAG_VALUE: usize = 256;
/// Longest FIFO group id, deduplication id or receive attempt id.
pub const MAX_TOKEN_LEN: usize = 128;

/// Checks a queue name: 1–80 of `[A-Za-z0-9_-]`, plus `.fifo` at the end for a FIFO queue.
///
/// ```
/// use ebbflow_core::limits::validate_queue_name;
/// assert!(validate_queue_name("orders").is_ok());
/// assert!(validate_queue_name("orders.fifo").is_ok());
/// assert!(validate_queue_name("bad name").is_err());
/// ```
pub fn validate_queue_name(name: &str) -> Result<()> {
    let stem = name.strip_suffix(FIFO_SUFFIX).unwrap_or(name);
    let ok = !stem.is_empty()
        && name.len() <= MAX_QUEUE_NAME_LEN
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(QueueError::invalid(
            "QueueName",
            format!(
                "`{name}` must be 1-{MAX_QUEUE_NAME_LEN} characters of [A-Za-z0-9_-], FIFO names ending in `.fifo`"
            ),
        ))
    }
}

fn check_range(parameter: &str, value: Duration, min: Duration, max: Duration) -> Result<()> {
    if value < min || value > max {
        Err(QueueError::invalid(
            parameter,
            format!("{value:?} is outside {min:?} to {max:?}"),
        ))
    } else {
        Ok(())
    }
}

/// Checks a queue's attributes against its name and SQS's ranges.
pub fn validate_queue_attributes(name: &str, attrs: &QueueAttributes) -> Result<()> {
    validate_queue_name(name)?;
    let fifo_name = name.ends_with(FIFO_SUFFIX);
    if attrs.fifo != fifo_name {
        return Err(QueueError::invalid(
            "FifoQueue",
            format!("`{name}`: a queue is FIFO exactly when its name ends in `.fifo`"),
        ));
    }
    validate_visibility_timeout(attrs.visibility_timeout)?;
    check_range(
        "MessageRetentionPeriod",
        attrs.message_retention_period,
        MIN_RETENTION,
        MAX_RETENTION,
    )?;
    check_range("DelaySeconds", attrs.delay, Duration::ZERO, MAX_DELAY)?;
    check_range(
        "ReceiveMessageWaitTimeSeconds",
        attrs.receive_wait_time,
        Duration::ZERO,
        MAX_WAIT_TIME,
    )?;
    if !(MIN_MESSAGE_SIZE_LIMIT..=MAX_MESSAGE_SIZE).contains(&attrs.maximum_message_size) {
        return Err(QueueError::invalid(
            "MaximumMessageSize",
            format!(
                "{} is outside {MIN_MESSAGE_SIZE_LIMIT} to {MAX_MESSAGE_SIZE} bytes",
                attrs.maximum_message_size
            ),
        ));
    }
    if attrs.content_based_deduplication && !attrs.fifo {
        return Err(QueueError::invalid(
            "ContentBasedDeduplication",
            "only FIFO queues deduplicate by content",
        ));
    }
    if let Some(policy) = &attrs.redrive_policy {
        let (lo, hi) = MAX_RECEIVE_COUNT_RANGE;
        if !(lo..=hi).contains(&policy.max_receive_count) {
            return Err(QueueError::invalid(
                "RedrivePolicy.maxReceiveCount",
                format!("{} is outside {lo} to {hi}", policy.max_receive_count),
            ));
        }
        validate_queue_name(&policy.dead_letter_queue)?;
        if policy.dead_letter_queue == name {
            return Err(QueueError::invalid(
                "RedrivePolicy.deadLetterTargetArn",
                "a queue cannot be its own dead-letter queue",
            ));
        }
    }
    validate_tags(&attrs.tags)?;
    if let crate::ServerSideEncryption::Kms {
        key_id,
        data_key_reuse_period,
    } = &attrs.encryption
    {
        check_range(
            "KmsDataKeyReusePeriodSeconds",
            *data_key_reuse_period,
            MIN_DATA_KEY_REUSE_PERIOD,
            MAX_DATA_KEY_REUSE_PERIOD,
        )?;
        if key_id.len() > MAX_KMS_KEY_ID_LEN {
            return Err(QueueError::invalid(
                "KmsMasterKeyId",
                format!("a key id, alias or ARN is at most {MAX_KMS_KEY_ID_LEN} characters"),
            ));
        }
    }
    if let RedriveAllowPolicy::ByQueue(sources) = &attrs.redrive_allow_policy {
        if sources.is_empty() || sources.len() > MAX_REDRIVE_ALLOW_SOURCES {
            return Err(QueueError::invalid(
                "RedriveAllowPolicy.sourceQueueArns",
                format!(
                    "byQueue names 1 to {MAX_REDRIVE_ALLOW_SOURCES} queues, not {}",
                    sources.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a queue's tags as SQS does: at most [`MAX_TAGS`], keys of 1 to
/// [`MAX_TAG_KEY`] letters, digits, whitespace and `_ . : / = + - @`
/// outside the reserved `aws:` prefix, values of at most [`MAX_TAG_VALUE`].
pub fn validate_tags(tags: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(QueueError::invalid(
            "Tags",
            format!("a queue has at most {MAX_TAGS} tags, not {}", tags.len()),
        ));
    }
    for (key, value) in tags {
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_TAG_KEY {
            return Err(QueueError::invalid(
                "Tags",
                format!("Tag keys must be between 1 and {MAX_TAG_KEY} characters in length."),
            ));
        }
        let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
        if !key.chars().all(allowed) {
            return Err(QueueError::invalid(
                "Tags",
                "Tag keys may only contain unicode letters, digits, whitespace, or one of these symbols: _ . : / = + - @",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(QueueError::invalid(
                "Tags",
                format!("tag key `{key}`: the prefix `aws:` is reserved"),
            ));
        }
        if value.chars().count() > MAX_TAG_VALUE {
            return Err(QueueError::invalid(
                "Tags",
                format!("tag `{key}`: a value has at most {MAX_TAG_VALUE} characters"),
            ));
        }
    }
    Ok(())
}

/// Checks a queue's redrive policy against its target, which `find` looks up
/// by name: the dead-letter queue exists, has the source's type and admits
/// the source. No policy, nothing to check.
pub fn validate_redrive_policy(
    source: &str,
    attrs: &QueueAttributes,
    find: impl FnOnce(&str) -> Result<Option<QueueAttributes>>,
) -> Result<()> {
    let Some(policy) = &attrs.redrive_policy else {
        return Ok(());
    };
    let dlq = &policy.dead_letter_queue;
    let dlq_attrs = find(dlq)?.ok_or_else(|| {
        QueueError::invalid(
            "RedrivePolicy.deadLetterTargetArn",
            format!("dead-letter queue `{dlq}` does not exist"),
        )
    })?;
    validate_dead_letter_target(source, attrs, dlq, &dlq_attrs)
}

/// Checks that a dead-letter queue fits its source: same type, and its allow policy admits the source.
pub fn validate_dead_letter_target(
    source: &str,
    source_attrs: &QueueAttributes,
    dlq: &str,
    dlq_attrs: &QueueAttributes,
) -> Result<()> {
    if source_attrs.fifo != dlq_attrs.fifo {
        return Err(QueueError::invalid(
            "RedrivePolicy.deadLetterTargetArn",
            format!("`{dlq}` must be of the same type (standard or FIFO) as `{source}`"),
        ));
    }
    if !dlq_attrs.redrive_allow_policy.allows(source) {
        return Err(QueueError::invalid(
            "RedrivePolicy.deadLetterTargetArn",
            format!("the redrive allow policy of `{dlq}` does not admit `{source}`"),
        ));
    }
    Ok(())
}

/// Checks a visibility timeout: 0 – 12 h.
pub fn validate_visibility_timeout(timeout: Duration) -> Result<()> {
    check_range(
        "VisibilityTimeout",
        timeout,
        Duration::ZERO,
        MAX_VISIBILITY_TIMEOUT,
    )
}

/// Whether SQS accepts this character in a body or attribute value:
/// #x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD #x10000–#x10FFFF.
pub fn is_allowed_char(c: char) -> bool {
    matches!(c as u32,
        0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

fn validate_text(what: &str, text: &str) -> Result<()> {
    // Printable ASCII and tab/LF/CR are all allowed; most bodies are only that.
    if text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
    {
        return Ok(());
    }
    match text.char_indices().find(|(_, c)| !is_allowed_char(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(QueueError::InvalidMessageContents(format!(
            "{what} has the character U+{:04X} at byte {at}, outside the XML characters SQS allows",
            c as u32
        ))),
    }
}

fn validate_token(parameter: &str, token: &str) -> Result<()> {
    let ok = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(QueueError::invalid(
            parameter,
            format!("`{token}` must be 1-{MAX_TOKEN_LEN} letters, digits or punctuation"),
        ))
    }
}

fn validate_attributes(msg: &SendMessage) -> Result<()> {
    if msg.attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(QueueError::invalid(
            "MessageAttributes",
            format!(
                "{} attributes; at most {MAX_MESSAGE_ATTRIBUTES} are allowed",
                msg.attributes.len()
            ),
        ));
    }
    for (name, value) in &msg.attributes {
        let bad = |reason: &str| QueueError::InvalidAttributeName {
            name: name.clone(),
            reason: reason.to_owned(),
        };
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_LEN {
            return Err(bad("names are 1 to 256 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(bad("names use only [A-Za-z0-9_.-]"));
        }
        if lower.starts_with("aws.") || lower.starts_with("amazon.") {
            return Err(bad("names starting with `AWS.` or `Amazon.` are reserved"));
        }
        if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return Err(bad(
                "names cannot start or end with a period, nor hold two in a row",
            ));
        }
        let base = value.data_type.split('.').next().unwrap_or("");
        match (base, &value.value) {
            ("String", AttributeValue::Text(s)) => validate_text("a String attribute", s)?,
            ("Number", AttributeValue::Text(s)) => {
                if s.parse::<f64>().map(|n| !n.is_finite()).unwrap_or(true) {
                    return Err(bad("a Number attribute holds a decimal number"));
                }
            }
            ("Binary", AttributeValue::Binary(_)) => {}
            ("String" | "Number" | "Binary", _) => {
                return Err(bad(
                    "Binary attributes hold bytes; String and Number hold text",
                ));
            }
            _ => {
                return Err(bad(
                    "the data type is String, Number or Binary, optionally followed by .label",
                ))
            }
        }
        if value.size() == value.data_type.len() {
            return Err(bad("attribute values cannot be empty"));
        }
    }
    Ok(())
}

/// Shortest `KmsDataKeyReusePeriodSeconds`.
pub const MIN_DATA_KEY_REUSE_PERIOD: Duration = Duration::from_secs(60);
/// Longest `KmsDataKeyReusePeriodSeconds` (24 hours).
pub const MAX_DATA_KEY_REUSE_PERIOD: Duration = Duration::from_secs(86_400);
/// Longest `KmsMasterKeyId` (KMS's limit on a key id, alias or ARN).
pub const MAX_KMS_KEY_ID_LEN: usize = 2_048;

/// Longest `AWSTraceHeader` an engine keeps, in bytes. SQS states no figure;
/// an X-Ray header is under 100 bytes, and this bounds what a producer can
/// store outside the message size.
pub const MAX_TRACE_HEADER_LEN: usize = 1_024;

/// Checks an `AWSTraceHeader`: 1 to [`MAX_TRACE_HEADER_LEN`] bytes of the
/// characters a message may hold.
pub fn validate_trace_header(header: &str) -> Result<()> {
    if header.is_empty() || header.len() > MAX_TRACE_HEADER_LEN {
        return Err(QueueError::invalid(
            "AWSTraceHeader",
            format!(
                "{} bytes; a trace header is 1 to {MAX_TRACE_HEADER_LEN}",
                header.len()
            ),
        ));
    }
    validate_text("AWSTraceHeader", header)
}

/// Checks a message against the queue it is sent to and returns its size in bytes.
///
/// ```
/// use ebbflow_core::{limits::validate_message, QueueAttributes, SendMessage};
/// let q = QueueAttributes::standard();
/// assert_eq!(validate_message(&SendMessage::new("hi"), &q).unwrap(), 2);
/// assert!(validate_message(&SendMessage::new(""), &q).is_err());
/// ```
pub fn validate_message(msg: &SendMessage, queue: &QueueAttributes) -> Result<usize> {
    if msg.body.is_empty() {
        return Err(QueueError::InvalidMessageContents(
            "the body must be at least one byte".into(),
        ));
    }
    // Size first: it is the cheapest check, and it bounds the work of the others.
    let size = msg.size();
    if size > queue.maximum_message_size {
        return Err(QueueError::MessageTooLong {
            size,
            limit: queue.maximum_message_size,
        });
    }
    validate_text("the body", &msg.body)?;
    validate_attributes(msg)?;
    if let Some(header) = &msg.trace_header {
        validate_trace_header(header)?;
    }
    if queue.fifo {
        if msg.delay.is_some_and(|d| !d.is_zero()) {
            return Err(QueueError::invalid(
                "DelaySeconds",
                "FIFO queues take a delay per queue, not per message",
            ));
        }
        match &msg.group_id {
            None => {
                return Err(QueueError::missing(
                    "MessageGroupId",
                    "every message sent to a FIFO queue needs a group id",
                ))
            }
            Some(group) => validate_token("MessageGroupId", group)?,
        }
        match &msg.deduplication_id {
            Some(id) => validate_token("MessageDeduplicationId", id)?,
            None if !queue.content_based_deduplication => {
                return Err(QueueError::invalid(
                    "MessageDeduplicationId",
                    "the queue has no content-based deduplication, so each message needs a deduplication id",
                ))
            }
            None => {}
        }
    } else {
        if let Some(delay) = msg.delay {
            check_range("DelaySeconds", delay, Duration::ZERO, MAX_DELAY)?;
        }
        if msg.deduplication_id.is_some() {
            return Err(QueueError::invalid(
                "MessageDeduplicationId",
                "only FIFO queues take a deduplication id",
            ));
        }
        if let Some(group) = &msg.group_id {
            validate_token("MessageGroupId", group)?;
        }
    }
    Ok(size)
}

/// Checks the ids of a batch: 1–10 entries, each id 1–80 of `[A-Za-z0-9_-]`, all distinct.
pub fn validate_batch_ids<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> Result<()> {
    let n = ids.len();
    if n == 0 {
        return Err(QueueError::EmptyBatchRequest);
    }
    if n > MAX_BATCH_ENTRIES {
        return Err(QueueError::TooManyEntriesInBatchRequest(n));
    }
    let mut seen = HashSet::with_capacity(n);
    for id in ids {
        let ok = !id.is_empty()
            && id.len() <= MAX_BATCH_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(QueueError::InvalidBatchEntryId(id.to_owned()));
        }
        if !seen.insert(id) {
            return Err(QueueError::BatchEntryIdsNotDistinct(id.to_owned()));
        }
    }
    Ok(())
}

/// Checks a whole send batch: its ids, and that its messages together fit the queue's size limit.
pub fn validate_send_batch(
    entries: &[crate::SendBatchEntry],
    queue: &QueueAttributes,
) -> Result<()> {
    validate_batch_ids(entries.iter().map(|e| e.id.as_str()))?;
    let size: usize = entries.iter().map(|e| e.message.size()).sum();
    if size > queue.maximum_message_size {
        return Err(QueueError::BatchRequestTooLong {
            size,
            limit: queue.maximum_message_size,
        });
    }
    Ok(())
}

/// Checks a receive request: 1–10 messages, visibility 0–12 h, wait 0–20 s, a well-formed attempt id.
pub fn validate_receive(req: &ReceiveRequest) -> Result<()> {
    if !(1..=MAX_RECEIVE_MESSAGES).contains(&req.max_messages) {
        return Err(QueueError::invalid(
            "MaxNumberOfMessages",
            format!(
                "{} is outside 1 to {MAX_RECEIVE_MESSAGES}",
                req.max_messages
            ),
        ));
    }
    if let Some(v) = req.visibility_timeout {
        validate_visibility_timeout(v)?;
    }
    if let Some(w) = req.wait_time {
        check_range("WaitTimeSeconds", w, Duration::ZERO, MAX_WAIT_TIME)?;
    }
    if let Some(id) = &req.receive_request_attempt_id {
        validate_token("ReceiveRequestAttemptId", id)?;
    }
    Ok(())
}

/// Checks that a visibility change keeps the message in flight no longer than
/// 12 h after the receive that produced its handle.
pub fn validate_visibility_extension(in_flight_for: Duration, new_timeout: Duration) -> Result<()> {
    validate_visibility_timeout(new_timeout)?;
    if in_flight_for + new_timeout > MAX_VISIBILITY_TIMEOUT {
        return Err(QueueError::invalid(
            "VisibilityTimeout",
            format!(
                "the message has been in flight for {in_flight_for:?}; {new_timeout:?} more would pass the 12 h limit"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageAttributeValue;

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(validate_queue_name(&"a".repeat(80)).is_ok());
        assert!(validate_queue_name(&"a".repeat(81)).is_err());
        assert!(validate_queue_name(&format!("{}.fifo", "a".repeat(75))).is_ok());
        assert!(validate_queue_name(&format!("{}.fifo", "a".repeat(76))).is_err());
        assert!(validate_queue_name("").is_err());
        assert!(validate_queue_name(".fifo").is_err());
        assert!(validate_queue_name("a.b").is_err());
    }

    #[test]
    fn allowed_characters_match_the_xml_set() {
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            'é',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
        ] {
            assert!(is_allowed_char(c), "{c:?}");
        }
        for c in ['\u{0}', '\u{8}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!is_allowed_char(c), "{c:?}");
        }
    }

    #[test]
    fn attribute_size_counts_name_type_and_value() {
        let msg = SendMessage::new("abc").attribute("k", MessageAttributeValue::string("vv"));
        assert_eq!(msg.size(), 3 + 1 + "String".len() + 2);
    }

    #[test]
    fn fifo_message_needs_group_and_dedup() {
        let q = QueueAttributes::fifo();
        let err = validate_message(&SendMessage::new("x"), &q).unwrap_err();
        assert_eq!(err.code(), "MissingParameter");
        let err = validate_message(&SendMessage::new("x").group_id("g"), &q).unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        let q = q.with_content_based_deduplication(true);
        assert!(validate_message(&SendMessage::new("x").group_id("g"), &q).is_ok());
    }

    #[test]
    fn visibility_extension_is_capped_at_twelve_hours() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert!(validate_visibility_extension(h(11), h(1)).is_ok());
        assert!(validate_visibility_extension(h(11), h(1) + Duration::from_secs(1)).is_err());
    }
}
