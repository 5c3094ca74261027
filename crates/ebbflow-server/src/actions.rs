//! The SQS actions, each read from its JSON request and answered from the backend.

use crate::attributes;
use crate::digest::md5_of_message_attributes;
use crate::errors::WireError;
use crate::moves::{MoveError, MoveRequest, MoveTasks, MAX_MOVE_RATE};
use crate::request::{Action, Receive, WireSend};
use ebbflow_core::access::Key;
use ebbflow_core::{
    attributes_to_json, queue_name_from_arn, BatchResult, ChangeVisibilityBatchEntry,
    DeleteBatchEntry, JsonAttribute, MessageAttributeValue, MessageAttributes, QueueAttributes,
    QueueAttributesUpdate, QueueBackend, QueueError, ReceiveRequest, ReceivedMessage,
    SendBatchEntry, SendMessage, SendReceipt,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
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
            MoveError::IntoItself => WireError::invalid(
                "DestinationArn: a message-move task cannot move messages into the queue they come from",
            ),
            MoveError::TooMany => WireError::invalid(format!(
                "{} message-move tasks are running on this server already; wait for one to end",
                crate::moves::MAX_RUNNING
            )),
            MoveError::NotADeadLetterQueue => WireError::invalid(
                "SourceArn: message-move tasks move out of dead-letter queues only, and no queue names this one in its RedrivePolicy",
            ),
        }
    }
}

type Answer = Result<Value, WireError>;

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

impl WireSend {
    /// `MD5OfMessageSystemAttributes` of the send: SQS's one system attribute
    /// a producer sets is `AWSTraceHeader`, a string, which the engine keeps
    /// with the message (see [`WireSend::into_message`]).
    pub(crate) fn system_attributes_md5(&self) -> Result<Option<String>, WireError> {
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

    /// The message to send; a producer may not set the runtime's
    /// `ebbflow.` attributes.
    pub(crate) fn into_message(self) -> Result<SendMessage, WireError> {
        let trace_header = match self
            .message_system_attributes
            .and_then(|mut m| m.remove("AWSTraceHeader"))
        {
            None => None,
            Some(JsonAttribute {
                data_type,
                string_value: Some(header),
                binary_value: None,
            }) if data_type == "String" => Some(header),
            Some(_) => {
                return Err(WireError::invalid(
                    "MessageSystemAttribute AWSTraceHeader: a String with a StringValue only",
                ))
            }
        };
        let message = SendMessage {
            body: self.message_body,
            attributes: message_attributes(self.message_attributes)?,
            delay: self.delay_seconds.map(Duration::from_secs),
            group_id: self.message_group_id,
            deduplication_id: self.message_deduplication_id,
            trace_header,
        };
        ebbflow_core::limits::check_producer_attributes(&message).map_err(WireError::of_message)?;
        Ok(message)
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

/// A batch's answer; `error` writes a failed entry's error as the action's
/// single form would.
fn batch_answer<T>(
    result: BatchResult<T>,
    mut success: impl FnMut(&str, T) -> Map<String, Value>,
    error: fn(QueueError) -> WireError,
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
            let wire = error(f.error);
            json!({"Id": f.id, "SenderFault": wire.fault == "Sender", "Code": wire.code, "Message": wire.message})
        })
        .collect();
    json!({"Successful": successful, "Failed": failed})
}

/// A whole batch's error: an empty one in SQS's words, naming `entry`; a
/// send's message errors as a single send's.
fn batch_error(e: QueueError, entry: &str) -> WireError {
    match e {
        QueueError::EmptyBatchRequest => WireError::empty_batch(entry),
        other => WireError::of_message(other),
    }
}

/// Whether `name` is asked for by a list of names, `All`, `.*` or a
/// `prefix.*` (as SQS: every name that starts with `prefix`, so `Hel.*`
/// selects `Hello` and `Help.Me`).
fn wanted(list: &[String], name: &str) -> bool {
    list.iter().any(|w| {
        w == "All" || w == name || w.strip_suffix(".*").is_some_and(|p| name.starts_with(p))
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

    /// What the key `key_id` may see of this request's answer, once it may
    /// make it: its own rules, or for each queue the action uses, a grant
    /// in that queue's `Policy`; a `Deny` there refuses whatever else allows.
    /// Every queue comes from the typed action the server runs: its target,
    /// a move's destination (or, without one, the sources the engine recorded),
    /// a running task's source, a `RedrivePolicy`'s dead-letter queue.
    pub(crate) async fn authorize<'k>(
        &'k self,
        key_id: &str,
        action: &Action,
        context: &crate::policy::Context,
    ) -> Result<Option<&'k Key>, WireError> {
        let Some(key) = self.keys.as_ref().and_then(|keys| keys.get(key_id)) else {
            return Ok(None);
        };
        if key.is_full() {
            return Ok(None);
        }
        let name = action.name();
        let mut queues: Vec<String> = action.queues().into_iter().map(str::to_owned).collect();
        match action {
            Action::CancelMessageMoveTask { handle } => {
                queues.extend(self.moves.source_of(handle));
            }
            Action::StartMessageMoveTask {
                source,
                destination: None,
                ..
            } => {
                // Each message goes back where the engine recorded it came from.
                if let Ok(sources) = self.backend.list_dead_letter_source_queues(source).await {
                    queues.extend(sources);
                }
            }
            _ => {}
        }
        queues.sort();
        queues.dedup();
        let denied = |queue: Option<&str>| {
            WireError::access_denied(format!(
                "key {key_id} may not call {name}{}",
                queue.map(|q| format!(" on queue {q}")).unwrap_or_default()
            ))
        };
        if queues.is_empty() {
            return if key.allows(name, None) {
                Ok(Some(key))
            } else {
                Err(denied(None))
            };
        }
        for queue in &queues {
            let policy = match self.backend.get_queue_attributes(queue).await {
                Ok(attrs) => attrs.policy,
                Err(_) => None,
            };
            let verdict = policy
                .as_deref()
                .map(|p| crate::policy::evaluate(p, key_id, name, context))
                .unwrap_or(crate::policy::Verdict::NotApplicable);
            let allowed = match verdict {
                crate::policy::Verdict::Deny => false,
                crate::policy::Verdict::Allow => true,
                crate::policy::Verdict::NotApplicable => key.allows(name, Some(queue)),
            };
            if !allowed {
                return Err(denied(Some(queue)));
            }
        }
        Ok(Some(key))
    }

    /// Runs one action; `host` is the request's `Host`, for queue URLs, and
    /// `visible` says which queues the caller may see in a listing (before
    /// it is cut into pages, so a `NextToken` names no hidden queue).
    pub(crate) async fn call(
        &self,
        action: Action,
        host: &str,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Answer {
        let b = self.backend.as_ref();
        match action {
            Action::CreateQueue {
                queue,
                update,
                fifo,
            } => {
                let named_fifo = queue.ends_with(ebbflow_core::limits::FIFO_SUFFIX);
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
                b.create_queue(&queue, update.apply(&base)).await?;
                Ok(json!({"QueueUrl": self.url(host, &queue)}))
            }
            Action::GetQueueUrl { queue } => {
                b.get_queue_url(&queue).await?;
                Ok(json!({"QueueUrl": self.url(host, &queue)}))
            }
            Action::ListQueues {
                prefix,
                max_results,
                next_token,
            } => {
                let names = b.list_queues(prefix.as_deref()).await?;
                Ok(self.page("QueueUrls", names, max_results, next_token, host, visible))
            }
            Action::DeleteQueue { queue } => {
                b.delete_queue(&queue).await?;
                Ok(json!({}))
            }
            Action::PurgeQueue { queue } => {
                b.purge(&queue).await?;
                Ok(json!({}))
            }
            Action::GetQueueAttributes { queue, names } => {
                let attrs = b.get_queue_attributes(&queue).await?;
                let stats = b.stats(&queue).await?;
                let arn_of = |n: &str| self.arn(n);
                let all =
                    attributes::describe(&queue, &attrs, &stats, &arn_of, b.encrypts_at_rest());
                let chosen: Map<String, Value> = all
                    .into_iter()
                    .filter(|(k, _)| wanted(&names, k))
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                // SQS leaves the member out when nothing was asked for.
                if chosen.is_empty() {
                    return Ok(json!({}));
                }
                Ok(json!({"Attributes": chosen}))
            }
            Action::SetQueueAttributes { queue, update } => {
                b.set_queue_attributes(&queue, update).await?;
                Ok(json!({}))
            }
            Action::ListDeadLetterSourceQueues {
                queue,
                max_results,
                next_token,
            } => {
                let sources = b.list_dead_letter_source_queues(&queue).await?;
                Ok(self.page("queueUrls", sources, max_results, next_token, host, visible))
            }
            Action::SendMessage { queue, message } => {
                let system_md5 = message.system_attributes_md5()?;
                let message = message.into_message()?;
                let md5 = md5_of_message_attributes(&message.attributes);
                let receipt = b
                    .send(&queue, message)
                    .await
                    .map_err(WireError::of_message)?;
                Ok(Value::Object(sent(&receipt, (md5, system_md5))))
            }
            Action::SendMessageBatch {
                queue,
                entries: wire,
            } => {
                let mut md5s = HashMap::new();
                let mut entries = Vec::with_capacity(wire.len());
                for e in wire {
                    let system_md5 = e.message.system_attributes_md5()?;
                    let message = e.message.into_message()?;
                    md5s.insert(
                        e.id.clone(),
                        (md5_of_message_attributes(&message.attributes), system_md5),
                    );
                    entries.push(SendBatchEntry { id: e.id, message });
                }
                let result = b
                    .send_batch(&queue, entries)
                    .await
                    .map_err(|e| batch_error(e, "SendMessageBatchRequestEntry"))?;
                Ok(batch_answer(
                    result,
                    |id, receipt| sent(&receipt, md5s.remove(id).unwrap_or_default()),
                    WireError::of_message,
                ))
            }
            Action::ReceiveMessage(r) => self.receive(*r).await,
            Action::DeleteMessage {
                queue,
                receipt_handle,
            } => {
                b.delete(&queue, &receipt_handle).await?;
                Ok(json!({}))
            }
            Action::DeleteMessageBatch { queue, entries } => {
                let entries = entries
                    .into_iter()
                    .map(|e| DeleteBatchEntry {
                        id: e.id,
                        receipt_handle: e.receipt_handle,
                    })
                    .collect();
                let result = b
                    .delete_batch(&queue, entries)
                    .await
                    .map_err(|e| batch_error(e, "DeleteMessageBatchRequestEntry"))?;
                Ok(batch_answer(result, |_, ()| Map::new(), WireError::from))
            }
            Action::ChangeMessageVisibility {
                queue,
                receipt_handle,
                visibility_timeout,
            } => {
                let timeout = Duration::from_secs(visibility_timeout);
                b.change_visibility(&queue, &receipt_handle, timeout)
                    .await?;
                Ok(json!({}))
            }
            Action::ChangeMessageVisibilityBatch { queue, entries } => {
                let entries = entries
                    .into_iter()
                    .map(|e| ChangeVisibilityBatchEntry {
                        id: e.id,
                        receipt_handle: e.receipt_handle,
                        visibility_timeout: Duration::from_secs(e.visibility_timeout),
                    })
                    .collect();
                let result = b
                    .change_visibility_batch(&queue, entries)
                    .await
                    .map_err(|e| batch_error(e, "ChangeMessageVisibilityBatchRequestEntry"))?;
                Ok(batch_answer(result, |_, ()| Map::new(), WireError::from))
            }
            Action::TagQueue { queue, tags } => {
                let update = QueueAttributesUpdate {
                    tag: tags,
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(&queue, update).await?;
                Ok(json!({}))
            }
            Action::UntagQueue { queue, keys } => {
                let update = QueueAttributesUpdate {
                    untag: keys,
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(&queue, update).await?;
                Ok(json!({}))
            }
            Action::ListQueueTags { queue } => {
                let attrs = b.get_queue_attributes(&queue).await?;
                Ok(json!({"Tags": attrs.tags}))
            }
            Action::AddPermission {
                queue,
                label,
                principals,
                actions,
            } => {
                let current = b.get_queue_attributes(&queue).await?.policy;
                let policy = attributes::add_permission(
                    current.as_deref(),
                    &self.arn(&queue),
                    &label,
                    &principals,
                    &actions,
                )?;
                let update = QueueAttributesUpdate {
                    policy: Some(Some(policy)),
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(&queue, update).await?;
                Ok(json!({}))
            }
            Action::RemovePermission { queue, label } => {
                let current = b.get_queue_attributes(&queue).await?.policy;
                let policy =
                    attributes::remove_permission(current.as_deref(), &self.arn(&queue), &label)?;
                let update = QueueAttributesUpdate {
                    policy: Some(policy),
                    ..QueueAttributesUpdate::default()
                };
                b.set_queue_attributes(&queue, update).await?;
                Ok(json!({}))
            }
            Action::StartMessageMoveTask {
                source_arn,
                source,
                destination,
                rate,
            } => {
                if let Some(rate) = rate {
                    if !(1..=MAX_MOVE_RATE).contains(&rate) {
                        return Err(WireError::invalid(format!(
                            "MaxNumberOfMessagesPerSecond must be between 1 and {MAX_MOVE_RATE}, not {rate}"
                        )));
                    }
                }
                let request = MoveRequest {
                    source_arn,
                    source,
                    destination,
                    rate,
                };
                let handle = self.moves.start(self.backend.clone(), request).await?;
                Ok(json!({"TaskHandle": handle}))
            }
            Action::CancelMessageMoveTask { handle } => {
                let moved = self.moves.cancel(&handle)?;
                Ok(json!({"ApproximateNumberOfMessagesMoved": moved}))
            }
            Action::ListMessageMoveTasks {
                source,
                max_results,
            } => {
                let limit = max_results.unwrap_or(1);
                if !(1..=10).contains(&limit) {
                    return Err(WireError::invalid(format!(
                        "MaxResults must be between 1 and 10, not {limit}"
                    )));
                }
                b.get_queue_attributes(&source).await.map_err(|e| match e {
                    QueueError::QueueDoesNotExist(q) => {
                        WireError::resource_not_found(format!("queue {q} does not exist"))
                    }
                    e => e.into(),
                })?;
                Ok(json!({"Results": self.moves.list(&source, limit)}))
            }
        }
    }

    /// One page of a listing of queue `names` as URLs under `member`, only
    /// those `visible`, after `next_token`; a `NextToken` only when the
    /// client asked for pages with `MaxResults`, as SQS does.
    fn page(
        &self,
        member: &str,
        mut names: Vec<String>,
        max_results: Option<usize>,
        next_token: Option<String>,
        host: &str,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Value {
        names.sort();
        names.retain(|n| visible(n) && next_token.as_ref().is_none_or(|t| n > t));
        let limit = max_results.unwrap_or(1000).clamp(1, 1000);
        let urls: Vec<String> = names
            .iter()
            .take(limit)
            .map(|n| self.url(host, n))
            .collect();
        let mut answer = json!({ member: urls });
        if let Some(last) = names
            .get(limit - 1)
            .filter(|_| max_results.is_some() && names.len() > limit)
        {
            answer["NextToken"] = json!(last);
        }
        answer
    }

    async fn receive(&self, r: Receive) -> Answer {
        let name = r.queue_url.as_str();
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
        put("AWSTraceHeader", s.aws_trace_header.clone());
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
        assert!(wanted(&list(&[".*"]), "anything"));
        assert!(wanted(&list(&["Hel.*"]), "Hello"));
        assert!(wanted(&list(&["Hel.*"]), "Help.Me"));
        assert!(!wanted(&list(&["Hel.*"]), "General"));
        assert!(!wanted(&list(&["Hel"]), "Hello"));
        assert!(!wanted(&list(&[]), "tenant"));
    }
}
