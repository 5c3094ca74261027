//! The message model: what a producer sends and what a consumer receives.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Message attributes by name. Ordered, so that two equal maps compare and hash alike.
pub type MessageAttributes = BTreeMap<String, MessageAttributeValue>;

/// The value of one message attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// Text, used by the `String` and `Number` data types.
    Text(String),
    /// Bytes, used by the `Binary` data type.
    Binary(Vec<u8>),
}

/// A typed message attribute, as SQS defines them: a data type (`String`,
/// `Number` or `Binary`, optionally followed by `.custom-label`) and a value.
///
/// ```
/// use ebbflow_core::MessageAttributeValue;
/// let v = MessageAttributeValue::number(42);
/// assert_eq!(v.data_type, "Number");
/// assert_eq!(v.as_str(), Some("42"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAttributeValue {
    /// `String`, `Number` or `Binary`, with an optional `.label` suffix.
    pub data_type: String,
    /// The value; text for `String` and `Number`, bytes for `Binary`.
    pub value: AttributeValue,
}

impl MessageAttributeValue {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            data_type: "String".into(),
            value: AttributeValue::Text(value.into()),
        }
    }

    /// A `Number` attribute.
    pub fn number(value: impl std::fmt::Display) -> Self {
        Self {
            data_type: "Number".into(),
            value: AttributeValue::Text(value.to_string()),
        }
    }

    /// A `Binary` attribute.
    pub fn binary(value: impl Into<Vec<u8>>) -> Self {
        Self {
            data_type: "Binary".into(),
            value: AttributeValue::Binary(value.into()),
        }
    }

    /// The text of a `String` or `Number` attribute.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            AttributeValue::Text(s) => Some(s),
            AttributeValue::Binary(_) => None,
        }
    }

    /// Bytes this attribute counts toward the message size: data type plus value
    /// (the name is counted by the caller, who holds it).
    pub fn size(&self) -> usize {
        self.data_type.len()
            + match &self.value {
                AttributeValue::Text(s) => s.len(),
                AttributeValue::Binary(b) => b.len(),
            }
    }
}

/// A message attribute as SQS's JSON writes it: `DataType`, and either
/// `StringValue` or `BinaryValue` (base64). The wire form of `ebbflow serve`,
/// the lines of `ebbflow export` and what `ebbflow work` hands a handler.
///
/// ```
/// use ebbflow_core::{JsonAttribute, MessageAttributeValue};
/// let json = JsonAttribute::from(&MessageAttributeValue::binary(vec![0, 255]));
/// assert_eq!(json.binary_value.as_deref(), Some("AP8="));
/// assert_eq!(MessageAttributeValue::try_from(json).unwrap(), MessageAttributeValue::binary(vec![0, 255]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonAttribute {
    /// `String`, `Number` or `Binary`, with an optional `.label`.
    #[serde(rename = "DataType")]
    pub data_type: String,
    /// The text of a `String` or `Number`.
    #[serde(
        rename = "StringValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub string_value: Option<String>,
    /// The bytes of a `Binary`, in base64.
    #[serde(
        rename = "BinaryValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub binary_value: Option<String>,
}

impl From<&MessageAttributeValue> for JsonAttribute {
    fn from(v: &MessageAttributeValue) -> Self {
        use base64::Engine as _;
        let (string_value, binary_value) = match &v.value {
            AttributeValue::Text(s) => (Some(s.clone()), None),
            AttributeValue::Binary(b) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        };
        JsonAttribute {
            data_type: v.data_type.clone(),
            string_value,
            binary_value,
        }
    }
}

impl TryFrom<JsonAttribute> for MessageAttributeValue {
    type Error = String;

    /// Fails, saying why, when neither or both values are there, or the
    /// binary one is not base64.
    fn try_from(a: JsonAttribute) -> Result<Self, String> {
        use base64::Engine as _;
        let value = match (a.string_value, a.binary_value) {
            (Some(text), None) => AttributeValue::Text(text),
            (None, Some(b64)) => AttributeValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("BinaryValue is not base64: {e}"))?,
            ),
            _ => return Err("exactly one of StringValue and BinaryValue".to_owned()),
        };
        Ok(MessageAttributeValue {
            data_type: a.data_type,
            value,
        })
    }
}

/// Every attribute in its JSON form, by name.
pub fn attributes_to_json(attributes: &MessageAttributes) -> BTreeMap<String, JsonAttribute> {
    attributes
        .iter()
        .map(|(name, v)| (name.clone(), JsonAttribute::from(v)))
        .collect()
}

/// A message to send.
///
/// ```
/// use ebbflow_core::{MessageAttributeValue, SendMessage};
/// use std::time::Duration;
///
/// let msg = SendMessage::new(r#"{"order":17}"#)
///     .attribute("tenant", MessageAttributeValue::string("acme"))
///     .delay(Duration::from_secs(5));
/// assert_eq!(msg.attributes.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendMessage {
    /// The body: 1 byte up to the queue's maximum size, XML characters only.
    pub body: String,
    /// Up to ten typed attributes.
    pub attributes: MessageAttributes,
    /// Per-message delay (standard queues only), up to 15 minutes.
    pub delay: Option<Duration>,
    /// FIFO message group; required on FIFO queues.
    pub group_id: Option<String>,
    /// FIFO deduplication id; required on FIFO queues without content-based deduplication.
    pub deduplication_id: Option<String>,
    /// SQS's `AWSTraceHeader` system attribute: an AWS X-Ray trace header,
    /// kept with the message and handed back with it. It does not count
    /// toward the message's size or its ten attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
}

impl SendMessage {
    /// A message with this body and nothing else.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// Adds (or replaces) an attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: MessageAttributeValue) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// Sets the per-message delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sets the FIFO message group.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// Sets the FIFO deduplication id.
    pub fn deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.deduplication_id = Some(id.into());
        self
    }

    /// Sets the `AWSTraceHeader` system attribute.
    ///
    /// ```
    /// use ebbflow_core::SendMessage;
    /// let msg = SendMessage::new("hi").trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    /// assert!(msg.trace_header.is_some());
    /// ```
    pub fn trace_header(mut self, header: impl Into<String>) -> Self {
        self.trace_header = Some(header.into());
        self
    }

    /// Bytes this message counts toward `MaximumMessageSize`: body plus every
    /// attribute's name, data type and value.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + value.size())
                .sum::<usize>()
    }
}

/// What a successful send returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The message id (for a deduplicated FIFO send, the id of the original).
    pub message_id: String,
    /// Lower-case hex MD5 of the body.
    pub md5_of_body: String,
    /// FIFO sequence number, increasing within the queue.
    pub sequence_number: Option<String>,
}

/// Attributes the queue sets on a message (SQS's "system attributes").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SystemAttributes {
    /// When the message was first sent, in milliseconds since the Unix epoch.
    pub sent_timestamp: u64,
    /// How many times the message has been received, this time included.
    pub approximate_receive_count: u32,
    /// When the message was first received, in milliseconds since the Unix epoch.
    pub approximate_first_receive_timestamp: u64,
    /// FIFO sequence number.
    pub sequence_number: Option<String>,
    /// FIFO message group.
    pub message_group_id: Option<String>,
    /// FIFO deduplication id (explicit or content-based).
    pub message_deduplication_id: Option<String>,
    /// For a message moved to a dead-letter queue: the ARN of the queue it came from.
    pub dead_letter_queue_source_arn: Option<String>,
    /// The `AWSTraceHeader` its producer set (see [`SendMessage::trace_header`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_trace_header: Option<String>,
}

impl SystemAttributes {
    /// [`SystemAttributes::sent_timestamp`] as a `SystemTime`.
    pub fn sent_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.sent_timestamp)
    }
}

/// A message handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    /// The message id, stable across receives.
    pub message_id: String,
    /// The handle for this receive; delete and change visibility take it.
    pub receipt_handle: String,
    /// The body as sent.
    pub body: String,
    /// Lower-case hex MD5 of the body.
    pub md5_of_body: String,
    /// The attributes the producer set.
    pub attributes: MessageAttributes,
    /// The attributes the queue set.
    pub system: SystemAttributes,
}

/// One entry of a send batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendBatchEntry {
    /// Caller-chosen id, unique within the batch: 1–80 of `[A-Za-z0-9_-]`.
    pub id: String,
    /// The message.
    pub message: SendMessage,
}

/// One entry of a delete batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteBatchEntry {
    /// Caller-chosen id, unique within the batch.
    pub id: String,
    /// The receipt handle of the message to delete.
    pub receipt_handle: String,
}

impl DeleteBatchEntry {
    /// One entry for each of `messages`, numbered from `"0"`: the batch that
    /// deletes what a receive returned. It takes the messages, so that their
    /// receipt handles move into the batch rather than being copied.
    ///
    /// ```
    /// use ebbflow_core::{DeleteBatchEntry, QueueBackend, ReceiveRequest};
    /// # async fn f(queues: &dyn QueueBackend) -> ebbflow_core::Result<()> {
    /// let got = queues.receive("orders", ReceiveRequest::new(10)).await?;
    /// // ... handle them ...
    /// queues.delete_batch("orders", DeleteBatchEntry::for_received(got)).await?;
    /// # Ok(()) }
    /// ```
    pub fn for_received(messages: impl IntoIterator<Item = ReceivedMessage>) -> Vec<Self> {
        messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| Self {
                id: i.to_string(),
                receipt_handle: m.receipt_handle,
            })
            .collect()
    }
}

/// One entry of a change-visibility batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeVisibilityBatchEntry {
    /// Caller-chosen id, unique within the batch.
    pub id: String,
    /// The receipt handle of the message.
    pub receipt_handle: String,
    /// The new visibility timeout, counted from now.
    pub visibility_timeout: Duration,
}

/// The successful part of a batch reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSuccess<T> {
    /// The entry's id.
    pub id: String,
    /// What the operation returned for it.
    pub value: T,
}

/// The failed part of a batch reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// The entry's id.
    pub id: String,
    /// Why it failed.
    pub error: crate::QueueError,
}

/// Per-entry outcome of a batch call: some entries may succeed while others fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult<T> {
    /// Entries that succeeded, in request order.
    pub successful: Vec<BatchSuccess<T>>,
    /// Entries that failed, in request order.
    pub failed: Vec<BatchFailure>,
}

impl<T> Default for BatchResult<T> {
    fn default() -> Self {
        Self {
            successful: Vec::new(),
            failed: Vec::new(),
        }
    }
}

impl<T> BatchResult<T> {
    /// The outcome of a one-entry batch: how backends build a single-message
    /// verb on top of its batch form.
    pub fn into_single(mut self) -> crate::Result<T> {
        match (self.failed.pop(), self.successful.pop()) {
            (Some(failed), _) => Err(failed.error),
            (None, Some(ok)) => Ok(ok.value),
            (None, None) => Err(crate::QueueError::EmptyBatchRequest),
        }
    }

    /// Records one entry's outcome.
    pub fn push(&mut self, id: String, outcome: crate::Result<T>) {
        match outcome {
            Ok(value) => self.successful.push(BatchSuccess { id, value }),
            Err(error) => self.failed.push(BatchFailure { id, error }),
        }
    }
}
