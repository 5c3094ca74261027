//! ebbflow's types to SQS's wire types and back.

use crate::error::BACKEND;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue as SqsAttribute, MessageSystemAttributeName as Sys,
    MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName as Attr,
};
use ebbflow_core::{
    queue_name_from_arn, AttributeValue, MessageAttributeValue, MessageAttributes, QueueAttributes,
    QueueAttributesUpdate, QueueError, QueueStats, ReceivedMessage, RedriveAllowPolicy,
    RedrivePolicy, ServerSideEncryption, SystemAttributes,
};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) type AttributeMap = HashMap<Attr, String>;

fn secs(d: Duration) -> String {
    whole_seconds_up(d).to_string()
}

/// Whole seconds, rounded up: SQS counts in seconds, and a wait of 300 ms
/// must not become no wait at all.
fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn parse<T: std::str::FromStr + Default>(map: &AttributeMap, name: Attr) -> T {
    map.get(&name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

/// The attributes of a queue, for `CreateQueue` (everything) or
/// `SetQueueAttributes` (only what `update` changes). `arn_of` turns a
/// dead-letter queue's name into its ARN.
pub(crate) fn attribute_map(
    attrs: &QueueAttributes,
    update: Option<&QueueAttributesUpdate>,
    dead_letter_arn: Option<&str>,
    allowed_arns: &[String],
) -> AttributeMap {
    let mut map = AttributeMap::new();
    let all = update.is_none();
    let set = |on: bool| all || on;
    let u = update.cloned().unwrap_or_default();
    if set(u.visibility_timeout.is_some()) {
        map.insert(Attr::VisibilityTimeout, secs(attrs.visibility_timeout));
    }
    if set(u.message_retention_period.is_some()) {
        map.insert(
            Attr::MessageRetentionPeriod,
            secs(attrs.message_retention_period),
        );
    }
    if set(u.delay.is_some()) {
        map.insert(Attr::DelaySeconds, secs(attrs.delay));
    }
    if set(u.maximum_message_size.is_some()) {
        map.insert(
            Attr::MaximumMessageSize,
            attrs.maximum_message_size.to_string(),
        );
    }
    if set(u.receive_wait_time.is_some()) {
        map.insert(
            Attr::ReceiveMessageWaitTimeSeconds,
            secs(attrs.receive_wait_time),
        );
    }
    if attrs.fifo && all {
        map.insert(Attr::FifoQueue, "true".to_owned());
    }
    if attrs.fifo && set(u.content_based_deduplication.is_some()) {
        map.insert(
            Attr::ContentBasedDeduplication,
            attrs.content_based_deduplication.to_string(),
        );
    }
    let encryption_changed = u.sqs_managed_sse.is_some()
        || u.kms_master_key_id.is_some()
        || u.kms_data_key_reuse_period.is_some();
    // SQS's default needs no word at creation.
    if (all && attrs.encryption != ServerSideEncryption::SqsManaged) || (!all && encryption_changed)
    {
        match &attrs.encryption {
            ServerSideEncryption::SqsManaged => {
                map.insert(Attr::SqsManagedSseEnabled, "true".to_owned());
            }
            ServerSideEncryption::Off => {
                map.insert(Attr::SqsManagedSseEnabled, "false".to_owned());
                if !all {
                    map.insert(Attr::KmsMasterKeyId, String::new());
                }
            }
            ServerSideEncryption::Kms {
                key_id,
                data_key_reuse_period,
            } => {
                map.insert(Attr::KmsMasterKeyId, key_id.clone());
                map.insert(
                    Attr::KmsDataKeyReusePeriodSeconds,
                    secs(*data_key_reuse_period),
                );
            }
        }
    }
    if set(u.redrive_policy.is_some()) {
        let policy = match (&attrs.redrive_policy, dead_letter_arn) {
            (Some(p), Some(arn)) => serde_json::json!({
                "deadLetterTargetArn": arn,
                "maxReceiveCount": p.max_receive_count.to_string(),
            })
            .to_string(),
            _ => String::new(),
        };
        if !(all && policy.is_empty()) {
            map.insert(Attr::RedrivePolicy, policy);
        }
    }
    if set(u.redrive_allow_policy.is_some()) {
        let policy = match &attrs.redrive_allow_policy {
            RedriveAllowPolicy::AllowAll => {
                serde_json::json!({"redrivePermission": "allowAll"})
            }
            RedriveAllowPolicy::DenyAll => serde_json::json!({"redrivePermission": "denyAll"}),
            RedriveAllowPolicy::ByQueue(_) => serde_json::json!({
                "redrivePermission": "byQueue",
                "sourceQueueArns": allowed_arns,
            }),
        };
        if !(all && attrs.redrive_allow_policy == RedriveAllowPolicy::AllowAll) {
            map.insert(Attr::RedriveAllowPolicy, policy.to_string());
        }
    }
    map
}

/// A timestamp attribute in whole seconds: SQS writes an integer, moto a
/// fraction (`1796665403.799178`).
fn unix_seconds(map: &AttributeMap, name: Attr) -> Option<u64> {
    let text = map.get(&name)?;
    let whole = text.split_once('.').map_or(text.as_str(), |(s, _)| s);
    whole.parse().ok()
}

/// The server-side encryption `GetQueueAttributes` describes: a KMS key,
/// else SQS-managed keys unless they are off (SQS's default is on).
fn encryption(map: &AttributeMap) -> ServerSideEncryption {
    match map.get(&Attr::KmsMasterKeyId).filter(|k| !k.is_empty()) {
        Some(key) => ServerSideEncryption::Kms {
            key_id: key.clone(),
            data_key_reuse_period: map
                .get(&Attr::KmsDataKeyReusePeriodSeconds)
                .and_then(|v| v.parse().ok())
                .map_or(
                    ServerSideEncryption::DEFAULT_DATA_KEY_REUSE_PERIOD,
                    Duration::from_secs,
                ),
        },
        None if map
            .get(&Attr::SqsManagedSseEnabled)
            .is_some_and(|v| v == "false") =>
        {
            ServerSideEncryption::Off
        }
        None => ServerSideEncryption::SqsManaged,
    }
}

/// A queue's attributes from `GetQueueAttributes`.
pub(crate) fn queue_attributes(map: &AttributeMap) -> QueueAttributes {
    let seconds = |name: Attr| Duration::from_secs(parse(map, name));
    let redrive_policy = map
        .get(&Attr::RedrivePolicy)
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .and_then(|v| {
            let arn = v["deadLetterTargetArn"].as_str()?;
            let count = match &v["maxReceiveCount"] {
                serde_json::Value::String(s) => s.parse().ok()?,
                other => u32::try_from(other.as_u64()?).ok()?,
            };
            Some(RedrivePolicy::new(queue_name_from_arn(arn), count))
        });
    let redrive_allow_policy = map
        .get(&Attr::RedriveAllowPolicy)
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .map(|v| match v["redrivePermission"].as_str() {
            Some("denyAll") => RedriveAllowPolicy::DenyAll,
            Some("byQueue") => RedriveAllowPolicy::ByQueue(
                v["sourceQueueArns"]
                    .as_array()
                    .map(|arns| {
                        arns.iter()
                            .filter_map(|a| a.as_str())
                            .map(|a| queue_name_from_arn(a).to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => RedriveAllowPolicy::AllowAll,
        })
        .unwrap_or_default();
    QueueAttributes {
        fifo: map.get(&Attr::FifoQueue).is_some_and(|v| v == "true"),
        visibility_timeout: seconds(Attr::VisibilityTimeout),
        message_retention_period: seconds(Attr::MessageRetentionPeriod),
        delay: seconds(Attr::DelaySeconds),
        maximum_message_size: parse(map, Attr::MaximumMessageSize),
        receive_wait_time: seconds(Attr::ReceiveMessageWaitTimeSeconds),
        content_based_deduplication: map
            .get(&Attr::ContentBasedDeduplication)
            .is_some_and(|v| v == "true"),
        redrive_policy,
        redrive_allow_policy,
        // Not attributes on SQS; the backend reads them with ListQueueTags.
        tags: Default::default(),
        policy: map.get(&Attr::Policy).cloned(),
        encryption: encryption(map),
        created_timestamp: unix_seconds(map, Attr::CreatedTimestamp),
        last_modified_timestamp: unix_seconds(map, Attr::LastModifiedTimestamp),
        // A tag on SQS (`PAUSE_TAG`); the backend reads it with the tags.
        paused: None,
    }
}

/// The queue's counts from `GetQueueAttributes`. SQS has no "oldest message
/// age" attribute (CloudWatch has it); it is left unknown.
pub(crate) fn queue_stats(map: &AttributeMap) -> QueueStats {
    QueueStats {
        visible: parse(map, Attr::ApproximateNumberOfMessages),
        in_flight: parse(map, Attr::ApproximateNumberOfMessagesNotVisible),
        delayed: parse(map, Attr::ApproximateNumberOfMessagesDelayed),
        oldest_message_age: None,
    }
}

/// Message attributes for a send.
pub(crate) fn to_sqs_attributes(
    attrs: &MessageAttributes,
) -> Result<Option<HashMap<String, SqsAttribute>>, QueueError> {
    if attrs.is_empty() {
        return Ok(None);
    }
    let mut out = HashMap::with_capacity(attrs.len());
    for (name, value) in attrs {
        let builder = SqsAttribute::builder().data_type(&value.data_type);
        let builder = match &value.value {
            AttributeValue::Text(text) => builder.string_value(text),
            AttributeValue::Binary(bytes) => builder.binary_value(Blob::new(bytes.clone())),
        };
        let built = builder
            .build()
            .map_err(|e| QueueError::invalid(name, e.to_string()))?;
        out.insert(name.clone(), built);
    }
    Ok(Some(out))
}

/// The `AWSTraceHeader` system attribute of a send, if the message has one.
pub(crate) fn trace_header(
    header: Option<String>,
) -> Result<
    Option<HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>>,
    QueueError,
> {
    let Some(header) = header else {
        return Ok(None);
    };
    let value = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
        .map_err(|e| QueueError::invalid("AWSTraceHeader", e.to_string()))?;
    Ok(Some(HashMap::from([(
        MessageSystemAttributeNameForSends::AwsTraceHeader,
        value,
    )])))
}

/// A received message.
pub(crate) fn received(message: &Message) -> Result<ReceivedMessage, QueueError> {
    let missing = |what: &str| QueueError::Backend {
        backend: BACKEND,
        message: format!("a received message has no {what}"),
    };
    let system = message.attributes();
    let sys = |name: Sys| system.and_then(|m| m.get(&name)).cloned();
    let number = |name: Sys| {
        sys(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_default()
    };
    let mut attributes = MessageAttributes::new();
    for (name, value) in message.message_attributes().into_iter().flatten() {
        let data_type = value.data_type().to_owned();
        let value = match (value.string_value(), value.binary_value()) {
            (Some(text), _) => AttributeValue::Text(text.to_owned()),
            (None, Some(blob)) => AttributeValue::Binary(blob.as_ref().to_vec()),
            (None, None) => AttributeValue::Text(String::new()),
        };
        attributes.insert(name.clone(), MessageAttributeValue { data_type, value });
    }
    Ok(ReceivedMessage {
        message_id: message
            .message_id()
            .ok_or_else(|| missing("id"))?
            .to_owned(),
        receipt_handle: message
            .receipt_handle()
            .ok_or_else(|| missing("receipt handle"))?
            .to_owned(),
        body: message.body().unwrap_or_default().to_owned(),
        md5_of_body: message.md5_of_body().unwrap_or_default().to_owned(),
        attributes,
        system: SystemAttributes {
            sent_timestamp: number(Sys::SentTimestamp),
            approximate_receive_count: number(Sys::ApproximateReceiveCount) as u32,
            approximate_first_receive_timestamp: number(Sys::ApproximateFirstReceiveTimestamp),
            sequence_number: sys(Sys::SequenceNumber),
            message_group_id: sys(Sys::MessageGroupId),
            message_deduplication_id: sys(Sys::MessageDeduplicationId),
            dead_letter_queue_source_arn: sys(Sys::DeadLetterQueueSourceArn),
            aws_trace_header: sys(Sys::AwsTraceHeader),
        },
    })
}

/// Whole seconds for an SQS integer field (SQS has no finer unit), rounded up.
pub(crate) fn seconds_i32(d: Duration) -> i32 {
    i32::try_from(whole_seconds_up(d)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod seconds_tests {
    use super::*;

    #[test]
    fn parts_of_a_second_round_up_never_to_zero() {
        assert_eq!(seconds_i32(Duration::from_millis(300)), 1);
        assert_eq!(seconds_i32(Duration::from_millis(1500)), 2);
        assert_eq!(seconds_i32(Duration::from_secs(2)), 2);
        assert_eq!(seconds_i32(Duration::ZERO), 0);
        assert_eq!(secs(Duration::from_millis(10)), "1");
    }
}
