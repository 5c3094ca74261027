//! The SQS actions, each read from its JSON request and answered from the backend.

use crate::access::{policy_grants, queue_named};
use crate::attributes;
use crate::digest::md5_of_message_attributes;
use crate::errors::WireError;
use crate::moves::{MoveError, MoveRequest, MoveTasks, MAX_MOVE_RATE};
use ebbflow_core::access::Key;
use ebbflow_core::{
    attributes_to_json, queue_name_from_arn, BatchResult, ChangeVisibilityBatchEntry,
    DeleteBatchEntry, JsonAttribute, MessageAttributeValue, MessageAttributes, QueueAttributes,
    QueueAttributesUpdate, QueueBackend, QueueError, ReceiveRequest, ReceivedMessage,
    SendBatchEntry, SendMessage, SendReceipt,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// What the actions need: the backend, and how queues are named on the wire.
pub struct Api {
    /// The queues.
    pub backend: Arc<dyn QueueBackend>,
    /// The account id in URLs and ARNs.
    pub account_id: String,
    /// The region in ARNs.
    pub region: String,
    /// The base of queue URLs; `None` takes the request's `Host`.
    pub advertised_url: Option<String>,
    /// Access keys by access key id: every request must be signed with one,
    /// and may do what its rules (or a queue's policy) allow. `None` serves
    /// unsigned requests.
    pub keys: Option<HashMap<String, Key>>,
    /// Whether queue URLs built from the request's `Host` are `https://`
    /// (the server serves TLS) rather than `http://`.
    pub https: bool,
    moves: MoveTasks,
}

impl Api {
    /// The API over `backend`: account `000000000000`, region `us-east-1`,
    /// queue URLs from each request's `Host`, and no keys (unsigned
    /// requests served); set the fields to change them.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # fn demo(backend: Arc<dyn ebbflow_core::QueueBackend>) {
    /// let mut api = ebbflow_server::Api::new(backend);
    /// api.account_id = "123456789012".to_owned();
    /// # }
    /// ```
    pub fn new(backend: Arc<dyn QueueBackend>) -> Self {
        Self {
            backend,
            account_id: "000000000000".to_owned(),
            region: "us-east-1".to_owned(),
            advertised_url: None,
            keys: None,
            https: false,
            moves: MoveTasks::default(),
        }
    }
}

impl From<MoveError> for WireError {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Queue(QueueError::QueueDoesNotExist(q)) => {
                WireError::resource_not_found(format!("queue {q} does not exist"))
            }
            MoveError::Queue(e) => e.into(),
            MoveError::AlreadyRunning => WireError::invalid(
                "a message-move task is already running on this source queue (one at a time, as on SQS)",
            ),
            MoveError::NoSuchTask => {
                WireError::resource_not_found("no running message-move task has this TaskHandle")
            }
            MoveError::NotADeadLetterQueue => WireError::invalid(
                "SourceArn: message-move tasks move out of dead-letter queues only, and no queue names this one in its RedrivePolicy",
            ),
        }
    }
}

type Answer = Result<Value, WireError>;

/// The action's request, read straight from the body's bytes (an empty body is `{}`).
fn read<T: for<'de> Deserialize<'de>>(action: &str, body: &[u8]) -> Result<T, WireError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| WireError::invalid(format!("{action}: {e}")))
}

/// `QueueUrl` to a queue name (the last path segment), also taking a bare name.
fn queue_of(url: &str) -> Result<&str, WireError> {
    let name = queue_name_from_arn(url.trim_end_matches('/'));
    if name.is_empty() {
        return Err(WireError::invalid("QueueUrl is empty"));
    }
    Ok(name)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlOnly {
    queue_url: String,
}

fn message_attributes(
    wire: Option<HashMap<String, JsonAttribute>>,
) -> Result<MessageAttributes, WireError> {
    let mut out = MessageAttributes::new();
    for (name, a) in wire.unwrap_or_default() {
        let value = MessageAttributeValue::try_from(a).map_err(|why| {
            WireError::from(QueueError::invalid(format!("MessageAttribute.{name}"), why))
        })?;
        out.insert(name, value);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSend {
    message_body: String,
    #[serde(default)]
    delay_seconds: Option<u64>,
    #[serde(default)]
    message_attributes: Option<HashMap<String, JsonAttribute>>,
    #[serde(default)]
    message_deduplication_id: Option<String>,
    #[serde(default)]
    message_group_id: Option<String>,
    #[serde(default)]
    message_system_attributes: Option<HashMap<String, JsonAttribute>>,
}

impl WireSend {
    /// `MD5OfMessageSystemAttributes` of the send: SQS's one system attribute
    /// a producer sets is `AWSTraceHeader`, a string. It is checked and
    /// digested, not kept (no engine stores trace headers).
    fn system_attributes_md5(&self) -> Result<Option<String>, WireError> {
        let Some(wire) = &self.message_system_attributes else {
            return Ok(None);
        };
        for (name, a) in wire {
            if name != "AWSTraceHeader" || a.data_type != "String" {
                return Err(WireError::invalid(format!(
                    "MessageSystemAttribute {name}: the only one is AWSTraceHeader, a String"
                )));
            }
        }
        Ok(md5_of_message_attributes(&message_attributes(Some(
            wire.clone(),
        ))?))
    }

    fn into_message(self) -> Result<SendMessage, WireError> {
        Ok(SendMessage {
            body: self.message_body,
            attributes: message_attributes(self.message_attributes)?,
            delay: self.delay_seconds.map(Duration::from_secs),
            group_id: self.message_group_id,
            deduplication_id: self.message_deduplication_id,
        })
    }
}

/// The MD5s of a send's attributes and system attributes, when it has them.
type SentDigests = (Option<String>, Option<String>);

fn sent(receipt: &SendReceipt, (attributes_md5, system_md5): SentDigests) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("MessageId".into(), json!(receipt.message_id));
    m.insert("MD5OfMessageBody".into(), json!(receipt.md5_of_body));
    if let Some(md5) = attributes_md5 {
        m.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    if let Some(md5) = system_md5 {
        m.insert("MD5OfMessageSystemAttributes".into(), json!(md5));
    }
    if let Some(seq) = &receipt.sequence_number {
        m.insert("SequenceNumber".into(), json!(seq));
    }
    m
}

fn batch_answer<T>(
    result: BatchResult<T>,
    mut success: impl FnMut(&str, T) -> Map<String, Value>,
) -> Value {
    let successful: Vec<Value> = result
        .successful
        .into_iter()
        .map(|s| {
            let mut m = success(&s.id, s.value);
            m.insert("Id".into(), json!(s.id));
            Value::Object(m)
        })
        .collect();
    let failed: Vec<Value> = result
        .failed
        .into_iter()
        .map(|f| {
            let wire = WireError::from(f.error);
            json!({"Id": f.id, "SenderFault": wire.fault == "Sender", "Code": wire.code, "Message": wire.message})
        })
        .collect();
    json!({"Successful": successful, "Failed": failed})
}

/// Whether `name` is asked for by a list of names, `All`, `.*` or a `prefix.*`.
fn wanted(list: &[String], name: &str) -> bool {
    list.iter().any(|w| {
        w == "All"
            || w == ".*"
            || w == name
            || w.strip_suffix(".*")
                .is_some_and(|p| name.starts_with(p) && name[p.len()..].starts_with('.'))
    })
}

impl Api {
    fn arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account_id)
    }

    fn url(&self, host: &str, name: &str) -> String {
        let base = match &self.advertised_url {
            Some(base) => base.trim_end_matches('/').to_owned(),
            None => format!("{}://{host}", if self.https { "https" } else { "http" }),
        };
        format!("{base}/{}/{name}", self.account_id)
    }

    /// Whether the key `key_id` may call `action` with this request: its
    /// own rules, or a grant in the named queue's `Policy`.
    pub(crate) async fn authorize(
        &self,
        key_id: &str,
        action: &str,
        body: &[u8],
    ) -> Result<(), WireError> {
        let Some(key) = self.keys.as_ref().and_then(|keys| keys.get(key_id)) else {
            return Ok(());
        };
        if key.is_full() {
            return Ok(());
        }
        let queue = queue_named(body);
        if key.allows(action, queue.as_deref()) {
            return Ok(());
        }
        if let Some(q) = &queue {
            if let Ok(attrs) = self.backend.get_queue_attributes(q).await {
                if attrs
                    .policy
                    .as_deref()
                    .is_some_and(|p| policy_grants(p, key_id, action))
                {
                    return Ok(());
                }
            }
        }
        Err(WireError::access_denied(format!(
            "key {key_id} may not call {action}{}",
            queue.map(|q| format!(" on queue {q}")).unwrap_or_default()
        )))
    }

    /// Runs one action; `host` is the request's `Host`, for queue URLs.
    pub async fn call(&self, action: &str, body: &[u8], host: &str) -> Answer {
        let b = self.backend.as_ref();
        match action {
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
                let r: R = read(action, body)?;
                let (mut update, fifo) = attributes::parse(&r.attributes.unwrap_or_default())?;
                update.tag = r.tags.unwrap_or_default();
                let named_fifo = r.queue_name.ends_with(ebbflow_core::limits::FIFO_SUFFIX);
                if fifo != named_fifo {
                    return Err(QueueError::invalid(
                        "FifoQueue",
                        "a FIFO queue's name ends in .fifo, and only a FIFO queue's does",
                    )
                    .into());
                }
                let base = if fifo {
                    QueueAttributes::fifo()
                } else {
                    QueueAttributes::standard()
                };
                b.create_queue(&r.queue_name, update.apply(&base)).await?;
                Ok(json!({"QueueUrl": self.url(host, &r.queue_name)}))
            }
            "GetQueueUrl" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_name: String,
                }
                let r: R = read(action, body)?;
                b.get_queue_url(&r.queue_name).await?;
                Ok(json!({"QueueUrl": self.url(host, &r.queue_name)}))
            }
            "ListQueues" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    #[serde(default)]
                    queue_name_prefix: Option<String>,
                    #[serde(default)]
                    max_results: Option<usize>,
                    #[serde(default)]
                    next_token: Option<String>,
                }
                let r: R = read(action, body)?;
                let names = b.list_queues(r.queue_name_prefix.as_deref()).await?;
                let after: Vec<String> = names
                    .into_iter()
                    .filter(|n| r.next_token.as_ref().is_none_or(|t| n > t))
                    .collect();
                let limit = r.max_results.unwrap_or(1000).clamp(1, 1000);
                let page: Vec<&String> = after.iter().take(limit).collect();
                let mut answer = json!({"QueueUrls": page.iter().map(|n| self.url(host, n)).collect::<Vec<_>>()});
                if r.max_results.is_some() && after.len() > limit {
                    answer["NextToken"] = json!(page.last());
                }
                Ok(answer)
            }
            "DeleteQueue" => {
                let r: QueueUrlOnly = read(action, body)?;
                b.delete_queue(queue_of(&r.queue_url)?).await?;
                Ok(json!({}))
            }
            "PurgeQueue" => {
                let r: QueueUrlOnly = read(action, body)?;
                b.purge(queue_of(&r.queue_url)?).await?;
                Ok(json!({}))
            }
            "GetQueueAttributes" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    #[serde(default)]
                    attribute_names: Vec<String>,
                }
                let r: R = read(action, body)?;
                let name = queue_of(&r.queue_url)?;
                let attrs = b.get_queue_attributes(name).await?;
                let stats = b.stats(name).await?;
                let arn_of = |n: &str| self.arn(n);
                let all = attributes::describe(name, &attrs, &stats, &arn_of);
                let chosen: Map<String, Value> = all
                    .into_iter()
                    .filter(|(k, _)| wanted(&r.attribute_names, k))
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                Ok(json!({"Attributes": chosen}))
            }
            "SetQueueAttributes" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    attributes: HashMap<String, String>,
                }
                let r: R = read(action, body)?;
                if r.attributes.contains_key("FifoQueue") {
                    return Err(QueueError::invalid(
                        "FifoQueue",
                        "cannot change after the queue is created",
                    )
                    .into());
                }
                let (update, _) = attributes::parse(&r.attributes)?;
                b.set_queue_attributes(queue_of(&r.queue_url)?, update)
                    .await?;
                Ok(json!({}))
            }
            "ListDeadLetterSourceQueues" => {
                let r: QueueUrlOnly = read(action, body)?;
                let sources = b
                    .list_dead_letter_source_queues(queue_of(&r.queue_url)?)
                    .await?;
                Ok(
                    json!({"queueUrls": sources.iter().map(|n| self.url(host, n)).collect::<Vec<_>>()}),
                )
            }
            "SendMessage" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    #[serde(flatten)]
                    message: WireSend,
                }
                let r: R = read(action, body)?;
                let system_md5 = r.message.system_attributes_md5()?;
                let message = r.message.into_message()?;
                let md5 = md5_of_message_attributes(&message.attributes);
                let receipt = b.send(queue_of(&r.queue_url)?, message).await?;
                Ok(Value::Object(sent(&receipt, (md5, system_md5))))
            }
            "SendMessageBatch" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct Entry {
                    id: String,
                    #[serde(flatten)]
                    message: WireSend,
                }
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    #[serde(default)]
                    entries: Vec<Entry>,
                }
                let r: R = read(action, body)?;
                let mut md5s = HashMap::new();
                let mut entries = Vec::with_capacity(r.entries.len());
                for e in r.entries {
                    let system_md5 = e.message.system_attributes_md5()?;
                    let message = e.message.into_message()?;
                    md5s.insert(
                        e.id.clone(),
                        (md5_of_message_attributes(&message.attributes), system_md5),
                    );
                    entries.push(SendBatchEntry { id: e.id, message });
                }
                let result = b.send_batch(queue_of(&r.queue_url)?, entries).await?;
                Ok(batch_answer(result, |id, receipt| {
                    sent(&receipt, md5s.remove(id).unwrap_or_default())
                }))
            }
            "ReceiveMessage" => self.receive(body).await,
            "DeleteMessage" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    receipt_handle: String,
                }
                let r: R = read(action, body)?;
                b.delete(queue_of(&r.queue_url)?, &r.receipt_handle).await?;
                Ok(json!({}))
            }
            "DeleteMessageBatch" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct Entry {
                    id: String,
                    receipt_handle: String,
                }
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    #[serde(default)]
                    entries: Vec<Entry>,
                }
                let r: R = read(action, body)?;
                let entries = r
                    .entries
                    .into_iter()
                    .map(|e| DeleteBatchEntry {
                        id: e.id,
                        receipt_handle: e.receipt_handle,
                    })
                    .collect();
                let result = b.delete_batch(queue_of(&r.queue_url)?, entries).await?;
                Ok(batch_answer(result, |_, ()| Map::new()))
            }
            "ChangeMessageVisibility" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    receipt_handle: String,
                    visibility_timeout: u64,
                }
                let r: R = read(action, body)?;
                let timeout = Duration::from_secs(r.visibility_timeout);
                b.change_visibility(queue_of(&r.queue_url)?, &r.receipt_handle, timeout)
                    .await?;
                Ok(json!({}))
            }
            "ChangeMessageVisibilityBatch" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct Entry {
                    id: String,
                    receipt_handle: String,
                    #[serde(default)]
                    visibility_timeout: u64,
                }
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    #[serde(default)]
                    entries: Vec<Entry>,
                }
                let r: R = read(action, body)?;
                let entries = r
                    .entries
                    .into_iter()
                    .map(|e| ChangeVisibilityBatchEntry {
                        id: e.id,
                        receipt_handle: e.receipt_handle,
                        visibility_timeout: Duration::from_secs(e.visibility_timeout),
                    })
                    .collect();
                let result = b
                    .change_visibility_batch(queue_of(&r.queue_url)?, entries)
                    .await?;
                Ok(batch_answer(result, |_, ()| Map::new()))
            }
            "TagQueue" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    tags: BTreeMap<String, String>,
                }
                let r: R = read(action, body)?;
                let update = QueueAttributesUpdate {
                    tag: r.tags,
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(queue_of(&r.queue_url)?, update)
                    .await?;
                Ok(json!({}))
            }
            "UntagQueue" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    tag_keys: Vec<String>,
                }
                let r: R = read(action, body)?;
                let update = QueueAttributesUpdate {
                    untag: r.tag_keys,
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(queue_of(&r.queue_url)?, update)
                    .await?;
                Ok(json!({}))
            }
            "ListQueueTags" => {
                let r: QueueUrlOnly = read(action, body)?;
                let attrs = b.get_queue_attributes(queue_of(&r.queue_url)?).await?;
                Ok(json!({"Tags": attrs.tags}))
            }
            "AddPermission" => {
                #[derive(Deserialize)]
                struct R {
                    #[serde(rename = "QueueUrl")]
                    queue_url: String,
                    #[serde(rename = "Label")]
                    label: String,
                    #[serde(rename = "AWSAccountIds")]
                    principals: Vec<String>,
                    #[serde(rename = "Actions")]
                    actions: Vec<String>,
                }
                let r: R = read(action, body)?;
                let name = queue_of(&r.queue_url)?;
                let current = b.get_queue_attributes(name).await?.policy;
                let policy = attributes::add_permission(
                    current.as_deref(),
                    &self.arn(name),
                    &r.label,
                    &r.principals,
                    &r.actions,
                )?;
                let update = QueueAttributesUpdate {
                    policy: Some(Some(policy)),
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(name, update).await?;
                Ok(json!({}))
            }
            "RemovePermission" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    queue_url: String,
                    label: String,
                }
                let r: R = read(action, body)?;
                let name = queue_of(&r.queue_url)?;
                let current = b.get_queue_attributes(name).await?.policy;
                let policy = attributes::remove_permission(current.as_deref(), &r.label)?;
                let update = QueueAttributesUpdate {
                    policy: Some(policy),
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(name, update).await?;
                Ok(json!({}))
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
                let r: R = read(action, body)?;
                if let Some(rate) = r.max_number_of_messages_per_second {
                    if !(1..=MAX_MOVE_RATE).contains(&rate) {
                        return Err(WireError::invalid(format!(
                            "MaxNumberOfMessagesPerSecond must be between 1 and {MAX_MOVE_RATE}, not {rate}"
                        )));
                    }
                }
                let source = queue_of(&r.source_arn)?.to_owned();
                let destination = match r.destination_arn {
                    Some(arn) => Some((arn.clone(), queue_of(&arn)?.to_owned())),
                    None => None,
                };
                let request = MoveRequest {
                    source_arn: r.source_arn,
                    source,
                    destination,
                    rate: r.max_number_of_messages_per_second,
                };
                let handle = self.moves.start(self.backend.clone(), request).await?;
                Ok(json!({"TaskHandle": handle}))
            }
            "CancelMessageMoveTask" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    task_handle: String,
                }
                let r: R = read(action, body)?;
                let moved = self.moves.cancel(&r.task_handle)?;
                Ok(json!({"ApproximateNumberOfMessagesMoved": moved}))
            }
            "ListMessageMoveTasks" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct R {
                    source_arn: String,
                    #[serde(default)]
                    max_results: Option<usize>,
                }
                let r: R = read(action, body)?;
                let limit = r.max_results.unwrap_or(1);
                if !(1..=10).contains(&limit) {
                    return Err(WireError::invalid(format!(
                        "MaxResults must be between 1 and 10, not {limit}"
                    )));
                }
                let source = queue_of(&r.source_arn)?;
                b.get_queue_attributes(source).await.map_err(|e| match e {
                    QueueError::QueueDoesNotExist(q) => {
                        WireError::resource_not_found(format!("queue {q} does not exist"))
                    }
                    e => e.into(),
                })?;
                Ok(json!({"Results": self.moves.list(source, limit)}))
            }
            other => Err(WireError::unsupported(other)),
        }
    }

    async fn receive(&self, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct R {
            queue_url: String,
            #[serde(default)]
            max_number_of_messages: Option<u32>,
            #[serde(default)]
            visibility_timeout: Option<u64>,
            #[serde(default)]
            wait_time_seconds: Option<u64>,
            #[serde(default)]
            receive_request_attempt_id: Option<String>,
            #[serde(default)]
            attribute_names: Vec<String>,
            #[serde(default)]
            message_system_attribute_names: Vec<String>,
            #[serde(default)]
            message_attribute_names: Vec<String>,
        }
        let r: R = read("ReceiveMessage", body)?;
        let name = queue_of(&r.queue_url)?;
        let mut request = ReceiveRequest::new(r.max_number_of_messages.unwrap_or(1));
        if let Some(v) = r.visibility_timeout {
            request = request.visibility_timeout(Duration::from_secs(v));
        }
        if let Some(w) = r.wait_time_seconds {
            request = request.wait(Duration::from_secs(w));
        }
        if let Some(id) = r.receive_request_attempt_id {
            request = request.attempt_id(id);
        }
        let got = self.backend.receive(name, request).await?;
        let mut system_names = r.attribute_names;
        system_names.extend(r.message_system_attribute_names);
        let messages: Vec<Value> = got
            .iter()
            .map(|m| self.message_json(m, &system_names, &r.message_attribute_names))
            .collect();
        Ok(json!({"Messages": messages}))
    }

    fn message_json(
        &self,
        m: &ReceivedMessage,
        system_names: &[String],
        attribute_names: &[String],
    ) -> Value {
        let s = &m.system;
        let mut system = Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|_| wanted(system_names, k)) {
                system.insert(k.to_owned(), Value::String(v));
            }
        };
        put("SenderId", Some(self.account_id.clone()));
        put("SentTimestamp", Some(s.sent_timestamp.to_string()));
        put(
            "ApproximateReceiveCount",
            Some(s.approximate_receive_count.to_string()),
        );
        put(
            "ApproximateFirstReceiveTimestamp",
            Some(s.approximate_first_receive_timestamp.to_string()),
        );
        put("SequenceNumber", s.sequence_number.clone());
        put("MessageGroupId", s.message_group_id.clone());
        put("MessageDeduplicationId", s.message_deduplication_id.clone());
        put(
            "DeadLetterQueueSourceArn",
            s.dead_letter_queue_source_arn
                .as_deref()
                .map(|arn| self.arn(queue_name_from_arn(arn))),
        );
        let chosen: MessageAttributes = m
            .attributes
            .iter()
            .filter(|(k, _)| wanted(attribute_names, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = json!({
            "MessageId": m.message_id,
            "ReceiptHandle": m.receipt_handle,
            "MD5OfBody": m.md5_of_body,
            "Body": m.body,
        });
        if !system.is_empty() {
            out["Attributes"] = Value::Object(system);
        }
        if let Some(md5) = md5_of_message_attributes(&chosen) {
            out["MD5OfMessageAttributes"] = json!(md5);
            out["MessageAttributes"] = json!(attributes_to_json(&chosen));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::wanted;

    #[test]
    fn attribute_names_match_all_exact_and_prefixes() {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(wanted(&list(&["All"]), "x"));
        assert!(wanted(&list(&["tenant"]), "tenant"));
        assert!(wanted(&list(&["ebbflow.*"]), "ebbflow.reason"));
        assert!(!wanted(&list(&["ebbflow.*"]), "ebbflowx"));
        assert!(!wanted(&list(&[]), "tenant"));
    }
}
