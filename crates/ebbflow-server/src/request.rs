//! Each SQS request, parsed once into the typed action it is. The access
//! check and the action both read this one value, so a field the action does
//! not take cannot change who may call it, and two fields naming different
//! queues cannot steer the check one way and the action another.

use crate::attributes;
use crate::errors::WireError;
use ebbflow_core::{queue_name_from_arn, JsonAttribute, QueueAttributesUpdate, QueueError};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The queue a `QueueUrl` (or an ARN, or a bare name) names: its last path segment.
pub fn queue_of(url: &str) -> Result<String, WireError> {
    let name = queue_name_from_arn(url.trim_end_matches('/'));
    if name.is_empty() {
        return Err(WireError::invalid("QueueUrl is empty"));
    }
    Ok(name.to_owned())
}

fn queue_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    queue_of(&url).map_err(|e| serde::de::Error::custom(e.message))
}

/// One message to send, as the wire has it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireSend {
    /// The body.
    pub message_body: String,
    #[serde(default)]
    pub delay_seconds: Option<u64>,
    #[serde(default)]
    pub message_attributes: Option<HashMap<String, JsonAttribute>>,
    #[serde(default)]
    pub message_deduplication_id: Option<String>,
    #[serde(default)]
    pub message_group_id: Option<String>,
    #[serde(default)]
    pub message_system_attributes: Option<HashMap<String, JsonAttribute>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendEntry {
    pub id: String,
    #[serde(flatten)]
    pub message: WireSend,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandleEntry {
    pub id: String,
    pub receipt_handle: String,
    #[serde(default)]
    pub visibility_timeout: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Receive {
    #[serde(deserialize_with = "queue_field")]
    pub queue_url: String,
    #[serde(default)]
    pub max_number_of_messages: Option<u32>,
    #[serde(default)]
    pub visibility_timeout: Option<u64>,
    #[serde(default)]
    pub wait_time_seconds: Option<u64>,
    #[serde(default)]
    pub receive_request_attempt_id: Option<String>,
    #[serde(default)]
    pub attribute_names: Vec<String>,
    #[serde(default)]
    pub message_system_attribute_names: Vec<String>,
    #[serde(default)]
    pub message_attribute_names: Vec<String>,
}

/// One request, typed. Queue fields hold queue names (read from the URL or
/// ARN the client sent), so that the check and the action see the same one.
pub enum Action {
    CreateQueue {
        queue: String,
        update: QueueAttributesUpdate,
        fifo: bool,
    },
    GetQueueUrl {
        queue: String,
    },
    ListQueues {
        prefix: Option<String>,
        max_results: Option<usize>,
        next_token: Option<String>,
    },
    DeleteQueue {
        queue: String,
    },
    PurgeQueue {
        queue: String,
    },
    GetQueueAttributes {
        queue: String,
        names: Vec<String>,
    },
    SetQueueAttributes {
        queue: String,
        update: QueueAttributesUpdate,
    },
    ListDeadLetterSourceQueues {
        queue: String,
        max_results: Option<usize>,
        next_token: Option<String>,
    },
    SendMessage {
        queue: String,
        message: Box<WireSend>,
    },
    SendMessageBatch {
        queue: String,
        entries: Vec<SendEntry>,
    },
    ReceiveMessage(Box<Receive>),
    DeleteMessage {
        queue: String,
        receipt_handle: String,
    },
    DeleteMessageBatch {
        queue: String,
        entries: Vec<HandleEntry>,
    },
    ChangeMessageVisibility {
        queue: String,
        receipt_handle: String,
        visibility_timeout: u64,
    },
    ChangeMessageVisibilityBatch {
        queue: String,
        entries: Vec<HandleEntry>,
    },
    TagQueue {
        queue: String,
        tags: BTreeMap<String, String>,
    },
    UntagQueue {
        queue: String,
        keys: Vec<String>,
    },
    ListQueueTags {
        queue: String,
    },
    AddPermission {
        queue: String,
        label: String,
        principals: Vec<String>,
        actions: Vec<String>,
    },
    RemovePermission {
        queue: String,
        label: String,
    },
    StartMessageMoveTask {
        source_arn: String,
        source: String,
        destination: Option<(String, String)>,
        rate: Option<u32>,
    },
    CancelMessageMoveTask {
        handle: String,
    },
    ListMessageMoveTasks {
        source: String,
        max_results: Option<usize>,
    },
}

/// A parameter SQS requires that the request lacks (the wire error says so
/// in SQS's words).
fn required(parameter: &str) -> WireError {
    QueueError::missing(parameter, "SQS requires it for this action").into()
}

/// The JSON body as `T` (an empty body is `{}`).
fn read<T: for<'de> Deserialize<'de>>(action: &str, body: &[u8]) -> Result<T, WireError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| WireError::invalid(format!("{action}: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlOnly {
    #[serde(deserialize_with = "queue_field")]
    queue_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listing {
    #[serde(default)]
    queue_url: Option<String>,
    #[serde(default)]
    queue_name_prefix: Option<String>,
    #[serde(default)]
    max_results: Option<usize>,
    #[serde(default)]
    next_token: Option<String>,
}

impl Action {
    /// Parses the request of `action` from its JSON body. An action SQS does
    /// not have answers `InvalidAction`.
    pub fn parse(action: &str, body: &[u8]) -> Result<Action, WireError> {
        let a = action;
        Ok(match action {
            "CreateQueue" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_name: String,
                    #[serde(default)]
                    attributes: Option<HashMap<String, String>>,
                    // SQS's JSON spells this one member in lower case.
                    #[serde(default, alias = "tags")]
                    tags: Option<BTreeMap<String, String>>,
                }
                let r: R = read(a, body)?;
                let (mut update, fifo) = attributes::parse(&r.attributes.unwrap_or_default())?;
                update.tag = r.tags.unwrap_or_default();
                Action::CreateQueue {
                    queue: r.queue_name,
                    update,
                    fifo,
                }
            }
            "GetQueueUrl" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_name: String,
                }
                let r: R = read(a, body)?;
                Action::GetQueueUrl {
                    queue: r.queue_name,
                }
            }
            "ListQueues" => {
                let r: Listing = read(a, body)?;
                Action::ListQueues {
                    prefix: r.queue_name_prefix,
                    max_results: r.max_results,
                    next_token: r.next_token,
                }
            }
            "DeleteQueue" => Action::DeleteQueue {
                queue: read::<QueueUrlOnly>(a, body)?.queue_url,
            },
            "PurgeQueue" => Action::PurgeQueue {
                queue: read::<QueueUrlOnly>(a, body)?.queue_url,
            },
            "ListQueueTags" => Action::ListQueueTags {
                queue: read::<QueueUrlOnly>(a, body)?.queue_url,
            },
            "GetQueueAttributes" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(default)]
                    attribute_names: Vec<String>,
                }
                let r: R = read(a, body)?;
                Action::GetQueueAttributes {
                    queue: r.queue_url,
                    names: r.attribute_names,
                }
            }
            "SetQueueAttributes" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    attributes: HashMap<String, String>,
                }
                let r: R = read(a, body)?;
                if r.attributes.contains_key("FifoQueue") {
                    return Err(QueueError::invalid(
                        "FifoQueue",
                        "cannot change after the queue is created",
                    )
                    .into());
                }
                let (update, _) = attributes::parse(&r.attributes)?;
                Action::SetQueueAttributes {
                    queue: r.queue_url,
                    update,
                }
            }
            "ListDeadLetterSourceQueues" => {
                let r: Listing = read(a, body)?;
                let url = r
                    .queue_url
                    .ok_or_else(|| WireError::invalid(format!("{a}: missing field `QueueUrl`")))?;
                Action::ListDeadLetterSourceQueues {
                    queue: queue_of(&url)?,
                    max_results: r.max_results,
                    next_token: r.next_token,
                }
            }
            "SendMessage" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(flatten)]
                    message: WireSend,
                }
                let r: R = read(a, body)?;
                Action::SendMessage {
                    queue: r.queue_url,
                    message: Box::new(r.message),
                }
            }
            "SendMessageBatch" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(default)]
                    entries: Vec<SendEntry>,
                }
                let r: R = read(a, body)?;
                Action::SendMessageBatch {
                    queue: r.queue_url,
                    entries: r.entries,
                }
            }
            "ReceiveMessage" => Action::ReceiveMessage(Box::new(read(a, body)?)),
            "DeleteMessage" | "ChangeMessageVisibility" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    receipt_handle: String,
                    #[serde(default)]
                    visibility_timeout: Option<u64>,
                }
                let r: R = read(a, body)?;
                if a == "DeleteMessage" {
                    Action::DeleteMessage {
                        queue: r.queue_url,
                        receipt_handle: r.receipt_handle,
                    }
                } else {
                    Action::ChangeMessageVisibility {
                        queue: r.queue_url,
                        receipt_handle: r.receipt_handle,
                        visibility_timeout: r.visibility_timeout.ok_or_else(|| {
                            WireError::invalid(format!("{a}: missing field `VisibilityTimeout`"))
                        })?,
                    }
                }
            }
            "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(default)]
                    entries: Vec<HandleEntry>,
                }
                let r: R = read(a, body)?;
                if a == "DeleteMessageBatch" {
                    Action::DeleteMessageBatch {
                        queue: r.queue_url,
                        entries: r.entries,
                    }
                } else {
                    Action::ChangeMessageVisibilityBatch {
                        queue: r.queue_url,
                        entries: r.entries,
                    }
                }
            }
            "TagQueue" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(default)]
                    tags: Option<BTreeMap<String, String>>,
                }
                let r: R = read(a, body)?;
                Action::TagQueue {
                    queue: r.queue_url,
                    tags: r.tags.ok_or_else(|| required("Tags"))?,
                }
            }
            "UntagQueue" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(default)]
                    tag_keys: Option<Vec<String>>,
                }
                let r: R = read(a, body)?;
                Action::UntagQueue {
                    queue: r.queue_url,
                    keys: r.tag_keys.ok_or_else(|| required("TagKeys"))?,
                }
            }
            "AddPermission" => {
                #[derive(Deserialize)]
                struct R {
                    #[serde(rename = "QueueUrl", deserialize_with = "queue_field")]
                    queue_url: String,
                    #[serde(rename = "Label")]
                    label: String,
                    #[serde(rename = "AWSAccountIds")]
                    principals: Vec<String>,
                    #[serde(rename = "Actions")]
                    actions: Vec<String>,
                }
                let r: R = read(a, body)?;
                Action::AddPermission {
                    queue: r.queue_url,
                    label: r.label,
                    principals: r.principals,
                    actions: r.actions,
                }
            }
            "RemovePermission" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(deserialize_with = "queue_field")]
                    queue_url: String,
                    label: String,
                }
                let r: R = read(a, body)?;
                Action::RemovePermission {
                    queue: r.queue_url,
                    label: r.label,
                }
            }
            "StartMessageMoveTask" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    source_arn: String,
                    #[serde(default)]
                    destination_arn: Option<String>,
                    #[serde(default)]
                    max_number_of_messages_per_second: Option<u32>,
                }
                let r: R = read(a, body)?;
                let source = queue_of(&r.source_arn)?;
                let destination = match r.destination_arn {
                    Some(arn) => {
                        let name = queue_of(&arn)?;
                        Some((arn, name))
                    }
                    None => None,
                };
                Action::StartMessageMoveTask {
                    source_arn: r.source_arn,
                    source,
                    destination,
                    rate: r.max_number_of_messages_per_second,
                }
            }
            "CancelMessageMoveTask" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    task_handle: String,
                }
                Action::CancelMessageMoveTask {
                    handle: read::<R>(a, body)?.task_handle,
                }
            }
            "ListMessageMoveTasks" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    source_arn: String,
                    #[serde(default)]
                    max_results: Option<usize>,
                }
                let r: R = read(a, body)?;
                Action::ListMessageMoveTasks {
                    source: queue_of(&r.source_arn)?,
                    max_results: r.max_results,
                }
            }
            other => return Err(WireError::invalid_action(other)),
        })
    }

    /// The action's SQS name.
    pub fn name(&self) -> &'static str {
        use Action::*;
        match self {
            CreateQueue { .. } => "CreateQueue",
            GetQueueUrl { .. } => "GetQueueUrl",
            ListQueues { .. } => "ListQueues",
            DeleteQueue { .. } => "DeleteQueue",
            PurgeQueue { .. } => "PurgeQueue",
            GetQueueAttributes { .. } => "GetQueueAttributes",
            SetQueueAttributes { .. } => "SetQueueAttributes",
            ListDeadLetterSourceQueues { .. } => "ListDeadLetterSourceQueues",
            SendMessage { .. } => "SendMessage",
            SendMessageBatch { .. } => "SendMessageBatch",
            ReceiveMessage(_) => "ReceiveMessage",
            DeleteMessage { .. } => "DeleteMessage",
            DeleteMessageBatch { .. } => "DeleteMessageBatch",
            ChangeMessageVisibility { .. } => "ChangeMessageVisibility",
            ChangeMessageVisibilityBatch { .. } => "ChangeMessageVisibilityBatch",
            TagQueue { .. } => "TagQueue",
            UntagQueue { .. } => "UntagQueue",
            ListQueueTags { .. } => "ListQueueTags",
            AddPermission { .. } => "AddPermission",
            RemovePermission { .. } => "RemovePermission",
            StartMessageMoveTask { .. } => "StartMessageMoveTask",
            CancelMessageMoveTask { .. } => "CancelMessageMoveTask",
            ListMessageMoveTasks { .. } => "ListMessageMoveTasks",
        }
    }

    /// The queues this action names in its request: its target, and the
    /// other queue an action writes (a move task's destination, a
    /// `RedrivePolicy`'s dead-letter queue). What the server resolves at run
    /// time (a task handle's source, a move's recorded sources) the access
    /// check resolves the same way; see `Api::authorize`.
    pub fn queues(&self) -> Vec<&str> {
        use Action::*;
        match self {
            CreateQueue { queue, update, .. } | SetQueueAttributes { queue, update } => {
                let mut out = vec![queue.as_str()];
                if let Some(Some(p)) = &update.redrive_policy {
                    out.push(queue_name_from_arn(&p.dead_letter_queue));
                }
                out
            }
            GetQueueUrl { queue }
            | DeleteQueue { queue }
            | PurgeQueue { queue }
            | GetQueueAttributes { queue, .. }
            | ListDeadLetterSourceQueues { queue, .. }
            | SendMessage { queue, .. }
            | SendMessageBatch { queue, .. }
            | DeleteMessage { queue, .. }
            | DeleteMessageBatch { queue, .. }
            | ChangeMessageVisibility { queue, .. }
            | ChangeMessageVisibilityBatch { queue, .. }
            | TagQueue { queue, .. }
            | UntagQueue { queue, .. }
            | ListQueueTags { queue }
            | AddPermission { queue, .. }
            | RemovePermission { queue, .. }
            | ListMessageMoveTasks { source: queue, .. } => vec![queue.as_str()],
            ReceiveMessage(r) => vec![r.queue_url.as_str()],
            StartMessageMoveTask {
                source,
                destination,
                ..
            } => {
                let mut out = vec![source.as_str()];
                if let Some((_, d)) = destination {
                    out.push(d.as_str());
                }
                out
            }
            ListQueues { .. } | CancelMessageMoveTask { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(action: &str, body: &str) -> Vec<String> {
        match Action::parse(action, body.as_bytes()) {
            Ok(a) => a.queues().into_iter().map(str::to_owned).collect(),
            Err(e) => panic!("{action} {body}: {e:?}"),
        }
    }

    #[test]
    fn the_checked_queues_are_the_ones_the_action_uses() {
        // Fields the action does not take change nothing.
        assert_eq!(
            queues(
                "SendMessage",
                r#"{"QueueUrl":"http://h/0/billing","MessageBody":"x","TaskHandle":"","QueueName":{"a":1}}"#
            ),
            ["billing"]
        );
        assert_eq!(
            queues(
                "GetQueueUrl",
                r#"{"QueueName":"billing","QueueUrl":"http://h/0/orders"}"#
            ),
            ["billing"]
        );
        assert_eq!(
            queues(
                "StartMessageMoveTask",
                r#"{"SourceArn":"arn:aws:sqs:r:0:dlq","DestinationArn":"arn:aws:sqs:r:0:billing"}"#
            ),
            ["dlq", "billing"]
        );
        assert_eq!(
            queues(
                "SetQueueAttributes",
                r#"{"QueueUrl":"orders","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:r:0:billing\",\"maxReceiveCount\":3}"}}"#
            ),
            ["orders", "billing"]
        );
    }

    #[test]
    fn an_action_sqs_does_not_have_is_invalid_action() {
        let Err(e) = Action::parse("DeleteEverything", b"{}") else {
            panic!("parsed");
        };
        assert_eq!(e.code, "InvalidAction");
        for a in ebbflow_core::config::SQS_ACTIONS {
            if let Err(e) = Action::parse(a, b"{}") {
                assert_ne!(e.code, "InvalidAction", "{a}");
            }
        }
    }
}
